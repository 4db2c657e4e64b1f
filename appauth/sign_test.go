package appauth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSignDefault(t *testing.T) {
	t.Parallel()
	// The vector from the protocol notes, which stripe-node 23 also produces.
	header, body, err := Sign([]string{testSecret}, testNow, testUser, testAccount, nil)
	require.NoError(t, err)
	want := `{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`
	require.Equal(t, want, string(body), "body = %s, want %s", body, want)
	want = "t=1700000000,v1=95d377f7216b002bc8462ad7ad1c21ae33f54bfd7f12f1fe86f43cfd56123df3"
	require.Equal(t, want, header, "header = %s, want %s", header, want)
}

func TestSignOneSignaturePerSecretInOrder(t *testing.T) {
	t.Parallel()
	header, body, err := Sign([]string{testSecretNew, testSecret}, testNow, testUser, testAccount, nil)
	require.NoError(t, err)
	want := "t=1700000000" +
		",v1=" + ComputeSignature(testSecretNew, testUnix, body) +
		",v1=" + ComputeSignature(testSecret, testUnix, body)
	require.Equal(t, want, header, "header = %s, want %s", header, want)
}

func TestSignPayload(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"empty payload is the default", "", `{"user_id":"usr_1","account_id":"acct_1"}`},
		{"empty object is the default", "{}", `{"user_id":"usr_1","account_id":"acct_1"}`},
		{"payload keys first", `{"transaction_id":"ipi_1","amount":100,"livemode":false}`,
			`{"transaction_id":"ipi_1","amount":100,"livemode":false,"user_id":"usr_1","account_id":"acct_1"}`},
		{"spread keeps an earlier user_id's position and takes the signed value", `{"account_id":"acct_forged","x":1}`,
			`{"account_id":"acct_1","x":1,"user_id":"usr_1"}`},
		{"integer-like keys first, ascending", `{"b":1,"10":2,"2":3}`,
			`{"2":3,"10":2,"b":1,"user_id":"usr_1","account_id":"acct_1"}`},
		{"pretty-printed payload is re-stringified", "{\n  \"a\": [1, 2.50, -0, 1e21],\n  \"s\": \"<\\u0041>\"\n}",
			`{"a":[1,2.5,0,1e+21],"s":"<A>","user_id":"usr_1","account_id":"acct_1"}`},
		{"roles", `{"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"}]}`,
			`{"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"}],"user_id":"usr_1","account_id":"acct_1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header, body, err := Sign([]string{testSecret}, testNow, "usr_1", "acct_1", []byte(tt.payload))
			require.NoError(t, err)
			require.Equal(t, tt.want, string(body), "body = %s, want %s", body, tt.want)
			want := "t=1700000000,v1=" + ComputeSignature(testSecret, testUnix, body)
			require.Equal(t, want, header, "header = %s, want %s", header, want)
		})
	}
}

func TestSignIdentityNeedingEscapes(t *testing.T) {
	t.Parallel()
	_, body, err := Sign([]string{testSecret}, testNow, "usr_\"é\u2028", "acct_\x01", nil)
	require.NoError(t, err)
	want := "{\"user_id\":\"usr_\\\"é\u2028\",\"account_id\":\"acct_\\u0001\"}"
	require.Equal(t, want, string(body), "body = %s, want %s", body, want)
}

func TestSignEmptyIdentity(t *testing.T) {
	t.Parallel()
	// Stripe never signs an empty id, but Sign signs what it is given, as Node would.
	_, body, err := Sign([]string{testSecret}, testNow, "", "", nil)
	require.NoError(t, err)
	want := `{"user_id":"","account_id":""}`
	require.Equal(t, want, string(body), "body = %s, want %s", body, want)
}

func TestSignErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		secrets []string
		at      time.Time
		user    string
		account string
		payload string
		wantErr string
	}{
		{"no secret", nil, testNow, "usr_1", "acct_1", "", "no signing secret"},
		{"empty secret", []string{testSecret, ""}, testNow, "usr_1", "acct_1", "", "secret 2 of 2 is empty"},
		{"secret with a newline", []string{testSecret + "\n"}, testNow, "usr_1", "acct_1", "", "secret 1 of 1 has leading or trailing whitespace"},
		{"before 1970", []string{testSecret}, time.Time{}, "usr_1", "acct_1", "", "before 1970"},
		{"payload not JSON", []string{testSecret}, testNow, "usr_1", "acct_1", "{a:1}", "payload is not valid JSON"},
		{"payload an array", []string{testSecret}, testNow, "usr_1", "acct_1", "[1]", "must be a JSON object"},
		{"payload null", []string{testSecret}, testNow, "usr_1", "acct_1", "null", "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Sign(tt.secrets, tt.at, tt.user, tt.account, []byte(tt.payload))
			require.ErrorContains(t, err, tt.wantErr, "Sign error = %v, want one containing %q", err, tt.wantErr)
			require.NotContains(t, err.Error(), testSecret, "error %q echoes the secret", err)
		})
	}
}
