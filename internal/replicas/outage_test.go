package replicas

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/webhook"
	"github.com/stretchr/testify/require"
)

// The database goes away under a running `appbackend serve` — stopped (connections
// refused) or frozen (connections hang, as across a network partition): /readyz
// answers 503, a webhook answers 503 (so Stripe retries) rather than a 200 for an
// event that was not stored, within bounded times, and the process keeps running.
// Once the database is back, both recover and the events are processed within 10 s.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		down, up func(*pgtest.Server, testing.TB)
		// lasts is how long the outage lasts, long enough for River's fetches,
		// completions and leader election to fail too.
		lasts time.Duration
		// readyWithin and ackWithin bound the answers while the database is away.
		readyWithin, ackWithin time.Duration
	}{
		{"stopped", (*pgtest.Server).Down, (*pgtest.Server).Up, 6 * time.Second, 2 * time.Second, 2 * time.Second},
		{"frozen", (*pgtest.Server).Freeze, (*pgtest.Server).Thaw, 12 * time.Second,
			postgres.PingTimeout + 2*time.Second, webhook.DefaultCommitTimeout + 3*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server := pgtest.StartServer(t)
			serve := startReplica(t, "serve", server.URL(), e2etest.Serve, nil)
			ctx := t.Context()
			readyz := serve.URL + "/readyz"

			before := e2etest.NewSignedEvent("customer.created")
			got := get(ctx, readyz)
			require.Equal(t, http.StatusOK, got, "GET /readyz before the outage = %d, want 200", got)
			status, err := post(ctx, serve, before)
			require.Equal(t, http.StatusOK, status, "POST before the outage = %d %v, want 200", status, err)

			tc.down(server, t)
			outageEnds := time.Now().Add(tc.lasts)
			during := e2etest.NewSignedEvent("customer.created")
			for round := 1; round == 1 || time.Now().Before(outageEnds); round++ {
				start := time.Now()
				got := get(ctx, readyz)
				require.Equal(t, http.StatusServiceUnavailable, got, "round %d: GET /readyz while the database is away = %d, want 503", round, got)
				readyTook := time.Since(start)
				start = time.Now()
				status, err := post(ctx, serve, during)
				require.Equal(t, http.StatusServiceUnavailable, status, "round %d: POST while the database is away = %d %v, want 503 so that Stripe retries", round, status, err)
				ackTook := time.Since(start)
				require.LessOrEqual(t, readyTook, tc.readyWithin, "round %d: /readyz answered in %v, POST in %v; want at most %v and %v", round, readyTook, ackTook, tc.readyWithin, tc.ackWithin)
				require.LessOrEqual(t, ackTook, tc.ackWithin, "round %d: /readyz answered in %v, POST in %v; want at most %v and %v", round, readyTook, ackTook, tc.readyWithin, tc.ackWithin)
				if round == 1 {
					t.Logf("database away: /readyz answered 503 in %v, POST 503 in %v", readyTook.Round(time.Millisecond), ackTook.Round(time.Millisecond))
				}
				if got := get(ctx, serve.URL+"/healthz"); got != http.StatusOK || !serve.Running() {
					require.FailNow(t, fmt.Sprintf("GET /healthz while the database is away = %d (running %v), want 200 from a running server", got, serve.Running()))
				}
				time.Sleep(500 * time.Millisecond)
			}

			tc.up(server, t)
			back := time.Now()
			require.True(t, e2etest.WaitFor(20*time.Second, func() bool { return get(ctx, readyz) == http.StatusOK }), "GET /readyz still not 200 20 s after the database came back")
			t.Logf("/readyz 200 again %v after the database came back", time.Since(back).Round(time.Millisecond))
			// Stripe retries the event that got 503; the first retry once /readyz
			// recovered must be acknowledged, and so must a new event.
			after := e2etest.NewSignedEvent("customer.created")
			for _, ev := range []e2etest.SignedEvent{during, after} {
				status, err := post(ctx, serve, ev)
				require.Equal(t, http.StatusOK, status, "POST %s once /readyz is 200 again = %d %v, want 200", ev.ID, status, err)
			}

			db := e2etest.OpenDB(t, server.URL())
			processed := func() int {
				return e2etest.QueryInt(t, db, `SELECT COUNT(*) FROM appbackend_events WHERE status = 'processed' AND id IN ($1, $2, $3)`,
					before.ID, during.ID, after.ID)
			}
			// Jobs whose fetch or completion the outage cut off are handed back by their
			// own process, not left to River's rescuer minutes later.
			if !e2etest.WaitFor(10*time.Second-time.Since(back), func() bool { return processed() == 3 }) {
				require.FailNow(t, fmt.Sprintf("%d of the 3 events processed 10 s after the database came back; statuses %v", processed(), e2etest.StatusCounts(t, db)))
			}
			t.Logf("the 3 events processed %v after the database came back", time.Since(back).Round(time.Millisecond))
			require.True(t, serve.Running(), "the server exited")
		})
	}
}
