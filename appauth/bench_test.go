package appauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"
)

// The benchmarks compare this package with stripe-go's webhook.ValidatePayloadWithTolerance
// on the same input: a default-signed UI request ({"user_id":…,"account_id":…}) signed,
// as during a secret rotation, with two secrets, and a Verifier configured with both.
// stripe-go takes one secret per call; a backend with two secrets calls it with each in
// turn until one passes.

type benchInput struct {
	secrets []string
	header  string
	body    []byte
}

// newBenchInput signs testUser/testAccount and payload with signers at the current time
// (stripe-go checks the tolerance against the real clock), for a Verifier holding both
// test secrets.
func newBenchInput(b *testing.B, payload string, signers ...string) benchInput {
	b.Helper()
	header, body, err := Sign(signers, time.Now(), testUser, testAccount, []byte(payload))
	require.NoError(b, err)
	return benchInput{secrets: []string{testSecret, testSecretNew}, header: header, body: body}
}

func (in benchInput) verifier(b *testing.B) *Verifier {
	b.Helper()
	v, err := NewVerifier(in.secrets)
	require.NoError(b, err)
	return v
}

// stripeGoValidate is how a backend verifies with stripe-go and several secrets.
func stripeGoValidate(in benchInput) error {
	var err error
	for _, secret := range in.secrets {
		if err = webhook.ValidatePayloadWithTolerance(in.body, in.header, secret, DefaultTolerance); err == nil {
			return nil
		}
	}
	return err
}

func BenchmarkVerifyDefault(b *testing.B) {
	in := newBenchInput(b, "", testSecret, testSecretNew)
	v := in.verifier(b)
	b.ReportAllocs()
	for b.Loop() {
		_, err := v.VerifySignature(in.header, in.body, nil)
		require.NoError(b, err)
	}
}

func BenchmarkStripeGoValidatePayload(b *testing.B) {
	in := newBenchInput(b, "", testSecret, testSecretNew)
	b.ReportAllocs()
	for b.Loop() {
		require.NoError(b, stripeGoValidate(in))
	}
}

// The worst case for both: only the second configured secret signed.

func BenchmarkVerifyDefaultSecondSecret(b *testing.B) {
	in := newBenchInput(b, "", testSecretNew)
	v := in.verifier(b)
	b.ReportAllocs()
	for b.Loop() {
		_, err := v.VerifySignature(in.header, in.body, nil)
		require.NoError(b, err)
	}
}

func BenchmarkStripeGoValidatePayloadSecondSecret(b *testing.B) {
	in := newBenchInput(b, "", testSecretNew)
	b.ReportAllocs()
	for b.Loop() {
		require.NoError(b, stripeGoValidate(in))
	}
}

// BenchmarkVerifyRequestDefault adds building the Identity to BenchmarkVerifyDefault.
func BenchmarkVerifyRequestDefault(b *testing.B) {
	in := newBenchInput(b, "", testSecret, testSecretNew)
	v := in.verifier(b)
	b.ReportAllocs()
	for b.Loop() {
		_, err := v.VerifyRequest(in.header, in.body, nil)
		require.NoError(b, err)
	}
}

const benchPayload = `{"transaction_id":"ipi_1KRmFUFRwUQjTSJEjRnCCPyV","amount":100,"livemode":false,"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"}]}`

func BenchmarkVerifyRequestPayload(b *testing.B) {
	in := newBenchInput(b, benchPayload, testSecret, testSecretNew)
	v := in.verifier(b)
	b.ReportAllocs()
	for b.Loop() {
		_, err := v.VerifyRequest(in.header, in.body, nil)
		require.NoError(b, err)
	}
}

func BenchmarkVerifyRequestPrettyPrinted(b *testing.B) {
	in := newBenchInput(b, benchPayload, testSecret, testSecretNew)
	var pretty bytes.Buffer
	require.NoError(b, json.Indent(&pretty, in.body, "", "  "))
	in.body = pretty.Bytes()
	v := in.verifier(b)
	b.ReportAllocs()
	for b.Loop() {
		_, err := v.VerifyRequest(in.header, in.body, nil)
		require.NoError(b, err)
	}
}

// A typical webhook event is a few kilobytes.
var benchEvent = []byte(`{"id":"evt_1","object":"event","type":"account.application.authorized","data":{"object":{"id":"ca_1","object":"application","name":"` +
	strings.Repeat("x", 2000) + `"}}}`)

func BenchmarkVerifyPayload(b *testing.B) {
	unix := time.Now().Unix()
	in := benchInput{
		secrets: []string{"whsec_old", "whsec_new"},
		header:  "t=" + strconv.FormatInt(unix, 10) + ",v1=" + ComputeSignature("whsec_old", unix, benchEvent),
		body:    benchEvent,
	}
	v := in.verifier(b)
	b.Run("appauth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, err := v.VerifyPayload(in.header, in.body)
			require.NoError(b, err)
		}
	})
	b.Run("stripe-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			require.NoError(b, stripeGoValidate(in))
		}
	})
}

func BenchmarkProtect(b *testing.B) {
	in := newBenchInput(b, "", testSecret, testSecretNew)
	h := in.verifier(b).Protect(whoami)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/api/whoami", bytes.NewReader(in.body))
		r.Header.Set(SignatureHeader, in.header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 200 {
			require.FailNow(b, fmt.Sprintf("status %d: %s", rec.Code, rec.Body))
		}
	}
}

func BenchmarkSign(b *testing.B) {
	secrets := []string{testSecret, testSecretNew}
	b.ReportAllocs()
	for b.Loop() {
		_, _, err := Sign(secrets, testNow, testUser, testAccount, []byte(benchPayload))
		require.NoError(b, err)
	}
}
