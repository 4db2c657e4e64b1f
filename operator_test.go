package appbackend_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

const webhookSecret = "whsec_operator_test"

func postEvent(t *testing.T, b *testBundle, body []byte, secret string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.baseURL+"/webhooks/stripe", strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", webhooktest.Sign(body, secret, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func scrape(t *testing.T, b *testBundle) string {
	t.Helper()
	resp, err := http.Get(b.baseURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	return string(raw)
}

// TestMetricsAfterAScriptedSequence drives the real server and reads /metrics.
func TestMetricsAfterAScriptedSequence(t *testing.T) {
	t.Parallel()
	processed := make(chan string, 10)
	b := setupWith(t, func(c *appbackend.Config) { c.WebhookSecrets = []string{webhookSecret} }, func(app *appbackend.App) {
		app.OnEvent("customer.created", func(ctx context.Context, ev appbackend.Event) error {
			processed <- ev.ID
			return nil
		})
	})

	def := defaultSigned(userID, acctID)
	now := time.Now().Unix()
	require.Equal(t, 200, b.do(t, http.MethodPost, "/api/whoami", hmacHeader(now, def, secretA), def).status)
	require.Equal(t, 401, b.do(t, http.MethodPost, "/api/whoami", hmacHeader(now-3600, def, secretA), def).status)
	require.Equal(t, 401, b.do(t, http.MethodPost, "/api/whoami", "", def).status)

	install := webhooktest.Event("account.application.authorized", webhooktest.Account("acct_m1"))
	customer := webhooktest.Event("customer.created", webhooktest.Account("acct_m1"))
	require.Equal(t, 200, postEvent(t, b, install, webhookSecret))
	require.Equal(t, 200, postEvent(t, b, customer, webhookSecret))
	require.Equal(t, 200, postEvent(t, b, customer, webhookSecret), "a duplicate is acknowledged")
	require.Equal(t, 400, postEvent(t, b, customer, "whsec_wrong"))
	select {
	case <-processed:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "customer.created was not processed")
	}

	wantLines := []string{
		`appbackend_http_requests_total{route="POST /api/whoami",status="200"} 1`,
		`appbackend_http_requests_total{route="POST /api/whoami",status="401"} 2`,
		`appbackend_signature_failures_total{endpoint="api",reason="expired"} 1`,
		`appbackend_signature_failures_total{endpoint="api",reason="missing"} 1`,
		`appbackend_signature_failures_total{endpoint="webhook",reason="invalid"} 1`,
		`appbackend_events_received_total{type="account.application.authorized"} 1`,
		`appbackend_events_received_total{type="customer.created"} 1`,
		`appbackend_events_duplicate_total{type="customer.created"} 1`,
		`appbackend_http_requests_total{route="POST /webhooks/stripe",status="200"} 3`,
		`appbackend_http_requests_total{route="POST /webhooks/stripe",status="400"} 1`,
	}
	require.Eventually(t, func() bool {
		body := scrape(t, b)
		for _, want := range wantLines {
			if !strings.Contains(body, want) {
				return false
			}
		}
		// The install event is processed apart from customer.created: wait for it too.
		return strings.Contains(body, `appbackend_events_processed_total{type="customer.created"} 1`) &&
			strings.Contains(body, `appbackend_installations{mode="test",state="installed"} 1`)
	}, 10*time.Second, 50*time.Millisecond, "metrics lack one of %q", wantLines)
	body := scrape(t, b)
	require.Contains(t, body, `appbackend_installations{mode="test",state="installed"} 1`)
	require.NotContains(t, body, "Access-Control-Allow-Origin")
}

func TestAdminIsMountedBehindItsToken(t *testing.T) {
	t.Parallel()
	const token = "admin-token-for-tests-0123456789"
	b := setup(t, func(c *appbackend.Config) { c.AdminToken = token })
	for _, path := range []string{"/admin/", "/admin/events", "/admin/api/events", "/admin/api/installations"} {
		r := b.do(t, http.MethodGet, path, "", "")
		require.Equal(t, 401, r.status, path)
		require.Empty(t, r.header.Get("Access-Control-Allow-Origin"), path)
		require.NotContains(t, r.raw, token)
	}
	r := b.do(t, http.MethodGet, "/admin/api/events", "", "", "Authorization", "Bearer "+token)
	require.Equal(t, 200, r.status, r.raw)

	// River's own UI and its API sit behind the same token.
	r = b.do(t, http.MethodGet, "/admin/river/", "", "")
	require.Equal(t, 401, r.status)
	r = b.do(t, http.MethodGet, "/admin/river/", "", "", "Authorization", "Bearer "+token)
	require.Equal(t, 200, r.status)
	require.Contains(t, r.raw, "<html")
	r = b.do(t, http.MethodGet, "/admin/river/api/jobs?state=completed", "", "", "Authorization", "Bearer "+token)
	require.Equal(t, 200, r.status, r.raw)
	require.Contains(t, r.raw, `"data"`)
	r = b.do(t, http.MethodGet, "/admin/river/api/queues", "", "", "Authorization", "Bearer "+token)
	require.Equal(t, 200, r.status, r.raw)
	require.Contains(t, r.raw, "appbackend_events")

	disabled := setup(t)
	r = disabled.do(t, http.MethodGet, "/admin/", "", "")
	require.Equal(t, 404, r.status)
	require.Contains(t, r.raw, "APPBACKEND_ADMIN_TOKEN")
	require.NotContains(t, b.logs.String(), token)
}

// TestMetricsOnASeparateListener: with a metrics listener, /metrics is served there
// and only there; the public listener answers 404 JSON for it.
func TestMetricsOnASeparateListener(t *testing.T) {
	t.Parallel()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := setup(t, func(c *appbackend.Config) { c.MetricsListener = mln })

	r := b.do(t, http.MethodGet, "/metrics", "", "")
	require.Equal(t, 404, r.status, r.raw)
	require.Equal(t, "not_found", r.body["error"].(map[string]any)["code"], r.raw)

	private := "http://" + mln.Addr().String()
	resp, err := http.Get(private + "/metrics")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(raw), `appbackend_http_requests_total{route="unmatched",status="404"} 1`)

	resp, err = http.Get(private + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode, "the metrics listener serves nothing else")
}
