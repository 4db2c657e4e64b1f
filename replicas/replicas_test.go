package replicas

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appbackend/appbackend/store/postgres/pgtest"
	"github.com/appbackend/appbackend/webhook/webhooktest"
)

// Two replicas on one database; events posted to either at random, a quarter of them
// twice (once to each replica, as Stripe's retries land wherever the load balancer
// sends them); one replica killed with SIGKILL half-way. Every sender retries until it
// gets a 200, on a live replica, as Stripe does. Then every event is stored once and
// its effect applied exactly once, by one replica or the other, and the survivor
// finishes the killed replica's work.
func TestReplicasShareTheInbox(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	// The shortest rescue River allows (it must exceed the one-minute job timeout):
	// the killed replica's running jobs are taken over after it.
	vars := map[string]string{"APPBACKEND_JOB_RESCUE_AFTER": "1m"}
	replicas := []*replica{
		startReplica(t, "a", dbURL, bins.testserver, nil, vars),
		startReplica(t, "b", dbURL, bins.testserver, nil, vars),
	}
	survivor, victim := replicas[0], replicas[1]
	db := openDB(t, dbURL)

	const (
		numEvents = 1500
		senders   = 32
	)
	// A delivery posts one event to one replica, or to both at the same moment, so
	// that the replicas race to store the same id.
	type delivery struct {
		event   int
		replica int // 0, 1, or -1 for both at once
	}
	evs := make([]signedEvent, numEvents)
	var deliveries []delivery
	for i := range evs {
		evs[i] = newSignedEvent("customer.created", webhooktest.Account(fmt.Sprintf("acct_%d", i%7)))
		switch first := rand.IntN(2); i % 8 {
		case 0:
			deliveries = append(deliveries, delivery{i, -1})
		case 1:
			deliveries = append(deliveries, delivery{i, first}, delivery{i, 1 - first})
		default:
			deliveries = append(deliveries, delivery{i, first})
		}
	}
	rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })

	var (
		acked                 = make([]atomic.Bool, numEvents)
		ackedDeliveries       atomic.Int64
		unavailable, noAnswer atomic.Int64
		next                  atomic.Int64
		wg                    sync.WaitGroup
	)
	killAt := int64(len(deliveries) / 2)
	killedAfter := make(chan int64, 1)
	go func() {
		for ackedDeliveries.Load() < killAt {
			time.Sleep(time.Millisecond)
		}
		victim.kill()
		killedAfter <- ackedDeliveries.Load()
	}()
	ctx := t.Context()
	// deliver posts event i to target until a replica acknowledges it, moving to a live
	// replica after a failure as Stripe's retry through a load balancer would.
	deliver := func(i int, target *replica) {
		for attempt := 1; ; attempt++ {
			if !target.running() {
				target = survivor // the load balancer stops sending to a dead replica
			}
			status, err := post(ctx, target.url, evs[i])
			if status == 200 {
				acked[i].Store(true)
				return
			}
			if err != nil {
				noAnswer.Add(1)
			} else {
				unavailable.Add(1)
				if status != 503 {
					t.Errorf("event %s: status %d from %s, want 200 or 503", evs[i].id, status, target.name)
					return
				}
			}
			if attempt == 50 || ctx.Err() != nil {
				t.Errorf("event %s: not acknowledged after %d attempts (last: %d %v)", evs[i].id, attempt, status, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
			target = replicas[rand.IntN(len(replicas))]
		}
	}
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for {
				n := int(next.Add(1) - 1)
				if n >= len(deliveries) {
					return
				}
				d := deliveries[n]
				if d.replica >= 0 {
					deliver(d.event, replicas[d.replica])
				} else {
					var both sync.WaitGroup
					for _, r := range replicas {
						both.Go(func() { deliver(d.event, r) })
					}
					both.Wait()
				}
				ackedDeliveries.Add(1)
			}
		})
	}
	wg.Wait()
	sendTime := time.Since(start)
	ackedAtKill := <-killedAfter
	t.Logf("%d deliveries of %d events in %v; replica b killed after %d acknowledgements; %d answers 503, %d without answer (retried)",
		len(deliveries), numEvents, sendTime.Round(time.Millisecond), ackedAtKill, unavailable.Load(), noAnswer.Load())
	if ackedAtKill >= int64(len(deliveries)) {
		t.Errorf("replica b was killed after the load ended, want mid-load")
	}
	for i := range acked {
		if !acked[i].Load() {
			t.Fatalf("event %s was never acknowledged", evs[i].id)
		}
	}

	// The survivor finishes everything, the killed replica's running jobs included
	// (after River rescues them).
	processed := func() int {
		return queryInt(t, db, `SELECT COUNT(*) FROM appbackend_events WHERE status = 'processed'`)
	}
	if !waitFor(3*time.Minute, func() bool { return processed() == numEvents }) {
		t.Fatalf("%d of %d events processed 3 min after the load; statuses: %v", processed(), numEvents, statusCounts(t, db))
	}
	t.Logf("all events processed %v after the load", (time.Since(start) - sendTime).Round(time.Millisecond))

	if n := queryInt(t, db, `SELECT COUNT(*) FROM appbackend_events`); n != numEvents {
		t.Errorf("%d events stored, want %d (each acknowledged event once)", n, numEvents)
	}
	stored := map[string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT id FROM appbackend_events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	rows.Close()
	for _, ev := range evs {
		if !stored[ev.id] {
			t.Errorf("acknowledged event %s is not stored", ev.id)
		}
	}
	if n := queryInt(t, db, `SELECT COUNT(*) FROM (SELECT event_id FROM replica_effects GROUP BY event_id HAVING COUNT(*) > 1) twice`); n != 0 {
		t.Errorf("%d events applied more than once, want none", n)
	}
	if n := queryInt(t, db, `SELECT COUNT(DISTINCT event_id) FROM replica_effects`); n != numEvents {
		t.Errorf("%d events applied, want %d", n, numEvents)
	}
	byReplica := map[string]int{}
	rows, err = db.QueryContext(ctx, `SELECT replica, COUNT(*) FROM replica_effects GROUP BY replica`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			name string
			n    int
		)
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		byReplica[name] = n
	}
	rows.Close()
	t.Logf("effects applied by replica: %v", byReplica)
	if byReplica["a"] == 0 || byReplica["b"] == 0 {
		t.Errorf("effects by replica %v: want both replicas to have processed events (one queue shared)", byReplica)
	}
}

// statusCounts counts the inbox's events by status.
func statusCounts(t testing.TB, db *sql.DB) map[string]int {
	t.Helper()
	counts := map[string]int{}
	rows, err := db.QueryContext(context.Background(), `SELECT status, COUNT(*) FROM appbackend_events GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status string
			n      int
		)
		if err := rows.Scan(&status, &n); err != nil {
			t.Fatal(err)
		}
		counts[status] = n
	}
	return counts
}
