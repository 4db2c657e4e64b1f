package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/appbackend/appbackend/internal/gateway"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

const alertSecret = "whsec_dGhpcyBpcyB0aGUgYWxlcnQgc2VjcmV0IG9mIGUyZQ=="

// alertReceiver is a loopback HTTP server that keeps the alerts whose Standard
// Webhooks signature verifies.
type alertReceiver struct {
	url  string
	mu   sync.Mutex
	got  []map[string]any
	bad  int
	seen chan struct{}
}

func newAlertReceiver(t *testing.T) *alertReceiver {
	r := &alertReceiver{seen: make(chan struct{}, 16)}
	signer, err := gateway.ParseSecret(alertSecret)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var a map[string]any
		r.mu.Lock()
		if signer.Verify(req.Header, body, time.Now(), 5*time.Minute) != nil || json.Unmarshal(body, &a) != nil {
			r.bad++
		} else {
			r.got = append(r.got, a)
		}
		r.mu.Unlock()
		r.seen <- struct{}{}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	r.url = "http://" + ln.Addr().String() + "/alerts"
	return r
}

// TestBulkReplayPauseAndAlerts drives `appbackend events replay --status`, `events
// pause|resume` and doctor against a running server, on each database: events that
// died of a handler bug raise one signed alert, are counted by a dry run, replayed in
// bulk while processing is paused (so they wait, pending), and processed once resumed.
func TestBulkReplayPauseAndAlerts(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, func(t *testing.T, db e2etest.Database) {
		alerts := newAlertReceiver(t)
		failSwitch := filepath.Join(t.TempDir(), "fail")
		require.NoError(t, os.WriteFile(failSwitch, nil, 0o600))
		s := startServer(t, db, e2etest.Options{Program: e2etest.TestServer, Env: map[string]string{
			"E2E_FAIL_TYPE": "invoice.*", "E2E_FAIL_SWITCH": failSwitch, "E2E_MAX_ATTEMPTS": "1",
			"APPBACKEND_ALERT_URL": alerts.url, "APPBACKEND_ALERT_SECRET": alertSecret,
		}})
		ctx := t.Context()
		var invoices []string
		for range 4 {
			ev := e2etest.NewSignedEvent("invoice.paid", webhooktest.Account("acct_bulk"))
			d, err := ev.Post(ctx, s)
			require.NoError(t, err, "webhook: %v", d.Status)
			require.Equal(t, 200, d.Status, "webhook: %v %v", d.Status, err)
			invoices = append(invoices, ev.ID)
		}
		other := e2etest.NewSignedEvent("customer.created", webhooktest.Account("acct_bulk"))
		d, err := other.Post(ctx, s)
		require.NoError(t, err, "webhook: %v", d.Status)
		require.Equal(t, 200, d.Status, "webhook: %v %v", d.Status, err)
		for _, id := range invoices {
			s.WaitEvent(id, "dead")
		}
		s.WaitEvent(other.ID, "processed")

		// The first death is alerted at once; the others gather for the next window.
		select {
		case <-alerts.seen:
		case <-time.After(30 * time.Second):
			require.FailNow(t, "no alert within 30 s of the events dying")
		}
		alerts.mu.Lock()
		if alerts.bad != 0 || len(alerts.got) == 0 || alerts.got[0]["type"] != "events.dead" {
			require.FailNow(t, fmt.Sprintf("alerts %v (%d badly signed), want a signed events.dead", alerts.got, alerts.bad))
		}
		alerts.mu.Unlock()

		for _, args := range [][]string{
			{"events", "replay", "--status", "pending"},
			{"events", "replay", "--status", "dead", invoices[0]},
			{"events", "replay", "--status", "dead", "--since", "yesterday"},
			{"events", "replay", "--type", "invoice.paid"},
		} {
			res := s.CLI(args...)
			if res.Code != 2 || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 || res.Stderr == "" {
				require.FailNow(t, fmt.Sprintf("appbackend %s: exit %d, stderr %q; want 2 and one line", strings.Join(args, " "), res.Code, res.Stderr))
			}
		}
		out := s.MustCLI("events", "replay", "--status", "dead", "--type", "invoice.paid", "--dry-run")
		require.Contains(t, out, "4 dead events would be replayed", "dry run printed %q", out)
		if ev, _ := s.Event(invoices[0]); ev.Status != "dead" {
			require.FailNow(t, fmt.Sprintf("a dry run replayed %s: %s", invoices[0], ev.Status))
		}

		out = s.MustCLI("events", "pause")
		require.Contains(t, out, "paused", "events pause printed %q", out)
		if !e2etest.WaitFor(30*time.Second, func() bool {
			return strings.Contains(s.LogTail(), "event processing paused on this process")
		}) {
			require.FailNow(t, fmt.Sprintf("the server did not apply the pause within 30 s:\n%s", s.LogTail()))
		}
		var findings []struct{ Check string }
		require.NoError(t, json.Unmarshal([]byte(s.MustCLI("doctor", "--json")), &findings))
		require.Contains(t, func() string { b, _ := json.Marshal(findings); return string(b) }(), `"events_paused"`, "doctor while paused: %+v, want events_paused", findings)
		m := scrapeMetrics(t, s)
		require.Contains(t, m, "\nappbackend_events_paused 1\n", "/metrics while paused has no appbackend_events_paused 1")

		// The fix is out: replay them all while paused; they wait.
		require.NoError(t, os.Remove(failSwitch))
		out = s.MustCLI("events", "replay", "--status", "dead", "--type", "invoice.paid", "--account", "acct_bulk")
		require.Contains(t, out, "replaying 4 dead events", "bulk replay printed %q", out)
		require.Contains(t, out, "4 events queued for processing again", "bulk replay printed %q", out)
		late := e2etest.NewSignedEvent("customer.created", webhooktest.Account("acct_bulk"))
		if d, err := late.Post(ctx, s); err != nil || d.Status != 200 {
			require.FailNow(t, fmt.Sprintf("a webhook while paused: %v %v, want 200", d.Status, err))
		}
		// An observation window, not a synchronisation: a correct pause passes however
		// long it is.
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			for _, id := range append([]string{late.ID}, invoices...) {
				ev, _ := s.Event(id)
				require.Equal(t, "pending", ev.Status, "while paused, event %s is %s, want pending", id, ev.Status)
			}
		}

		s.MustCLI("events", "resume")
		for _, id := range append([]string{late.ID}, invoices...) {
			s.WaitEvent(id, "processed")
		}
		m = scrapeMetrics(t, s)
		require.Contains(t, m, "\nappbackend_events_paused 0\n", "/metrics after resume has no appbackend_events_paused 0")
		effects := s.Effects()
		for _, id := range invoices {
			// One effect of the failed attempt (rolled back with it), one of the replay.
			if effects[id] != 1 {
				require.FailNow(t, fmt.Sprintf("event %s applied %d times, want once", id, effects[id]))
			}
		}
	})
}

func scrapeMetrics(t *testing.T, s *e2etest.Server) string {
	t.Helper()
	res, err := e2etest.HTTPClient.Get(s.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
