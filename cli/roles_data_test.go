package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"
)

func TestSignWithRoles(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd(t, nil, "sign", "--secret", "absec_test_secret", "--user", "usr_1", "--account", "acct_1",
		"--payload", `{"amount":100}`, "--role", "admin", "--role", "role_refunds", "--timestamp", "1700000000")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2)
	require.Equal(t, `{"amount":100,"stripe_roles":[{"id":"admin","name":"Admin","type":"builtIn"},{"id":"role_refunds","name":"Role refunds","type":"custom"}],"user_id":"usr_1","account_id":"acct_1"}`, lines[1])
	require.NoError(t, webhook.ValidatePayloadIgnoringTolerance([]byte(lines[1]), lines[0], "absec_test_secret"))
}

func TestRoleUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"role and payload roles", []string{"sign", "--secret", "absec_x", "--user", "u", "--account", "a", "--role", "admin",
			"--payload", `{"stripe_roles":[{"id":"admin"}]}`}, "stripe_roles"},
		{"role with a non-object payload", []string{"sign", "--secret", "absec_x", "--user", "u", "--account", "a", "--role", "admin",
			"--payload", `[1]`}, "--payload must be a JSON object"},
		{"role on a GET", []string{"call", "GET", "http://127.0.0.1:1/api/x", "--secret", "absec_x", "--user", "u", "--account", "a",
			"--role", "admin"}, "--role needs a method with a body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, errOut := runCmd(t, nil, tt.args...)
			require.Equal(t, 2, code, errOut)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line on stderr: %q", errOut)
			require.Contains(t, errOut, tt.want)
		})
	}
}

func TestCallHelpDocumentsStripeRoles(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, nil, "call", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "--role")
	require.Contains(t, out, `"stripe_roles":[{"id":"admin","name":"Admin","type":"builtIn"}`)
	require.Contains(t, out, `"custom"`)
}

// TestCallWithRoles: the roles call signs are the ones the server proves.
func TestCallWithRoles(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STRIPE_APP_SECRETS":  "absec_roles",
		"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "roles.db"),
	}
	s := startServe(t, env)
	code, out, errOut := runCmd(t, nil, "call", "POST", s.url+"/api/whoami", "--secret", "absec_roles", "--user", "usr_1", "--account", "acct_1",
		"--role", "admin", "--role", "role_custom1", "--payload", `{"livemode":false}`)
	require.Equal(t, 0, code, errOut)
	var who struct {
		Roles   []string       `json:"roles"`
		Payload map[string]any `json:"payload"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &who), out)
	require.Equal(t, []string{"admin", "role_custom1"}, who.Roles)
	require.Equal(t, false, who.Payload["livemode"])
	require.Len(t, who.Payload["stripe_roles"], 2)
}

// TestSecretsFromTheDevDatabase: without --secret, call and trigger use the secrets
// serve --dev keeps in the configured database.
func TestSecretsFromTheDevDatabase(t *testing.T) {
	t.Parallel()
	env := map[string]string{"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}
	s := startServe(t, env, "--dev")

	code, out, errOut := runCmd(t, env, "call", "POST", s.url+"/api/whoami", "--user", "usr_dev", "--account", "acct_dev", "--role", "admin")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `"roles":["admin"]`)

	code, out, errOut = runCmd(t, env, "trigger", "account.application.authorized", "--account", "acct_dev", "--url", s.url+"/webhooks/stripe")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "200 OK")

	// --database names the database when APPBACKEND_DATABASE does not.
	code, _, errOut = runCmd(t, nil, "trigger", "account.application.authorized", "--account", "acct_dev", "--url", s.url+"/webhooks/stripe",
		"--database", env["APPBACKEND_DATABASE"])
	require.Equal(t, 0, code, errOut)

	// STRIPE_WEBHOOK_SECRETS, when set, is what serve would check instead: it wins.
	withEnv := map[string]string{"APPBACKEND_DATABASE": env["APPBACKEND_DATABASE"], "STRIPE_WEBHOOK_SECRETS": "whsec_other"}
	code, _, errOut = runCmd(t, withEnv, "trigger", "account.application.authorized", "--account", "acct_dev", "--url", s.url+"/webhooks/stripe")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "400")
}

func TestNoSecretAnywhere(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "none.db")
	env := map[string]string{"APPBACKEND_DATABASE": "sqlite:" + path}
	for _, args := range [][]string{
		{"trigger", "invoice.paid", "--account", "acct_1", "--url", "http://127.0.0.1:1/webhooks/stripe"},
		{"call", "POST", "http://127.0.0.1:1/api/whoami", "--user", "u", "--account", "a"},
		{"sign", "--user", "u", "--account", "a"},
	} {
		code, _, errOut := runCmd(t, env, args...)
		require.Equal(t, 2, code, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "one line on stderr: %q", errOut)
		require.Contains(t, errOut, "--secret is required")
		require.Contains(t, errOut, "serve --dev")
	}
	_, err := os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "looking for a dev secret does not create a database")
}

// receiver is a webhook endpoint that records what trigger posts.
type receiver struct {
	url  string
	mu   sync.Mutex
	body []byte
	sig  string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.body, r.sig = b, req.Header.Get("Stripe-Signature")
		r.mu.Unlock()
		w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// object returns data.object of the last event received, after checking its signature.
func (r *receiver) object(t *testing.T, secret string) map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NoError(t, webhook.ValidatePayload(r.body, r.sig, secret))
	var ev struct {
		Data struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(r.body, &ev), string(r.body))
	return ev.Data.Object
}

func TestTriggerData(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	trigger := func(args ...string) (int, string) {
		code, _, errOut := runCmd(t, nil, append([]string{"trigger", "invoice.paid", "--account", "acct_1", "--url", r.url, "--secret", "whsec_data"}, args...)...)
		return code, errOut
	}

	code, errOut := trigger("--data", `{"amount_paid":5000,"metadata":{"order":"42"},"big":12345678901234567890}`)
	require.Equal(t, 0, code, errOut)
	obj := r.object(t, "whsec_data")
	require.Equal(t, 5000.0, obj["amount_paid"], "--data replaces a field")
	require.Equal(t, map[string]any{"order": "42"}, obj["metadata"], "and adds one")
	require.Equal(t, "invoice", obj["object"], "the default object's other fields stay")
	require.Regexp(t, `^in_`, obj["id"])
	require.Contains(t, string(r.body), `"big":12345678901234567890`, "numbers keep their digits")

	file := filepath.Join(t.TempDir(), "data.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"id":"in_fixed","status":"open"}`), 0o600))
	code, errOut = trigger("--data", "@"+file)
	require.Equal(t, 0, code, errOut)
	obj = r.object(t, "whsec_data")
	require.Equal(t, "in_fixed", obj["id"])
	require.Equal(t, "open", obj["status"])

	for _, bad := range []string{`{"amount_paid":`, `[1,2]`, `null`, `{"a":1} {"b":2}`, `"x"`, "@" + filepath.Join(t.TempDir(), "missing.json")} {
		code, errOut := trigger("--data", bad)
		require.Equal(t, 2, code, "%s: %s", bad, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "one line on stderr: %q", errOut)
		require.Contains(t, errOut, "--data", bad)
	}
}

func TestReadDataFromStdin(t *testing.T) {
	t.Parallel()
	fields, err := readData("@-", strings.NewReader(`{"amount": 2000}`))
	require.NoError(t, err)
	require.Equal(t, json.Number("2000"), fields["amount"])
	_, err = readData("@-", strings.NewReader(`nope`))
	require.ErrorContains(t, err, "--data")
}

func TestTriggerHelpDocumentsData(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, nil, "trigger", "--help")
	require.Equal(t, 0, code)
	require.Regexp(t, regexp.MustCompile(`--data @FILE`), out)
	require.Contains(t, out, "replace")
}
