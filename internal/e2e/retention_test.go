package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// retentionPruneTimeout bounds how long pruning may take to follow a 2s retention: it
// runs every half second, but the machine running the tests is often loaded.
const retentionPruneTimeout = 30 * time.Second

// TestProcessedRetention runs the binary with APPBACKEND_PROCESSED_RETENTION=2s: the
// processed events leave the inbox within seconds, their ids stay duplicates (a
// redelivery is answered 200 duplicate and not handled again), an event that is still
// to be retried stays, the tombstone of an event created more than 30 days ago goes,
// and so do River's completed jobs.
func TestProcessedRetention(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, db e2etest.Database) {
		s := startServer(t, db, e2etest.Options{Program: e2etest.TestServer, Env: map[string]string{
			"APPBACKEND_PROCESSED_RETENTION": "2s",
			// invoice.* fails and is retried in an hour: failed, never to be pruned.
			"E2E_FAIL_TYPE":    "invoice.*",
			"E2E_MAX_ATTEMPTS": "3",
			"E2E_RETRY_DELAY":  "1h",
		}})
		const account = "acct_e2e_retention"
		var fresh []e2etest.SignedEvent
		for range 5 {
			fresh = append(fresh, e2etest.NewSignedEvent("customer.created", webhooktest.Account(account), webhooktest.Live()))
		}
		old := e2etest.NewSignedEvent("customer.updated", webhooktest.Account(account), webhooktest.Live(),
			webhooktest.Created(time.Now().Add(-40*24*time.Hour)))
		failing := e2etest.NewSignedEvent("invoice.paid", webhooktest.Account(account), webhooktest.Live())
		all := append(append([]e2etest.SignedEvent{}, fresh...), old, failing)
		for _, ev := range all {
			ok, dup := e2etest.MustPostWebhook(t, s.WebhookURL(), ev.Body, ev.Header).Received()
			require.True(t, ok, "%s: received %v, duplicate %v; want a new event", ev.ID, ok, dup)
			require.False(t, dup, "%s: received %v, duplicate %v; want a new event", ev.ID, ok, dup)
		}
		for _, ev := range append(append([]e2etest.SignedEvent{}, fresh...), old) {
			s.WaitEvent(ev.ID, "processed")
		}
		s.WaitEvent(failing.ID, "failed")

		// Pruned within seconds, as `appbackend events --json` shows.
		start := time.Now()
		pruned := e2etest.WaitFor(retentionPruneTimeout, func() bool {
			stored := map[string]bool{}
			for _, ev := range s.Events() {
				stored[ev.ID] = true
			}
			for _, ev := range fresh {
				if stored[ev.ID] {
					return false
				}
			}
			return !stored[old.ID]
		})
		if !pruned {
			require.FailNow(t, fmt.Sprintf("processed events still stored %s after a 2s retention: %+v", retentionPruneTimeout, s.Events()))
		}
		t.Logf("processed events pruned %s after they were seen processed", time.Since(start).Round(10*time.Millisecond))
		ev, ok := s.Event(failing.ID)
		require.True(t, ok, "the failed event awaiting its retry: %+v (stored %v), want it kept as failed", ev, ok)
		require.Equal(t, "failed", ev.Status, "the failed event awaiting its retry: %+v (stored %v), want it kept as failed", ev, ok)

		// The fresh events' tombstones stay (created now, kept 30 days); the old one's
		// (created 40 days ago) goes.
		n := e2etest.QueryInt(t, s.DB(), `SELECT COUNT(*) FROM appbackend_event_tombstones WHERE id IN (`+quoteIDs(fresh)+`)`)
		require.Equal(t, len(fresh), n, "%d tombstones for the %d pruned events, want one each", n, len(fresh))
		require.True(t, e2etest.WaitFor(retentionPruneTimeout, func() bool {
			return e2etest.QueryInt(t, s.DB(), `SELECT COUNT(*) FROM appbackend_event_tombstones WHERE id = '`+old.ID+`'`) == 0
		}), "the tombstone of an event created 40 days ago is still there")

		// Redeliveries of the pruned ids: 200, duplicate, not stored or handled again.
		for _, ev := range fresh {
			d := e2etest.MustPostWebhook(t, s.WebhookURL(), ev.Body, webhooktest.Sign(ev.Body, e2etest.LiveWebhookSecret, time.Now()))
			ok, dup := d.Received()
			require.True(t, ok, "redelivery of pruned %s: %d %s, want 200 duplicate", ev.ID, d.Status, d.Body)
			require.True(t, dup, "redelivery of pruned %s: %d %s, want 200 duplicate", ev.ID, d.Status, d.Body)
		}
		// The old event's id is no longer known: Stripe would not send it again.
		if ok, dup := e2etest.MustPostWebhook(t, s.WebhookURL(), old.Body, webhooktest.Sign(old.Body, e2etest.LiveWebhookSecret, time.Now())).Received(); !ok || dup {
			require.FailNow(t, fmt.Sprintf("an event created 40 days ago whose tombstone was pruned: received %v, duplicate %v; want it new", ok, dup))
		}
		marker := e2etest.NewSignedEvent("customer.deleted", webhooktest.Account(account), webhooktest.Live())
		e2etest.MustPostWebhook(t, s.WebhookURL(), marker.Body, marker.Header)
		s.WaitEvent(marker.ID, "processed")
		effects := s.Effects()
		for _, ev := range fresh {
			n := effects[ev.ID]
			require.Equal(t, 1, n, "%s handled %d times, want once (its redelivery after the prune is a duplicate)", ev.ID, n)
		}
		stored := map[string]bool{}
		for _, ev := range s.Events() {
			stored[ev.ID] = true
		}
		for _, ev := range fresh {
			require.False(t, stored[ev.ID], "redelivered %s was stored again", ev.ID)
		}

		// River's completed jobs go too (its job cleaner runs every 30s).
		if !e2etest.WaitFor(90*time.Second, func() bool {
			return e2etest.QueryInt(t, s.DB(), `SELECT COUNT(*) FROM river_job WHERE state = 'completed' AND kind = 'appbackend.process_events'`) == 0
		}) {
			require.FailNow(t, fmt.Sprintf("River's completed event jobs are still there 90s after a 2s retention: %v", riverJobStates(t, s)))
		}
	})
}

func quoteIDs(evs []e2etest.SignedEvent) string {
	q := make([]string, len(evs))
	for i, ev := range evs {
		q[i] = "'" + ev.ID + "'"
	}
	return strings.Join(q, ",")
}

// TestProcessedRetentionUnderASecondIsRefused: serve refuses a retention shorter than
// a second, from its flag or its variable, with one line and exit 2, before it opens
// the database.
func TestProcessedRetentionUnderASecondIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "APPBACKEND_ADDR=127.0.0.1:0",
		"APPBACKEND_DATABASE=sqlite:" + dir + "/appbackend.db", "STRIPE_APP_SECRETS=" + e2etest.AppSecret}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", env, []string{"serve", "--processed-retention", "500ms"}},
		{"flag zero", env, []string{"serve", "--processed-retention", "0s"}},
		{"variable", append(env, "APPBACKEND_PROCESSED_RETENTION=999ms"), []string{"serve"}},
		{"variable not a duration", append(env, "APPBACKEND_PROCESSED_RETENTION=30 days"), []string{"serve"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e2etest.RunCLI(t, tc.env, tc.args...)
			lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
			require.False(t, res.Code != 2 || len(lines) != 1 || !strings.Contains(strings.ToLower(lines[0]), "processed"), "exit %d, stderr %q; want exit 2 and one line naming the retention and its 1s minimum", res.Code, res.Stderr)
			require.Contains(t, lines[0], "1s", "exit %d, stderr %q; want exit 2 and one line naming the retention and its 1s minimum", res.Code, res.Stderr)
		})
	}
}
