package replicas

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// TestPauseStopsEveryReplica: `appbackend events pause`, run beside two replicas on one
// PostgreSQL database, stops both from processing (each says so in its log) while
// both still acknowledge and store webhooks; `events resume` makes them catch up, every
// event applied once.
func TestPauseStopsEveryReplica(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	replicas := []*e2etest.Server{
		e2etest.Start(t, e2etest.Options{Program: e2etest.TestServer, Name: "a", Database: dbURL, LogLevel: "info"}),
		e2etest.Start(t, e2etest.Options{Program: e2etest.TestServer, Name: "b", Database: dbURL, LogLevel: "info"}),
	}
	db := e2etest.OpenDB(t, dbURL)
	ctx := t.Context()

	out := replicas[0].MustCLI("events", "pause")
	require.Contains(t, out, "paused", "events pause printed %q", out)
	for _, r := range replicas {
		if !e2etest.WaitFor(30*time.Second, func() bool { return strings.Contains(r.LogTail(), "event processing paused on this process") }) {
			require.FailNow(t, fmt.Sprintf("replica %s did not apply the pause within 30 s:\n%s", r.Name, r.LogTail()))
		}
	}
	var ids []string
	for i := range 20 {
		ev := e2etest.NewSignedEvent("customer.created", webhooktest.Account("acct_pause"))
		if status, err := post(ctx, replicas[i%2], ev); status != 200 {
			require.FailNow(t, fmt.Sprintf("webhook to %s while paused: %d %v, want 200", replicas[i%2].Name, status, err))
		}
		ids = append(ids, ev.ID)
	}
	// An observation window, not a synchronisation: a correct pause passes however long.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		n := e2etest.QueryInt(t, db, `SELECT COUNT(*) FROM e2e_effects`)
		require.Equal(t, 0, n, "%d events applied while paused", n)
	}
	got := e2etest.StatusCounts(t, db)["pending"]
	require.Equal(t, len(ids), got, "%d pending while paused, want %d stored", got, len(ids))

	replicas[1].MustCLI("events", "resume")
	if !e2etest.WaitFor(60*time.Second, func() bool { return e2etest.StatusCounts(t, db)["processed"] == len(ids) }) {
		require.FailNow(t, fmt.Sprintf("after resume: %v, want %d processed", e2etest.StatusCounts(t, db), len(ids)))
	}
	effects := e2etest.EffectCounts(t, db)
	for _, id := range ids {
		if effects[id] != 1 {
			require.FailNow(t, fmt.Sprintf("event %s applied %d times, want once", id, effects[id]))
		}
	}
	for _, r := range replicas {
		if !strings.Contains(r.LogTail(), "event processing resumed on this process") {
			require.FailNow(t, fmt.Sprintf("replica %s does not log the resume", r.Name))
		}
	}
}
