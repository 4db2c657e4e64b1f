package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/gateway"
	"github.com/appbackend/appbackend/stripeclient"
)

const upstreamSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // 24 bytes

type testBundle struct {
	api  *httptest.Server
	fake *appbackendtest.StripeFake
}

// setup opens a gateway service whose Stripe calls go to a fake Stripe API with a
// test key, and serves its upstream API on loopback.
func setup(t *testing.T) *testBundle {
	t.Helper()
	fake := appbackendtest.NewStripeFake(t)
	clients, err := stripeclient.New(stripeclient.Config{
		Keys:    stripeclient.Keys{Test: appbackendtest.TestSecretKey},
		APIBase: fake.URL,
	})
	require.NoError(t, err)
	svc := gateway.NewService(nil, gateway.ServiceConfig{Upstream: "http://127.0.0.1:1", MaxBody: 1 << 20})
	require.NoError(t, svc.Open(gateway.Deps{Secret: upstreamSecret, Clients: clients, Stripe: clients.FromContext}))
	api := httptest.NewServer(svc.Handler())
	t.Cleanup(api.Close)
	return &testBundle{api: api, fake: fake}
}

// stripe calls the Stripe proxy in test mode for account ("": no
// Appbackend-Account-Id), with the path as sent.
func (b *testBundle) stripe(t *testing.T, path, account string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.api.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+upstreamSecret)
	req.Header.Set("Appbackend-Livemode", "false")
	if account != "" {
		req.Header.Set("Appbackend-Account-Id", account)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(out)
}

func TestUpstreamAPIWantsTheSecretAsBearer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, auth := range map[string]string{"none": "", "wrong": "Bearer whsec_wrong", "bare": upstreamSecret} {
		req, err := http.NewRequest(http.MethodPost, b.api.URL+"/v1/jobs", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
		require.Contains(t, string(out), `"unauthorized"`, name)
	}

	status, out := b.stripe(t, "/v2/elsewhere", "acct_1")
	require.Equal(t, http.StatusNotFound, status, out)
	require.Contains(t, out, `"not_found"`)
}

// The Stripe proxy checks the path as sent: dot-segments and encoded separators never
// reach the API host.
func TestStripeProxyRefusesPathTricks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, path := range []string{
		"/v1/stripe/v1/%2e%2e/%2e%2e/x",
		"/v1/stripe/v1/.%2E/v1/customers",
		"/v1/stripe/v1%2f..%2f..%2fx",
		"/v1/stripe/v1/customers%2Fcus_1",
		"/v1/stripe/v1/customers%3Flimit=1",
		"/v1/stripe/v1/customers%23x",
		"/v1/stripe/v1/customers%5c..",
		"/v1/stripe/v1/x/..;/customers",
	} {
		status, out := b.stripe(t, path, "acct_paths")
		require.Equal(t, http.StatusBadRequest, status, "%s: %s", path, out)
		require.Contains(t, out, `"bad_request"`, path)
	}
	require.Empty(t, b.fake.Requests(), "nothing reached the Stripe API")

	status, out := b.stripe(t, "/v1/stripe/v1/balance", "acct_paths")
	require.Equal(t, http.StatusOK, status, out)
	reqs := b.fake.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "acct_paths", reqs[0].Account)
}

// A missing or malformed Appbackend-Account-Id is the caller's mistake: 400, not a
// 502 that blames Stripe.
func TestStripeProxyNeedsAnAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, account := range []string{"", "not-an-account"} {
		status, out := b.stripe(t, "/v1/stripe/v1/balance", account)
		require.Equal(t, http.StatusBadRequest, status, "%q: %s", account, out)
		require.Contains(t, out, `"bad_request"`)
		require.Contains(t, out, "Appbackend-Account-Id")
	}
	require.Empty(t, b.fake.Requests())
}

// A mode without a key is refused before any call: the proxy never falls back to the
// other mode's key.
func TestStripeProxyNeedsTheModesKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req, err := http.NewRequest(http.MethodGet, b.api.URL+"/v1/stripe/v1/balance", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+upstreamSecret)
	req.Header.Set("Appbackend-Account-Id", "acct_live")
	req.Header.Set("Appbackend-Livemode", "true")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(out))
	require.Contains(t, string(out), `"mode_required"`)
	require.Empty(t, b.fake.Requests())
}

// Stop may come without Start (a Run that failed earlier) and twice.
func TestServiceStopWithoutStartAndTwice(t *testing.T) {
	t.Parallel()
	svc := gateway.NewService(nil, gateway.ServiceConfig{Upstream: "http://127.0.0.1:1", APIAddr: "127.0.0.1:0"})
	svc.Stop()
	require.NoError(t, svc.Open(gateway.Deps{Secret: upstreamSecret}))
	require.NoError(t, svc.Start())
	svc.Stop()
	svc.Stop()
}
