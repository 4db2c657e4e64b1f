package appauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const defaultBody = `{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`

func TestVerifyRequest(t *testing.T) {
	t.Parallel()

	defaultSig := newSigned(t)
	withData := newSigned(t, withPayload(`{"transaction_id":"ipi_1","amount":100,"livemode":false}`))
	withRoles := newSigned(t, withPayload(`{"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"},{"name":"admin","type":"custom"},{"id":"rol_custom_1","name":"Support","type":"custom"}]}`))
	rotated := newSigned(t, withSecrets(testSecret, testSecretNew))
	escapedIdentity := `{"user_id":"usr\u005fK6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`
	lastDuplicateWins := `{"user_id":"usr_someone_else","account_id":"acct_1JSkf6FRwUQjTSJE","user_id":"usr_K6yd2CbXLO9A5G"}`

	tests := []struct {
		name        string
		secrets     []string
		header      string
		body        string
		query       url.Values
		wantAs      SignedAs
		wantUser    string
		wantPayload string // "" means nil
		wantRoles   []string
	}{
		{name: "default", header: defaultSig.header, body: defaultBody, wantAs: SignedDefault},
		{name: "default with unsigned request data beside it", header: defaultSig.header,
			body:   `{"note":"hello","stripe_roles":[{"id":"admin"}],"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`,
			wantAs: SignedDefault},
		{name: "default with a pretty-printed body", header: defaultSig.header,
			body: "{\n  \"account_id\": \"acct_1JSkf6FRwUQjTSJE\",\n  \"user_id\": \"usr_K6yd2CbXLO9A5G\"\n}\n", wantAs: SignedDefault},
		{name: "default with an escaped user_id", header: defaultSig.header, body: escapedIdentity, wantAs: SignedDefault},
		{name: "default with an escaped key", header: defaultSig.header,
			body: `{"user\u005fid":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`, wantAs: SignedDefault},
		{name: "default where the last duplicate user_id wins", header: defaultSig.header, body: lastDuplicateWins, wantAs: SignedDefault},
		{name: "default with bytes that are not UTF-8 in other data", header: defaultSig.header,
			body: "{\"x\":\"\xff\",\"user_id\":\"usr_K6yd2CbXLO9A5G\",\"account_id\":\"acct_1JSkf6FRwUQjTSJE\"}", wantAs: SignedDefault},
		{name: "default from the query string of a bodyless request", header: defaultSig.header,
			query: url.Values{"user_id": {testUser}, "account_id": {testAccount}}, wantAs: SignedDefault},
		{name: "payload in the raw body", header: withData.header, body: string(withData.body), wantAs: SignedBody,
			wantPayload: `{"transaction_id":"ipi_1","amount":100,"livemode":false}`},
		{name: "payload in a pretty-printed body", header: withData.header,
			body:        "{\n\t\"transaction_id\" : \"ipi_\\u0031\",\n\t\"amount\": 1.00e2,\n\t\"livemode\": false,\n\t\"user_id\": \"usr_K6yd2CbXLO9A5G\",\n\t\"account_id\": \"acct_1JSkf6FRwUQjTSJE\"\n}",
			wantAs:      SignedStringified,
			wantPayload: `{"transaction_id":"ipi_1","amount":100,"livemode":false}`},
		{name: "roles are the ids only", header: withRoles.header, body: string(withRoles.body), wantAs: SignedBody,
			wantRoles:   []string{"admin", "rol_custom_1"},
			wantPayload: `{"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"},{"name":"admin","type":"custom"},{"id":"rol_custom_1","name":"Support","type":"custom"}]}`},
		{name: "rotation: old secret configured", secrets: []string{testSecret}, header: rotated.header, body: defaultBody, wantAs: SignedDefault},
		{name: "rotation: new secret configured", secrets: []string{testSecretNew}, header: rotated.header, body: defaultBody, wantAs: SignedDefault},
		{name: "rotation: both configured, header signed by the new one only", secrets: []string{testSecret, testSecretNew},
			header: newSigned(t, withSecrets(testSecretNew)).header, body: defaultBody, wantAs: SignedDefault},
		{name: "rotation: header with a foreign v1 first", header: strings.Replace(defaultSig.header, "v1=", "v1="+sigB+",v1=", 1),
			body: defaultBody, wantAs: SignedDefault},
		{name: "v0 beside v1 is ignored", header: defaultSig.header + ",v0=" + sigB, body: defaultBody, wantAs: SignedDefault},
		{name: "oldest accepted timestamp", header: newSigned(t, signedAt(testNow.Add(-DefaultTolerance))).header, body: defaultBody, wantAs: SignedDefault},
		{name: "newest accepted timestamp", header: newSigned(t, signedAt(testNow.Add(DefaultTolerance))).header, body: defaultBody, wantAs: SignedDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secrets := tt.secrets
			if secrets == nil {
				secrets = []string{testSecret}
			}
			v := newTestVerifier(t, secrets...)
			id, err := v.VerifyRequest(tt.header, []byte(tt.body), tt.query)
			require.NoError(t, err, "VerifyRequest")
			wantUser := tt.wantUser
			if wantUser == "" {
				wantUser = testUser
			}
			if id.UserID != wantUser || id.AccountID != testAccount {
				require.FailNow(t, fmt.Sprintf("identity = %q/%q, want %q/%q", id.UserID, id.AccountID, wantUser, testAccount))
			}
			if id.SignedAs != tt.wantAs {
				require.FailNow(t, fmt.Sprintf("SignedAs = %v, want %v", id.SignedAs, tt.wantAs))
			}
			got := string(id.Payload)
			require.Equal(t, tt.wantPayload, got, "Payload = %s, want %s", got, tt.wantPayload)
			if tt.wantPayload == "" && id.Payload != nil {
				require.FailNow(t, fmt.Sprintf("Payload = %q, want nil", id.Payload))
			}
			if !slices.Equal(id.Roles, tt.wantRoles) {
				require.FailNow(t, fmt.Sprintf("Roles = %q, want %q", id.Roles, tt.wantRoles))
			}
			header, _ := ParseHeader(tt.header)
			if !id.SignedAt.Equal(header.Timestamp) {
				require.FailNow(t, fmt.Sprintf("SignedAt = %v, want %v", id.SignedAt, header.Timestamp))
			}
			as, err := v.VerifySignature(tt.header, []byte(tt.body), tt.query)
			require.NoError(t, err, "VerifySignature = %v, %v; want %v, nil", as, err, tt.wantAs)
			require.Equal(t, tt.wantAs, as, "VerifySignature = %v, %v; want %v, nil", as, err, tt.wantAs)
		})
	}
}

func TestVerifyRequestErrors(t *testing.T) {
	t.Parallel()

	defaultSig := newSigned(t)
	withData := newSigned(t, withPayload(`{"amount":100}`))
	identity := url.Values{"user_id": {testUser}, "account_id": {testAccount}}

	tests := []struct {
		name   string
		header string
		body   string
		query  url.Values
		want   error
	}{
		{"no header", "", defaultBody, nil, ErrNotSigned},
		{"malformed header", "t=1700000000;v1=" + sigA, defaultBody, nil, ErrMalformedHeader},
		{"no timestamp", "v1=" + sigA, defaultBody, nil, ErrNoTimestamp},
		{"v0 only", "t=1700000000,v0=" + sigA, defaultBody, nil, ErrNoSignatures},
		{"wrong secret", newSigned(t, withSecrets("absec_other")).header, defaultBody, nil, ErrNoValidSignature},
		{"secret differing in case", newSigned(t, withSecrets(strings.ToUpper(testSecret))).header, defaultBody, nil, ErrNoValidSignature},
		{"expired by a second", newSigned(t, signedAt(testNow.Add(-DefaultTolerance-time.Second))).header, defaultBody, nil, ErrTooOld},
		{"a day old", newSigned(t, signedAt(testNow.Add(-24*time.Hour))).header, defaultBody, nil, ErrTooOld},
		{"a second too far in the future", newSigned(t, signedAt(testNow.Add(DefaultTolerance+time.Second))).header, defaultBody, nil, ErrTooNew},
		{"timestamp changed", strings.Replace(defaultSig.header, "t=1700000000", "t=1700000001", 1), defaultBody, nil, ErrNoValidSignature},
		{"other user", defaultSig.header, strings.Replace(defaultBody, "usr_K6", "usr_K7", 1), nil, ErrNoValidSignature},
		{"other account", defaultSig.header, strings.Replace(defaultBody, "acct_1J", "acct_2J", 1), nil, ErrNoValidSignature},
		{"earlier duplicate is not the identity", defaultSig.header,
			`{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE","user_id":"usr_other"}`, nil, ErrNoValidSignature},
		{"nested identity is not the identity", defaultSig.header,
			`{"user_id":"usr_other","account_id":"acct_1JSkf6FRwUQjTSJE","x":{"user_id":"usr_K6yd2CbXLO9A5G"}}`, nil, ErrNoValidSignature},
		{"tampered payload value", withData.header, strings.Replace(string(withData.body), "100", "101", 1), nil, ErrNoValidSignature},
		{"tampered payload key order", withData.header,
			`{"user_id":"usr_K6yd2CbXLO9A5G","amount":100,"account_id":"acct_1JSkf6FRwUQjTSJE"}`, nil, ErrNoValidSignature},
		{"payload signature over a body with an added field", withData.header,
			`{"amount":100,"admin":true,"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`, nil, ErrNoValidSignature},
		{"body not JSON", defaultSig.header, `user_id=usr_K6yd2CbXLO9A5G&account_id=acct_1JSkf6FRwUQjTSJE`, nil, ErrBadBody},
		{"body with trailing garbage", defaultSig.header, defaultBody + "x", nil, ErrBadBody},
		{"body with a trailing comma", defaultSig.header, `{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE",}`, nil, ErrBadBody},
		{"body with a byte-order mark", defaultSig.header, "\ufeff" + defaultBody, nil, ErrBadBody},
		{"two JSON texts", defaultSig.header, defaultBody + defaultBody, nil, ErrBadBody},
		{"whitespace-only body", defaultSig.header, " ", nil, ErrBadBody},
		{"body without user_id", defaultSig.header, `{"account_id":"acct_1JSkf6FRwUQjTSJE"}`, nil, ErrNoIdentity},
		{"body without account_id", defaultSig.header, `{"user_id":"usr_K6yd2CbXLO9A5G"}`, nil, ErrNoIdentity},
		{"user_id a number", defaultSig.header, `{"user_id":1,"account_id":"acct_1JSkf6FRwUQjTSJE"}`, nil, ErrNoIdentity},
		{"user_id null", defaultSig.header, `{"user_id":null,"account_id":"acct_1JSkf6FRwUQjTSJE"}`, nil, ErrNoIdentity},
		{"user_id empty", defaultSig.header, `{"user_id":"","account_id":"acct_1JSkf6FRwUQjTSJE"}`, nil, ErrNoValidSignature},
		{"last duplicate user_id not a string", defaultSig.header,
			`{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE","user_id":{}}`, nil, ErrNoIdentity},
		{"body an array", defaultSig.header, `[` + defaultBody + `]`, nil, ErrNoIdentity},
		{"body a string", defaultSig.header, `"usr_K6yd2CbXLO9A5G"`, nil, ErrNoIdentity},
		{"bodyless without query", defaultSig.header, "", nil, ErrNoIdentity},
		{"bodyless without account_id", defaultSig.header, "", url.Values{"user_id": {testUser}}, ErrNoIdentity},
		{"bodyless with another user", defaultSig.header, "", url.Values{"user_id": {"usr_other"}, "account_id": {testAccount}}, ErrNoValidSignature},
		{"bodyless with a payload signature", withData.header, "", identity, ErrNoValidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newTestVerifier(t, testSecret)
			id, err := v.VerifyRequest(tt.header, []byte(tt.body), tt.query)
			require.ErrorIs(t, err, tt.want, "VerifyRequest error = %v, want %v", err, tt.want)
			require.Nil(t, id, "VerifyRequest returned identity %+v with error", id)
			msg := err.Error()
			require.False(t, strings.Contains(msg, testSecret) || strings.Contains(msg, "v1=") || strings.Contains(msg, "\n"), "error message %q leaks the header or is not one line", msg)
		})
	}
}

func TestVerifyRequestBadBodyMessageNamesTheProblem(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, testSecret)
	_, err := v.VerifyRequest(newSigned(t).header, []byte(`{"user_id":}`), nil)
	want := "request body is not valid JSON: unexpected character '}', expected a value at offset 11"
	require.EqualError(t, err, want, "error = %v, want %s", err, want)
}

func TestVerifyRequestTolerance(t *testing.T) {
	t.Parallel()
	now := testNow
	v, err := NewVerifier([]string{testSecret}, WithTolerance(10*time.Second), WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	tests := []struct {
		name   string
		offset time.Duration
		want   error
	}{
		{"10 s old", -10 * time.Second, nil},
		{"11 s old", -11 * time.Second, ErrTooOld},
		{"10 s ahead", 10 * time.Second, nil},
		{"11 s ahead", 11 * time.Second, ErrTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := newSigned(t, signedAt(now.Add(tt.offset)))
			if _, err := v.VerifyRequest(req.header, req.body, nil); !errors.Is(err, tt.want) {
				require.FailNow(t, fmt.Sprintf("error = %v, want %v", err, tt.want))
			}
		})
	}
}

func TestVerifyRequestHeaderErrorsComeBeforeBodyErrors(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, testSecret)
	expired := newSigned(t, signedAt(testNow.Add(-time.Hour))).header
	_, err := v.VerifyRequest(expired, []byte("not json"), nil)
	require.ErrorIs(t, err, ErrTooOld, "expired header, bad body: error = %v, want %v", err, ErrTooOld)
	if _, err := v.VerifyRequest("", []byte("not json"), nil); !errors.Is(err, ErrNotSigned) {
		require.FailNow(t, fmt.Sprintf("no header, bad body: error = %v, want %v", err, ErrNotSigned))
	}
}

func TestVerifyRequestRoundTrip(t *testing.T) {
	t.Parallel()
	payloads := []string{
		"",
		`{}`,
		`{"a":1}`,
		`{"user_id":"usr_forged","account_id":"acct_forged","z":null}`,
		`{"3":"three","1":"one","b":[true,false,null],"a":{"2":2,"1":1}}`,
		`{"s":"<>&\u2028\u2029 \ud83d\ude00 \udc00 \u0007 \"\\/"}`,
		`{"n":[0,-0,1.5e300,1e-7,123456789012345678901234567890,0.1,1E21,5e-324]}`,
		`{"stripe_roles":[{"id":"admin","name":"Admin","type":"builtIn"}]}`,
	}
	for _, payload := range payloads {
		name := payload
		if name == "" {
			name = "no payload"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := newTestVerifier(t, testSecret)
			req := newSigned(t, withPayload(payload))
			id, err := v.VerifyRequest(req.header, req.body, nil)
			require.NoError(t, err, "VerifyRequest(Sign(...))")
			wantAs := SignedBody
			if bytes.Equal(req.body, []byte(defaultBody)) {
				wantAs = SignedDefault
			}
			if id.SignedAs != wantAs || id.UserID != testUser || id.AccountID != testAccount {
				require.FailNow(t, fmt.Sprintf("got %v %s/%s, want %v %s/%s", id.SignedAs, id.UserID, id.AccountID, wantAs, testUser, testAccount))
			}
			// Re-encoding the body with whitespace still verifies, via (c) or (a).
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, req.body, "", "  "))
			if _, err := v.VerifyRequest(req.header, pretty.Bytes(), nil); err != nil {
				require.FailNow(t, fmt.Sprintf("pretty-printed body %s: %v", pretty.Bytes(), err))
			}
		})
	}
}

func TestNewVerifierErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []string
		opts    []Option
		want    string
	}{
		{"nil secrets", nil, nil, "no signing secret"},
		{"empty list", []string{}, nil, "no signing secret"},
		{"empty secret", []string{""}, nil, "secret 1 of 1 is empty"},
		{"second secret empty", []string{testSecret, ""}, nil, "secret 2 of 2 is empty"},
		{"secret with a trailing space", []string{testSecret + " "}, nil, "whitespace"},
		{"secret with a leading tab", []string{"\t" + testSecret}, nil, "whitespace"},
		{"zero tolerance", []string{testSecret}, []Option{WithTolerance(0)}, "tolerance must be positive"},
		{"negative tolerance", []string{testSecret}, []Option{WithTolerance(-time.Second)}, "tolerance must be positive"},
		{"nil clock", []string{testSecret}, []Option{WithClock(nil)}, "clock must not be nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier(tt.secrets, tt.opts...)
			require.ErrorContains(t, err, tt.want, "NewVerifier error = %v, want one containing %q", err, tt.want)
			require.Nil(t, v, "NewVerifier returned a Verifier with an error")
			require.NotContains(t, err.Error(), testSecret, "error %q echoes a secret", err)
		})
	}
}

func TestVerifyPayload(t *testing.T) {
	t.Parallel()
	const (
		whsecOld = "whsec_old"
		whsecNew = "whsec_new"
	)
	payload := []byte(`{"id":"evt_1","object":"event","type":"account.application.authorized"}`)
	header := func(at time.Time, secrets ...string) string {
		h := "t=" + strconv.FormatInt(at.Unix(), 10)
		for _, s := range secrets {
			h += ",v1=" + ComputeSignature(s, at.Unix(), payload)
		}
		return h
	}
	tests := []struct {
		name    string
		secrets []string
		header  string
		payload []byte
		want    error
	}{
		{"valid", []string{whsecOld}, header(testNow, whsecOld), payload, nil},
		{"second configured secret", []string{whsecOld, whsecNew}, header(testNow, whsecNew), payload, nil},
		{"second v1", []string{whsecNew}, header(testNow, whsecOld, whsecNew), payload, nil},
		{"wrong secret", []string{whsecOld}, header(testNow, whsecNew), payload, ErrNoValidSignature},
		{"tampered payload", []string{whsecOld}, header(testNow, whsecOld), append(bytes.Clone(payload), ' '), ErrNoValidSignature},
		{"empty payload", []string{whsecOld}, header(testNow, whsecOld), nil, ErrNoValidSignature},
		{"expired", []string{whsecOld}, header(testNow.Add(-301*time.Second), whsecOld), payload, ErrTooOld},
		{"future", []string{whsecOld}, header(testNow.Add(301*time.Second), whsecOld), payload, ErrTooNew},
		{"no header", []string{whsecOld}, "", payload, ErrNotSigned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newTestVerifier(t, tt.secrets...)
			at, err := v.VerifyPayload(tt.header, tt.payload)
			require.ErrorIs(t, err, tt.want, "VerifyPayload error = %v, want %v", err, tt.want)
			require.False(t, err == nil && !at.Equal(testNow), "timestamp = %v, want %v", at, testNow)
		})
	}
}

// TestVerifyAllocatesNothing is not parallel: testing.AllocsPerRun counts every allocation
// in the process.
func TestVerifyAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector, which drops sync.Pool values on purpose")
	}
	v := newTestVerifier(t, testSecretNew, testSecret)
	req := newSigned(t, withSecrets(testSecret))
	withData := []byte(`{"note":"unsigned","n":[1,2.5,{"a":null}],"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`)
	query := url.Values{"user_id": {testUser}, "account_id": {testAccount}}
	tests := []struct {
		name string
		run  func() error
	}{
		{"VerifySignature default body", func() error { _, err := v.VerifySignature(req.header, req.body, nil); return err }},
		{"VerifySignature default with other data", func() error { _, err := v.VerifySignature(req.header, withData, nil); return err }},
		{"VerifySignature default from the query", func() error { _, err := v.VerifySignature(req.header, nil, query); return err }},
		{"VerifyPayload", func() error { _, err := v.VerifyPayload(req.header, req.body); return err }},
	}
	for _, tt := range tests {
		require.NoError(t, tt.run(), "%s", tt.name)
		got := testing.AllocsPerRun(1000, func() { _ = tt.run() })
		require.EqualValues(t, 0, got, "%s: %v allocations per run, want 0", tt.name, got)
	}
}
