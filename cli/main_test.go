package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/appbackend/appbackend/appbackendtest"
)

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// runCmd runs the program to completion and returns its exit code and outputs.
func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, envFunc(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

type server struct {
	url    string
	stdout *appbackendtest.SyncBuffer
	stderr *appbackendtest.SyncBuffer
	stop   func() int
}

var listenLine = regexp.MustCompile(`appbackend listening on (http://\S+)`)

// startServe runs `appbackend serve` in-process on a free port until stop is called.
func startServe(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &appbackendtest.SyncBuffer{}, stderr: &appbackendtest.SyncBuffer{}}
	done := make(chan struct{})
	var code int
	go func() {
		defer close(done)
		code = run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), envFunc(env), s.stdout, s.stderr)
	}()
	s.stop = func() int {
		cancel()
		<-done
		return code
	}
	t.Cleanup(func() { s.stop() })
	deadline := time.After(10 * time.Second)
	for {
		if m := listenLine.FindStringSubmatch(s.stdout.String()); m != nil {
			s.url = m[1]
			return s
		}
		select {
		case <-done:
			require.FailNow(t, "serve exited before listening", "exit %d: %s", code, s.stderr.String())
		case <-deadline:
			require.FailNow(t, "serve did not listen in time", "stderr: %s", s.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// devBanner waits for the --dev banner, which the server prints after its listening
// line (startServe returns at that line), and returns stdout with the whole banner.
func (s *server) devBanner(t *testing.T) string {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(s.stdout.String(), " trigger ") }, 10*time.Second, 5*time.Millisecond, s.stdout.String())
	return s.stdout.String()
}

func TestSignProtocolVector(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd(t, nil, "sign", "--secret", "absec_test_secret", "--user", "usr_K6yd2CbXLO9A5G", "--account", "acct_1JSkf6FRwUQjTSJE", "--timestamp", "1700000000")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2)
	require.Equal(t, "t=1700000000,v1=95d377f7216b002bc8462ad7ad1c21ae33f54bfd7f12f1fe86f43cfd56123df3", lines[0])
	require.Equal(t, `{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`, lines[1])
}

func TestSignWithPayloadPassesStripeGo(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd(t, nil, "sign", "--secret", "absec_one", "--secret", "absec_two",
		"--user", "usr_1", "--account", "acct_1", "--payload", `{"b":1.50,"2":"x","a":"<&>","user_id":"early"}`)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2)
	require.Equal(t, `{"2":"x","b":1.5,"a":"<&>","user_id":"usr_1","account_id":"acct_1"}`, lines[1])
	require.Len(t, regexp.MustCompile(`v1=`).FindAllString(lines[0], -1), 2, "one v1 per secret")
	for _, secret := range []string{"absec_one", "absec_two"} {
		require.NoError(t, webhook.ValidatePayload([]byte(lines[1]), lines[0], secret), secret)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no command", nil, nil, 2, "Usage"},
		{"unknown command", nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"sign without secret", nil, []string{"sign", "--user", "u", "--account", "a"}, 2, "--secret is required"},
		{"sign with bad payload", nil, []string{"sign", "--secret", "absec_x", "--user", "u", "--account", "a", "--payload", "[1,2"}, 2, "payload"},
		{"sign with array payload", nil, []string{"sign", "--secret", "absec_x", "--user", "u", "--account", "a", "--payload", "[1,2]"}, 2, "payload"},
		{"sign with bad timestamp", nil, []string{"sign", "--secret", "absec_x", "--user", "u", "--account", "a", "--timestamp", "soon"}, 2, "--timestamp"},
		{"unknown flag", nil, []string{"sign", "--sekret", "x"}, 2, "sekret"},
		{"call without URL", nil, []string{"call", "POST", "--secret", "absec_x", "--user", "u", "--account", "a"}, 2, "want METHOD and URL"},
		{"call with bad URL", nil, []string{"call", "POST", "ftp://x", "--secret", "absec_x", "--user", "u", "--account", "a"}, 2, "not an http(s) URL"},
		{"serve without secrets", nil, []string{"serve"}, 2, "STRIPE_APP_SECRETS is required"},
		{"serve with a webhook secret as app secret", map[string]string{"STRIPE_APP_SECRETS": "whsec_123"}, []string{"serve"}, 2, "absec_"},
		{"serve with bad max body", map[string]string{"STRIPE_APP_SECRETS": "absec_x", "APPBACKEND_MAX_BODY": "lots"}, []string{"serve"}, 2, "APPBACKEND_MAX_BODY"},
		{"serve with bad database", map[string]string{"STRIPE_APP_SECRETS": "absec_x"}, []string{"serve", "--database", "mysql://db"}, 2, "--database must be sqlite:PATH"},
		{"serve with a live key as the test key", map[string]string{"STRIPE_APP_SECRETS": "absec_x", "STRIPE_TEST_SECRET_KEY": "sk_live_whsec_123"}, []string{"serve"}, 2, "STRIPE_TEST_SECRET_KEY"},
		{"serve with a publishable key", map[string]string{"STRIPE_APP_SECRETS": "absec_x", "STRIPE_SECRET_KEY": "pk_live_abc"}, []string{"serve"}, 2, "STRIPE_SECRET_KEY"},
		{"serve with a bad API base", map[string]string{"STRIPE_APP_SECRETS": "absec_x", "STRIPE_API_BASE": "localhost:12111"}, []string{"serve"}, 2, "STRIPE_API_BASE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, errOut := runCmd(t, tt.env, tt.args...)
			require.Equal(t, tt.code, code, errOut)
			require.Contains(t, errOut, tt.want)
			if tt.args != nil {
				require.Equal(t, 1, strings.Count(errOut, "\n"), "one line on stderr: %q", errOut)
			}
			require.NotContains(t, errOut, "whsec_123", "secrets are never echoed")
		})
	}
}

// TestServeRefusesAShortAdminToken: a 6-character token could be guessed; serve
// refuses it with one line naming the variable, and exit status 1.
func TestServeRefusesAShortAdminToken(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve"}, {"serve", "--dev"}, {"serve", "--admin-token", "abc123"}} {
		env := map[string]string{"STRIPE_APP_SECRETS": "absec_x", "APPBACKEND_ADMIN_TOKEN": "abc123",
			"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "t.db")}
		code, _, errOut := runCmd(t, env, append(args, "--addr", "127.0.0.1:0")...)
		require.Equal(t, 1, code, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "one line on stderr: %q", errOut)
		name := "APPBACKEND_ADMIN_TOKEN" // the setting as given: the flag wins over the variable
		if slices.Contains(args, "--admin-token") {
			name = "--admin-token"
		}
		require.Contains(t, errOut, name+" is shorter than 16 characters")
		require.NotContains(t, errOut, "abc123")
	}
}

func TestServeUnopenableDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, _, errOut := runCmd(t, map[string]string{"STRIPE_APP_SECRETS": "absec_x"}, "serve", "--addr", "127.0.0.1:0", "--database", "sqlite:"+dir)
	require.Equal(t, 1, code, errOut)
	require.Equal(t, 1, strings.Count(errOut, "\n"), "one line on stderr: %q", errOut)
}

func TestServePortTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	env := map[string]string{"STRIPE_APP_SECRETS": "absec_x", "APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "p.db")}
	code, _, errOut := runCmd(t, env, "serve", "--addr", ln.Addr().String())
	require.Equal(t, 1, code, errOut)
	// serve logs to stderr as it starts; the failure is its last line.
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	require.True(t, strings.HasPrefix(lines[len(lines)-1], "appbackend serve: listen on "+ln.Addr().String()), errOut)
}

func TestDevModeKeepsSecretsAndPrintsAWorkingCall(t *testing.T) {
	t.Parallel()
	db := "sqlite:" + filepath.Join(t.TempDir(), "dev.db")
	env := map[string]string{"APPBACKEND_DATABASE": db}
	s := startServe(t, env, "--dev")
	banner := s.devBanner(t)
	secret := regexp.MustCompile(`STRIPE_APP_SECRETS=(absec_\S+)`).FindStringSubmatch(banner)
	require.NotNil(t, secret, banner)
	callLine := regexp.MustCompile(`appbackend (call .*)`).FindStringSubmatch(banner)
	require.NotNil(t, callLine, banner)
	token := regexp.MustCompile(`APPBACKEND_ADMIN_TOKEN=(\S+)`).FindStringSubmatch(banner)
	require.NotNil(t, token, banner)
	require.GreaterOrEqual(t, len(token[1]), 16, "the generated admin token passes the length check")
	require.NotContains(t, s.stderr.String(), secret[1], "the secret is printed on stdout, never logged")

	// The printed command works as printed.
	code, out, errOut := runCmd(t, nil, strings.Fields(callLine[1])...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `"user_id":"usr_dev"`)
	require.Equal(t, 0, s.stop(), s.stderr.String())

	// A restart on the same database keeps the secret, so the UI keeps working.
	s2 := startServe(t, env, "--dev")
	require.Contains(t, s2.devBanner(t), "STRIPE_APP_SECRETS="+secret[1])
}

func TestCallSignsLikeTheUIExtension(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STRIPE_APP_SECRETS":  "absec_call_a,absec_call_b",
		"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "call.db"),
	}
	s := startServe(t, env)

	code, out, errOut := runCmd(t, nil, "call", "POST", s.url+"/api/whoami", "--secret", "absec_call_b", "--user", "usr_1", "--account", "acct_1", "--payload", `{"livemode":false,"amount":100}`)
	require.Equal(t, 0, code, errOut)
	require.JSONEq(t, `{"user_id":"usr_1","account_id":"acct_1","roles":[],"payload":{"livemode":false,"amount":100}}`, out)

	code, out, errOut = runCmd(t, nil, "call", "POST", s.url+"/api/whoami", "--secret", "absec_wrong", "--user", "usr_1", "--account", "acct_1")
	require.Equal(t, 1, code)
	require.Contains(t, out, "signature_invalid")
	require.Contains(t, errOut, "401")

	// An unreachable server is a one-line failure.
	code, _, errOut = runCmd(t, nil, "call", "POST", "http://127.0.0.1:1/api/whoami", "--secret", "absec_x", "--user", "u", "--account", "a")
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
}

func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STRIPE_APP_SECRETS":  "absec_graceful",
		"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "g.db"),
	}
	s := startServe(t, env)
	resp, err := http.Get(s.url + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 0, s.stop(), s.stderr.String())
	require.Contains(t, s.stderr.String(), "shutting down")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, nil, "version")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "appbackend "), out)
}

// TestServeMetricsAddr: APPBACKEND_METRICS_ADDR and --metrics-addr move /metrics to a
// listener of its own.
func TestServeMetricsAddr(t *testing.T) {
	t.Parallel()
	metricsLine := regexp.MustCompile(`"metrics listening" addr=(http://\S+/metrics)`)
	for name, setting := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"env":  {map[string]string{"APPBACKEND_METRICS_ADDR": "127.0.0.1:0"}, nil},
		"flag": {map[string]string{}, []string{"--metrics-addr", "127.0.0.1:0"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := setting.env
			env["STRIPE_APP_SECRETS"] = "absec_metrics_addr"
			env["APPBACKEND_DATABASE"] = "sqlite:" + filepath.Join(t.TempDir(), "m.db")
			s := startServe(t, env, setting.args...)
			m := metricsLine.FindStringSubmatch(s.stderr.String())
			require.NotNil(t, m, s.stderr.String())
			resp, err := http.Get(m[1])
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			resp, err = http.Get(s.url + "/metrics")
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, 404, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		})
	}
}
