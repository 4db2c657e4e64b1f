package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/stripeclient/stripetest"
)

const webhookSecret = "whsec_quickstart_test"

// get sends a signed GET, with the signed user and account in the query string.
func get(t *testing.T, base, path, account string) (int, map[string]any) {
	t.Helper()
	header, _, err := appauth.Sign([]string{secret}, time.Now(), "usr_quick", account, nil)
	require.NoError(t, err)
	q := url.Values{"user_id": {"usr_quick"}, "account_id": {account}}
	req, err := http.NewRequest(http.MethodGet, base+path+"?"+q.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", header)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out
}

// install posts the account's install event to the webhook endpoint, signed as Stripe.
func install(t *testing.T, base, account string) {
	t.Helper()
	body := fmt.Sprintf(`{"id":"evt_install_%s","object":"event","type":"account.application.authorized","account":%q,`+
		`"livemode":false,"created":%d,"api_version":"2024-06-20","data":{"object":{"id":"ca_quick","object":"application"}}}`,
		account, account, time.Now().Unix())
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: webhookSecret})
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/stripe", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func balanceReads(fake *stripetest.Fake, account string) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Method == http.MethodGet && r.Path == "/v1/balance" && r.Account == account {
			n++
		}
	}
	return n
}

func TestExportIsALongJobTheUIPolls(t *testing.T) {
	t.Parallel()
	fake := stripetest.NewFake(t)
	base := startQuickstart(t, map[string]string{
		"STRIPE_TEST_SECRET_KEY": "sk_test_quickstarttest",
		"STRIPE_API_BASE":        fake.URL,
	})

	status, out := post(t, base+"/api/export", "acct_exporter", "")
	require.Equal(t, http.StatusAccepted, status, out)
	id := strconv.FormatInt(int64(out["job_id"].(float64)), 10)

	var job map[string]any
	require.Eventually(t, func() bool {
		status, job = get(t, base, "/api/jobs/"+id, "acct_exporter")
		return status == http.StatusOK && job["state"] == "completed"
	}, 15*time.Second, 50*time.Millisecond, "export job never completed")
	require.Equal(t, "quickstart.export", job["kind"])
	require.Equal(t, map[string]any{"available": map[string]any{"usd": float64(0)}, "pending": map[string]any{"usd": float64(0)}, "livemode": false}, job["output"])
	require.Equal(t, 1, balanceReads(fake, "acct_exporter"), "the job read the caller's balance")

	status, out = get(t, base, "/api/jobs/"+id, "acct_someone_else")
	require.Equal(t, http.StatusNotFound, status, out)
}

func TestRefreshRunsPerInstalledAccount(t *testing.T) {
	t.Parallel()
	fake := stripetest.NewFake(t)
	base := startQuickstart(t, map[string]string{
		"STRIPE_TEST_SECRET_KEY":   "sk_test_quickstarttest",
		"STRIPE_API_BASE":          fake.URL,
		"STRIPE_WEBHOOK_SECRETS":   webhookSecret,
		"QUICKSTART_REFRESH_EVERY": "@every 1s",
	})
	install(t, base, "acct_refreshed")
	require.Eventually(t, func() bool { return balanceReads(fake, "acct_refreshed") >= 2 }, 15*time.Second, 50*time.Millisecond,
		"the installed account's balance was not refreshed every second")
	require.Zero(t, balanceReads(fake, ""), "the refresh never reads the platform's balance")
}

func TestInvalidRefreshSpecStopsTheStart(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STRIPE_APP_SECRETS":       secret,
		"APPBACKEND_DATABASE":      "sqlite:" + t.TempDir() + "/qs.db",
		"QUICKSTART_REFRESH_EVERY": "every hour",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, func(k string) string { return env[k] })
	require.ErrorIs(t, err, appbackend.ErrConfig)
	require.ErrorContains(t, err, `schedule "quickstart.refresh": invalid schedule spec "every hour"`)
}
