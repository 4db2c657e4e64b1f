package appauth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Names and values shared by the tests; the secret and identity are those of the test
// vector in the protocol notes (stripe-node 23 and Go agree on it).
const (
	testSecret    = "absec_test_secret"
	testSecretNew = "absec_test_secret_new"
	testUser      = "usr_K6yd2CbXLO9A5G"
	testAccount   = "acct_1JSkf6FRwUQjTSJE"
	testUnix      = 1700000000
)

var testNow = time.Unix(testUnix, 0)

// newTestVerifier returns a Verifier over secrets whose clock is testNow.
func newTestVerifier(t testing.TB, secrets ...string) *Verifier {
	t.Helper()
	v, err := NewVerifier(secrets, WithClock(func() time.Time { return testNow }))
	require.NoError(t, err, "NewVerifier")
	return v
}

// signed is a request a UI extension would send, built by newSigned.
type signed struct {
	header string
	body   []byte
}

type signOptions struct {
	secrets []string
	at      time.Time
	user    string
	account string
	payload string
}

type signOption func(*signOptions)

func withSecrets(secrets ...string) signOption { return func(o *signOptions) { o.secrets = secrets } }
func signedAt(at time.Time) signOption         { return func(o *signOptions) { o.at = at } }
func withPayload(p string) signOption          { return func(o *signOptions) { o.payload = p } }
func withIdentity(user, account string) signOption {
	return func(o *signOptions) { o.user, o.account = user, account }
}

// newSigned signs a request with Sign: by default with testSecret at testNow for
// testUser/testAccount and no payload.
func newSigned(t testing.TB, opts ...signOption) signed {
	t.Helper()
	o := signOptions{secrets: []string{testSecret}, at: testNow, user: testUser, account: testAccount}
	for _, opt := range opts {
		opt(&o)
	}
	var payload []byte
	if o.payload != "" {
		payload = []byte(o.payload)
	}
	header, body, err := Sign(o.secrets, o.at, o.user, o.account, payload)
	require.NoError(t, err, "Sign")
	return signed{header, body}
}
