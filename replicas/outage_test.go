package replicas

import (
	"net/http"
	"testing"
	"time"

	"github.com/appbackend/appbackend/store/postgres"
	"github.com/appbackend/appbackend/store/postgres/pgtest"
)

// The database goes away under a running `appbackend serve`: /readyz answers 503, a
// webhook answers 503 (so Stripe retries) rather than a 200 for an event that was not
// stored, the process keeps running, and once the database is back both recover and
// the events are processed.
func TestDatabaseOutage(t *testing.T) {
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

	server.Down(t)

	start := time.Now()
	if got := get(ctx, readyz); got != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz while the database is down = %d, want 503", got)
	}
	if took := time.Since(start); took > postgres.PingTimeout+2*time.Second {
		t.Errorf("GET /readyz took %v while the database is down, want at most about %v", took, postgres.PingTimeout)
	}
	during := newSignedEvent("customer.created")
	start = time.Now()
	status, err := post(ctx, serve.url, during)
	if status != http.StatusServiceUnavailable {
		t.Errorf("POST while the database is down = %d %v, want 503 so that Stripe retries", status, err)
	}
	t.Logf("while down: /readyz and POST answered within %v", time.Since(start).Round(time.Millisecond))
	// An outage of some seconds, long enough for River's fetches, completions and
	// leader election to fail too: the server keeps running and keeps answering 503.
	for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if got := get(ctx, serve.url+"/healthz"); got != http.StatusOK || !serve.running() {
			t.Fatalf("GET /healthz while the database is down = %d (running %v), want 200 from a running server", got, serve.running())
		}
		if status, err := post(ctx, serve.url, during); status != http.StatusServiceUnavailable {
			t.Fatalf("POST while the database is down = %d %v, want 503", status, err)
		}
	}

	server.Up(t)

	if !waitFor(20*time.Second, func() bool { return get(ctx, readyz) == http.StatusOK }) {
		t.Fatalf("GET /readyz still not 200 20 s after the database came back")
	}
	// Stripe retries the event that got 503; the first retry after /readyz recovered
	// must be acknowledged, and so must a new event.
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
}
