package replicas

import (
	"net/http"
	"testing"
	"time"

	"github.com/appbackend/appbackend/store/postgres"
	"github.com/appbackend/appbackend/store/postgres/pgtest"
	"github.com/appbackend/appbackend/webhook"
)

// The database goes away under a running `appbackend serve` — stopped (connections
// refused) or frozen (connections hang, as across a network partition): /readyz
// answers 503, a webhook answers 503 (so Stripe retries) rather than a 200 for an
// event that was not stored, within bounded times, and the process keeps running.
// Once the database is back, both recover and the events are processed.
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
			serve := startReplica(t, "serve", server.URL(), bins.appbackend, []string{"serve"}, nil)
			ctx := t.Context()
			readyz := serve.url + "/readyz"

			before := newSignedEvent("customer.created")
			if got := get(ctx, readyz); got != http.StatusOK {
				t.Fatalf("GET /readyz before the outage = %d, want 200", got)
			}
			if status, err := post(ctx, serve.url, before); status != http.StatusOK {
				t.Fatalf("POST before the outage = %d %v, want 200", status, err)
			}

			tc.down(server, t)
			outageEnds := time.Now().Add(tc.lasts)
			during := newSignedEvent("customer.created")
			for round := 1; round == 1 || time.Now().Before(outageEnds); round++ {
				start := time.Now()
				if got := get(ctx, readyz); got != http.StatusServiceUnavailable {
					t.Errorf("round %d: GET /readyz while the database is away = %d, want 503", round, got)
				}
				readyTook := time.Since(start)
				start = time.Now()
				status, err := post(ctx, serve.url, during)
				if status != http.StatusServiceUnavailable {
					t.Errorf("round %d: POST while the database is away = %d %v, want 503 so that Stripe retries", round, status, err)
				}
				ackTook := time.Since(start)
				if readyTook > tc.readyWithin || ackTook > tc.ackWithin {
					t.Errorf("round %d: /readyz answered in %v, POST in %v; want at most %v and %v",
						round, readyTook, ackTook, tc.readyWithin, tc.ackWithin)
				}
				if round == 1 {
					t.Logf("database away: /readyz answered 503 in %v, POST 503 in %v", readyTook.Round(time.Millisecond), ackTook.Round(time.Millisecond))
				}
				if got := get(ctx, serve.url+"/healthz"); got != http.StatusOK || !serve.running() {
					t.Fatalf("GET /healthz while the database is away = %d (running %v), want 200 from a running server", got, serve.running())
				}
				time.Sleep(500 * time.Millisecond)
			}

			tc.up(server, t)
			back := time.Now()
			if !waitFor(20*time.Second, func() bool { return get(ctx, readyz) == http.StatusOK }) {
				t.Fatalf("GET /readyz still not 200 20 s after the database came back")
			}
			t.Logf("/readyz 200 again %v after the database came back", time.Since(back).Round(time.Millisecond))
			// Stripe retries the event that got 503; the first retry once /readyz
			// recovered must be acknowledged, and so must a new event.
			after := newSignedEvent("customer.created")
			for _, ev := range []signedEvent{during, after} {
				if status, err := post(ctx, serve.url, ev); status != http.StatusOK {
					t.Errorf("POST %s once /readyz is 200 again = %d %v, want 200", ev.id, status, err)
				}
			}

			db := openDB(t, server.URL())
			processed := func() int {
				return queryInt(t, db, `SELECT COUNT(*) FROM appbackend_events WHERE status = 'processed' AND id IN ($1, $2, $3)`,
					before.id, during.id, after.id)
			}
			if !waitFor(30*time.Second, func() bool { return processed() == 3 }) {
				t.Errorf("%d of the 3 events processed 30 s after the database came back; statuses %v", processed(), statusCounts(t, db))
			}
			if !serve.running() {
				t.Error("the server exited")
			}
		})
	}
}
