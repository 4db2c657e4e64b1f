package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/stripeclient/stripetest"
)

const secret = "absec_quickstart_test"

func TestMain(m *testing.M) {
	code := m.Run()
	stripetest.StopMock()
	os.Exit(code)
}

// startQuickstart runs the quickstart with env on a loopback port until the test ends.
func startQuickstart(t *testing.T, env map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	env["STRIPE_APP_SECRETS"] = secret
	env["APPBACKEND_DATABASE"] = "sqlite:" + filepath.Join(t.TempDir(), "qs.db")
	cfg, err := appbackend.ConfigFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	cfg.Listener = ln
	ready := make(chan struct{})
	cfg.Ready = func(net.Addr) { close(ready) }
	app, err := appbackend.New(cfg)
	require.NoError(t, err)
	register(app, func(k string) string { return env[k] })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("quickstart did not start: %v", err)
	}
	return "http://" + ln.Addr().String()
}

// post sends a request signed as the UI extension would, with an optional payload.
func post(t *testing.T, url, account, payload string) (int, map[string]any) {
	t.Helper()
	var p []byte
	if payload != "" {
		p = []byte(payload)
	}
	header, body, err := appauth.Sign([]string{secret}, time.Now(), "usr_quick", account, p)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", header)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out
}

func TestSecretStuff(t *testing.T) {
	t.Parallel()
	base := startQuickstart(t, map[string]string{})
	status, out := post(t, base+"/api/do_secret_stuff", "acct_1JSkf6FRwUQjTSJE", "")
	require.Equal(t, 200, status)
	require.Equal(t, map[string]any{"success": true}, out)

	status, out = post(t, base+"/api/do_more_secret_stuff", "acct_1JSkf6FRwUQjTSJE", `{"transaction_id":"ipi_1KRmFUFRwUQjTSJEjRnCCPyV","amount":100,"livemode":false}`)
	require.Equal(t, 200, status)
	require.Equal(t, map[string]any{"success": true}, out)
}

func TestDataCreatesCustomerOnTheCallersAccount(t *testing.T) {
	t.Parallel()
	fake := stripetest.NewFake(t)
	base := startQuickstart(t, map[string]string{
		"STRIPE_SECRET_KEY":      "sk_live_quickstartlive",
		"STRIPE_TEST_SECRET_KEY": "sk_test_quickstarttest",
		"STRIPE_API_BASE":        fake.URL,
	})

	status, out := post(t, base+"/api/data", "acct_merchantA", `{"livemode":false}`)
	require.Equal(t, 200, status, out)
	require.Equal(t, map[string]any{"data": []any{}}, out)
	status, out = post(t, base+"/api/data", "acct_merchantB", `{"livemode":true}`)
	require.Equal(t, 200, status, out)

	var creates []stripetest.Request
	for _, r := range fake.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/customers" {
			creates = append(creates, r)
		}
	}
	require.Len(t, creates, 2)
	require.Equal(t, "acct_merchantA", creates[0].Account)
	require.Equal(t, "sk_test_quickstarttest", creates[0].Key(), "signed livemode false uses the test key")
	require.Equal(t, "acct_merchantB", creates[1].Account)
	require.Equal(t, "sk_live_quickstartlive", creates[1].Key())
	require.NotEmpty(t, creates[0].IdempotencyKey, "writes carry an idempotency key")

	// Two keys, no signed livemode, not installed: the app must say which mode.
	status, out = post(t, base+"/api/data", "acct_merchantC", "")
	require.Equal(t, 400, status, out)
	require.Equal(t, "mode_required", out["error"].(map[string]any)["code"])
}

func TestDataWithoutKeyIsAClearError(t *testing.T) {
	t.Parallel()
	base := startQuickstart(t, map[string]string{})
	status, out := post(t, base+"/api/data", "acct_nokey", "")
	require.Equal(t, 503, status, out)
	msg := out["error"].(map[string]any)["message"].(string)
	require.Contains(t, msg, "STRIPE_")
}

func TestDataAgainstStripeMock(t *testing.T) {
	t.Parallel()
	base := startQuickstart(t, map[string]string{
		"STRIPE_TEST_SECRET_KEY": stripetest.MockKey,
		"STRIPE_API_BASE":        stripetest.MockURL(t),
	})
	status, out := post(t, base+"/api/data", "acct_1JSkf6FRwUQjTSJE", "")
	require.Equal(t, 200, status, out)
	require.Equal(t, map[string]any{"data": []any{}}, out)
}
