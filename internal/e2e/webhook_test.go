package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// TestWebhookScenarios runs the webhook scenarios against real server
// processes, on each database, once with events signed by stripe-go and once by
// stripe-node.
func TestWebhookScenarios(t *testing.T) {
	t.Parallel()
	scenarios := []struct {
		name string
		run  func(t *testing.T, db e2etest.Database, sg signer)
	}{
		{"install live then test", testInstallLiveThenTest},
		{"test event posted to both endpoints", testEventToBothEndpoints},
		{"duplicate ten times concurrently", testDuplicateTimesTen},
		{"uninstall before install", testUninstallBeforeInstall},
		{"old api_version", testOldAPIVersion},
		{"unknown and thin event types", testUnknownAndThinTypes},
		{"bad input stores nothing", testBadInput},
		{"handler fails twice then succeeds", testHandlerFailsTwice},
		{"handler always fails then replay", testDeadThenReplay},
	}
	for _, db := range e2etest.Databases(t) {
		for _, sg := range signers {
			for _, sc := range scenarios {
				t.Run(string(db)+"/"+sg.name+"/"+sc.name, func(t *testing.T) {
					t.Parallel()
					sc.run(t, db, sg)
				})
			}
		}
	}
}

// deliver posts ev signed with secret now and requires a 200; it returns whether the
// server called it a duplicate.
func deliver(t *testing.T, s *e2etest.Server, sg signer, body []byte, secret string) (duplicate bool) {
	t.Helper()
	d := e2etest.MustPostWebhook(t, s.WebhookURL(), body, sg.sign(t, body, secret, time.Now()))
	ok, dup := d.Received()
	require.True(t, ok, "POST /webhooks/stripe = %d %s, want 200 {\"received\":true}", d.Status, d.Body)
	return dup
}

func wantInstallation(t *testing.T, got *e2etest.InstallationRow, mode, status string) {
	t.Helper()
	require.NotNil(t, got, "%s installation = null, want %s", mode, status)
	if got.Status != status {
		require.FailNow(t, fmt.Sprintf("%s installation status = %q, want %q", mode, got.Status, status))
	}
	if got.Livemode != (mode == "live") {
		require.FailNow(t, fmt.Sprintf("%s installation livemode = %v", mode, got.Livemode))
	}
}

func testInstallLiveThenTest(t *testing.T, db e2etest.Database, sg signer) {
	s := startServer(t, db, e2etest.Options{})
	const account = "acct_e2e_install"

	live := event{Type: "account.application.authorized", Account: account, Live: true}
	require.False(t, deliver(t, s, sg, live.body(), e2etest.LiveWebhookSecret), "first delivery of the live install answered duplicate")
	s.WaitEvent(live.ID, "processed")
	state := s.InstallationAPI(account)
	wantInstallation(t, state.Live, "live", "installed")
	if state.Test != nil {
		require.FailNow(t, fmt.Sprintf("test installation = %+v after a live-mode install, want null", *state.Test))
	}
	require.Equal(t, account, state.AccountID, "account_id = %q, want %q", state.AccountID, account)
	if state.Live.InstalledAt == nil || state.Live.UninstalledAt != nil {
		require.FailNow(t, fmt.Sprintf("live installed_at = %v, uninstalled_at = %v; want a time and null", state.Live.InstalledAt, state.Live.UninstalledAt))
	}

	test := event{Type: "account.application.authorized", Account: account, Live: false}
	deliver(t, s, sg, test.body(), e2etest.TestWebhookSecret)
	s.WaitEvent(test.ID, "processed")
	state = s.InstallationAPI(account)
	wantInstallation(t, state.Live, "live", "installed")
	wantInstallation(t, state.Test, "test", "installed")

	list := s.Installations()
	require.Len(t, list, 2, "installations --json = %+v, want the account in both modes", list)
	for _, in := range list {
		require.False(t, in.AccountID != account || in.Status != "installed" || in.InstalledAt == nil, "installation %+v, want %s installed with installed_at", in, account)
	}
}

func testEventToBothEndpoints(t *testing.T, db e2etest.Database, sg signer) {
	s := startServer(t, db, e2etest.Options{Program: e2etest.TestServer})
	const account = "acct_e2e_both_modes"
	for _, live := range []bool{true, false} {
		secret := e2etest.TestWebhookSecret
		if live {
			secret = e2etest.LiveWebhookSecret
		}
		install := event{Type: "account.application.authorized", Account: account, Live: live}
		deliver(t, s, sg, install.body(), secret)
		s.WaitEvent(install.ID, "processed")
	}

	// An app installed in both modes gets each test-mode event on both endpoints, each
	// delivery signed with its endpoint's secret.
	ev := event{Type: "customer.created", Account: account, Live: false}
	body := ev.body()
	require.False(t, deliver(t, s, sg, body, e2etest.LiveWebhookSecret), "delivery to the live endpoint answered duplicate, want the first to be new")
	require.True(t, deliver(t, s, sg, body, e2etest.TestWebhookSecret), "delivery to the test endpoint did not answer duplicate")
	got := s.WaitEvent(ev.ID, "processed")
	require.Equal(t, 1, got.Attempts, "event = %+v, want processed in one attempt for an installed account", got)
	require.False(t, got.NotInstalled, "event = %+v, want processed in one attempt for an installed account", got)
	n := countEvents(s.Events(), ev.ID)
	require.Equal(t, 1, n, "event stored %d times, want once", n)
	n = s.Effects()[ev.ID]
	require.Equal(t, 1, n, "handler effect applied %d times, want once", n)
}

func countEvents(list []e2etest.EventRow, id string) int {
	n := 0
	for _, ev := range list {
		if ev.ID == id {
			n++
		}
	}
	return n
}

func testDuplicateTimesTen(t *testing.T, db e2etest.Database, sg signer) {
	s := startServer(t, db, e2etest.Options{Program: e2etest.TestServer})
	ev := event{Type: "invoice.paid", Account: "acct_e2e_dup", Live: true}
	body := ev.body()
	const copies = 10
	headers := make([]string, copies)
	for i := range headers {
		headers[i] = sg.sign(t, body, e2etest.LiveWebhookSecret, time.Now())
	}
	deliveries := make([]e2etest.Delivery, copies)
	var wg sync.WaitGroup
	for i := range copies {
		wg.Go(func() { deliveries[i] = e2etest.MustPostWebhook(t, s.WebhookURL(), body, headers[i]) })
	}
	wg.Wait()
	fresh := 0
	for i, d := range deliveries {
		ok, dup := d.Received()
		require.True(t, ok, "copy %d: %d %s, want 200", i, d.Status, d.Body)
		if !dup {
			fresh++
		}
	}
	require.Equal(t, 1, fresh, "%d of %d concurrent copies answered as new, want exactly 1 (the rest duplicate)", fresh, copies)
	got := s.WaitEvent(ev.ID, "processed")
	require.Equal(t, 1, got.Attempts, "attempts = %d, want 1", got.Attempts)

	// A redelivery after processing is acknowledged and not processed again.
	require.True(t, deliver(t, s, sg, body, e2etest.LiveWebhookSecret), "redelivery after processing did not answer duplicate")
	marker := event{Type: "customer.created", Account: "acct_e2e_dup", Live: true}
	deliver(t, s, sg, marker.body(), e2etest.LiveWebhookSecret)
	s.WaitEvent(marker.ID, "processed")
	if got, _ := s.Event(ev.ID); got.Attempts != 1 || got.Status != "processed" {
		require.FailNow(t, fmt.Sprintf("after a redelivery the event is %+v, want processed with 1 attempt", got))
	}
	n := countEvents(s.Events(), ev.ID)
	require.Equal(t, 1, n, "event stored %d times, want once", n)
	n = s.Effects()[ev.ID]
	require.Equal(t, 1, n, "handler effect applied %d times, want once", n)
}

func testUninstallBeforeInstall(t *testing.T, db e2etest.Database, sg signer) {
	s := startServer(t, db, e2etest.Options{})
	const account = "acct_e2e_out_of_order"
	now := time.Now()
	install := event{Type: "account.application.authorized", Account: account, Live: true, Created: now.Add(-time.Minute)}
	uninstall := event{Type: "account.application.deauthorized", Account: account, Live: true, Created: now}
	installBody, uninstallBody := install.body(), uninstall.body()

	deliver(t, s, sg, uninstallBody, e2etest.LiveWebhookSecret)
	s.WaitEvent(uninstall.ID, "processed")
	deliver(t, s, sg, installBody, e2etest.LiveWebhookSecret)
	s.WaitEvent(install.ID, "processed")

	list := s.Installations()
	require.False(t, len(list) != 1 || list[0].Status != "uninstalled" || list[0].UninstalledAt == nil, "installations --json = %+v, want %s uninstalled with uninstalled_at", list, account)
	state := s.InstallationAPI(account)
	wantInstallation(t, state.Live, "live", "uninstalled")
	if state.Test != nil {
		require.FailNow(t, fmt.Sprintf("test installation = %+v, want null", *state.Test))
	}

	// The same pair with apps.install events ends the same way.
	const account2 = "acct_e2e_out_of_order_apps"
	installed := event{Type: "apps.install.created", Account: account2, Live: false, Created: now.Add(-time.Minute)}
	deleted := event{Type: "apps.install.deleted", Account: account2, Live: false, Created: now}
	installedBody, deletedBody := installed.body(), deleted.body()
	deliver(t, s, sg, deletedBody, e2etest.TestWebhookSecret)
	s.WaitEvent(deleted.ID, "processed")
	deliver(t, s, sg, installedBody, e2etest.TestWebhookSecret)
	s.WaitEvent(installed.ID, "processed")
	state = s.InstallationAPI(account2)
	wantInstallation(t, state.Test, "test", "uninstalled")
}

func testOldAPIVersion(t *testing.T, db e2etest.Database, sg signer) {
	s := startServer(t, db, e2etest.Options{})
	for _, version := range []string{"2023-10-16", "2019-02-19"} {
		ev := event{Type: "invoice.paid", Account: "acct_e2e_old_version", Live: true, APIVersion: version}
		deliver(t, s, sg, ev.body(), e2etest.LiveWebhookSecret)
		got := s.WaitEvent(ev.ID, "processed")
		require.NotNil(t, got.APIVersion, "api_version = %v, want %q", got.APIVersion, version)
		require.Equal(t, version, *got.APIVersion, "api_version = %v, want %q", got.APIVersion, version)
	}
}

func testUnknownAndThinTypes(t *testing.T, db e2etest.Database, sg signer) {
	s := startServer(t, db, e2etest.Options{})
	unknown := event{Type: "e2e.widget.frobnicated", Account: "acct_e2e_unknown", Live: true}
	deliver(t, s, sg, unknown.body(), e2etest.LiveWebhookSecret)
	if got := s.WaitEvent(unknown.ID, "processed"); got.Type != unknown.Type {
		require.FailNow(t, fmt.Sprintf("type = %q, want %q", got.Type, unknown.Type))
	}

	// A thin (v2) event: created is an RFC 3339 string, the account is in context, and
	// there is no data.object.
	thinID := webhooktest.NewID("evt_test_")
	thin, _ := json.Marshal(map[string]any{
		"id": thinID, "object": "v2.core.event", "type": "v1.billing.meter.error_report_triggered",
		"livemode": false, "created": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"context":        "acct_e2e_thin",
		"related_object": map[string]any{"id": "mtr_e2e", "type": "billing.meter", "url": "/v1/billing/meters/mtr_e2e"},
		"reason":         map[string]any{"type": "request", "request": map[string]any{"id": "req_e2e", "idempotency_key": "e2e"}},
	})
	deliver(t, s, sg, thin, e2etest.TestWebhookSecret)
	got := s.WaitEvent(thinID, "processed")
	require.False(t, got.AccountID == nil || *got.AccountID != "acct_e2e_thin" || got.Livemode, "thin event stored as %+v, want account acct_e2e_thin in test mode", got)
}

// chunked hides a body's length, so the request goes out without Content-Length and
// the server must enforce its limit while reading.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

func testBadInput(t *testing.T, db e2etest.Database, sg signer) {
	const maxBody = 4096
	s := startServer(t, db, e2etest.Options{Env: map[string]string{"APPBACKEND_MAX_BODY": "4096"}})
	valid := func() []byte {
		ev := event{Type: "customer.created", Account: "acct_e2e_bad", Live: true}
		return ev.body()
	}
	padded := func(size int) []byte {
		ev := event{Type: "customer.created", Account: "acct_e2e_bad", Live: true,
			Object: map[string]any{"id": "cus_e2e", "object": "customer", "description": ""}}
		base := len(ev.body())
		ev.Object["description"] = strings.Repeat("x", size-base)
		return ev.body()
	}
	signed := func(body []byte) string { return sg.sign(t, body, e2etest.LiveWebhookSecret, time.Now()) }

	cases := []struct {
		name       string
		body       []byte
		signature  func(body []byte) string
		noLength   bool
		wantStatus int
		wantCode   string
	}{
		{"signed with an unknown secret", valid(), func(b []byte) string {
			return sg.sign(t, b, "whsec_e2e_not_configured", time.Now())
		}, false, 400, "signature_invalid"},
		{"signature over other bytes", valid(), func([]byte) string { return signed(valid()) }, false, 400, "signature_invalid"},
		{"no signature", valid(), func([]byte) string { return "" }, false, 400, "signature_missing"},
		{"signed ten minutes ago", valid(), func(b []byte) string {
			return sg.sign(t, b, e2etest.LiveWebhookSecret, time.Now().Add(-10*time.Minute))
		}, false, 400, "signature_expired"},
		{"signed ten minutes ahead", valid(), func(b []byte) string {
			return sg.sign(t, b, e2etest.LiveWebhookSecret, time.Now().Add(10*time.Minute))
		}, false, 400, "signature_expired"},
		{"body over the limit", padded(maxBody + 1), signed, false, 413, "body_too_large"},
		{"body over the limit without Content-Length", padded(maxBody + 1), signed, true, 413, "body_too_large"},
		{"truncated JSON", valid()[:60], signed, false, 400, "bad_request"},
		{"not JSON", []byte("id=evt_1&type=customer.created"), signed, false, 400, "bad_request"},
		{"JSON array", []byte(`[{"id":"evt_e2e","type":"customer.created"}]`), signed, false, 400, "bad_request"},
		{"no id", []byte(`{"object":"event","type":"customer.created","created":1700000000,"livemode":true,"data":{"object":{}}}`), signed, false, 400, "bad_request"},
		{"no type", []byte(`{"id":"evt_e2e_no_type","object":"event","created":1700000000,"livemode":true,"data":{"object":{}}}`), signed, false, 400, "bad_request"},
		{"empty body", []byte{}, signed, false, 400, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sig := tc.signature(tc.body)
			var d e2etest.Delivery
			if tc.noLength {
				req, err := http.NewRequest(http.MethodPost, s.WebhookURL(), chunked{bytes.NewReader(tc.body)})
				require.NoError(t, err)
				req.Header.Set("Stripe-Signature", sig)
				resp, err := e2etest.HTTPClient.Do(req)
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				d = e2etest.Delivery{Status: resp.StatusCode, Body: b}
			} else {
				d = e2etest.MustPostWebhook(t, s.WebhookURL(), tc.body, sig)
			}
			require.Equal(t, tc.wantStatus, d.Status, "status = %d %s, want %d", d.Status, d.Body, tc.wantStatus)
			code := d.ErrorCode()
			require.NotEqual(t, "", code, "error code = %q in %s, want %q", code, d.Body, tc.wantCode)
			require.False(t, tc.wantCode != "" && code != tc.wantCode, "error code = %q in %s, want %q", code, d.Body, tc.wantCode)
			got := s.Events()
			require.Empty(t, got, "events --json = %+v after a %d, want nothing stored", got, d.Status)
		})
	}

	// The limit is the limit: a signed event of exactly maxBody bytes is accepted.
	atLimit := padded(maxBody)
	require.Len(t, atLimit, maxBody, "built a %d-byte body, want %d", len(atLimit), maxBody)
	deliver(t, s, sg, atLimit, e2etest.LiveWebhookSecret)
	n := len(s.Events())
	require.Equal(t, 1, n, "%d events stored after the body at the limit, want 1", n)
}

func testHandlerFailsTwice(t *testing.T, db e2etest.Database, sg signer) {
	s := startServer(t, db, e2etest.Options{Program: e2etest.TestServer, Env: map[string]string{
		"E2E_FAIL_TYPE": "invoice.paid", "E2E_FAIL_TIMES": "2", "E2E_MAX_ATTEMPTS": "5", "E2E_RETRY_DELAY": "50ms",
	}})
	ev := event{Type: "invoice.paid", Account: "acct_e2e_flaky", Live: true}
	other := event{Type: "customer.created", Account: "acct_e2e_flaky", Live: true}
	deliver(t, s, sg, ev.body(), e2etest.LiveWebhookSecret)
	deliver(t, s, sg, other.body(), e2etest.LiveWebhookSecret)

	got := s.WaitEvent(ev.ID, "processed")
	require.Equal(t, 3, got.Attempts, "attempts = %d, want 3 (two failures, then success)", got.Attempts)
	if got.LastError != nil {
		require.FailNow(t, fmt.Sprintf("last_error = %q after success, want null", *got.LastError))
	}
	if got := s.WaitEvent(other.ID, "processed"); got.Attempts != 1 {
		require.FailNow(t, fmt.Sprintf("the other event took %d attempts, want 1", got.Attempts))
	}
	effects := s.Effects()
	require.Equal(t, 1, effects[ev.ID], "effects = %v, want each event once (the failed attempts' writes rolled back)", effects)
	require.Equal(t, 1, effects[other.ID], "effects = %v, want each event once (the failed attempts' writes rolled back)", effects)
}

func testDeadThenReplay(t *testing.T, db e2etest.Database, sg signer) {
	failSwitch := filepath.Join(t.TempDir(), "fail")
	require.NoError(t, os.WriteFile(failSwitch, nil, 0o644))
	s := startServer(t, db, e2etest.Options{Program: e2etest.TestServer, Env: map[string]string{
		"E2E_FAIL_TYPE": "invoice.paid", "E2E_FAIL_SWITCH": failSwitch, "E2E_MAX_ATTEMPTS": "3", "E2E_RETRY_DELAY": "50ms",
	}})
	ev := event{Type: "invoice.paid", Account: "acct_e2e_dead", Live: true}
	body := ev.body()
	deliver(t, s, sg, body, e2etest.LiveWebhookSecret)

	got := s.WaitEvent(ev.ID, "dead")
	require.Equal(t, 3, got.Attempts, "attempts = %d, want 3", got.Attempts)
	require.NotNil(t, got.LastError, "last_error = %v, want the handler's error", got.LastError)
	require.Contains(t, *got.LastError, "e2e injected failure", "last_error = %v, want the handler's error", got.LastError)
	dead := s.Events("--status", "dead")
	require.Len(t, dead, 1, "events --status dead = %+v, want only %s", dead, ev.ID)
	require.Equal(t, ev.ID, dead[0].ID, "events --status dead = %+v, want only %s", dead, ev.ID)
	n := s.Effects()[ev.ID]
	require.Equal(t, 0, n, "a dead event left %d effect rows, want 0", n)

	// A redelivery of a dead event does not revive it: only a replay does.
	require.True(t, deliver(t, s, sg, body, e2etest.LiveWebhookSecret), "redelivery of a dead event did not answer duplicate")

	require.NoError(t, os.Remove(failSwitch))
	out := s.MustCLI("events", "replay", ev.ID)
	require.Contains(t, out, ev.ID, "events replay printed %q, want it to name the event", out)
	got = s.WaitEvent(ev.ID, "processed")
	require.Equal(t, 4, got.Attempts, "attempts = %d after the replay, want 4", got.Attempts)
	n = s.Effects()[ev.ID]
	require.Equal(t, 1, n, "effect applied %d times after the replay, want once", n)
	res := s.CLI("events", "replay", "evt_e2e_does_not_exist")
	require.Equal(t, 1, res.Code, "replay of an unknown id: exit %d, stderr %q; want 1 and a message naming it", res.Code, res.Stderr)
	require.Contains(t, res.Stderr, "evt_e2e_does_not_exist", "replay of an unknown id: exit %d, stderr %q; want 1 and a message naming it", res.Code, res.Stderr)
}
