package replicas

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// Two replicas on one database, with a schedule every second; events posted to either
// at random, a quarter of them twice (to both replicas, one after the other or at the
// same moment, as Stripe's retries land wherever the load balancer sends them); one
// replica killed with SIGKILL half-way. Every sender retries until it gets a 200, on a
// live replica, as Stripe does. Then every event is stored once and its effect
// applied exactly once, by one replica or the other; the survivor finishes the killed
// replica's work; and every slot of the schedule ran once, or was folded once into the
// next run while no leader was elected.
func TestReplicasShareTheInbox(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	// River's rescue delay stays at its default (5 min): the killed replica's running
	// jobs must be handed to the survivor long before, once its heartbeat is stale.
	vars := map[string]string{"E2E_SCHEDULE": "@every 1s"}
	replicas := []*e2etest.Server{
		startReplica(t, "a", dbURL, e2etest.TestServer, vars),
		startReplica(t, "b", dbURL, e2etest.TestServer, vars),
	}
	db := e2etest.OpenDB(t, dbURL)

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
	evs := make([]e2etest.SignedEvent, numEvents)
	var deliveries []delivery
	for i := range evs {
		evs[i] = e2etest.NewSignedEvent("customer.created", webhooktest.Account(fmt.Sprintf("acct_%d", i%7)))
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
	// Written before killedAfter is sent, read after it is received.
	var (
		victim   *e2etest.Server
		killedAt time.Time
		// runningAtKill are the events of the processing jobs running at the kill,
		// the killed replica's among them.
		runningAtKill []string
	)
	killedAfter := make(chan int64, 1)
	ctx := t.Context()
	go func() {
		for ackedDeliveries.Load() < killAt {
			time.Sleep(time.Millisecond)
		}
		// The replica that ran the schedule's latest slot, most likely River's leader
		// (which enqueues the runs and hears of them first): its death makes the
		// other take over the lead.
		victim = replicas[1]
		var leader string
		_ = db.QueryRowContext(ctx, `SELECT replica FROM e2e_slots ORDER BY ran_at DESC LIMIT 1`).Scan(&leader)
		if leader == replicas[0].Name {
			victim = replicas[0]
		}
		killedAt = time.Now()
		victim.Kill()
		runningAtKill = eventsOfRunningJobs(t, db)
		killedAfter <- ackedDeliveries.Load()
	}()
	// deliver posts event i to target until a replica acknowledges it, moving to a live
	// replica after a failure as Stripe's retry through a load balancer would.
	deliver := func(i int, target *e2etest.Server) {
		for attempt := 1; ; attempt++ {
			if !target.Running() {
				target = live(replicas) // the load balancer stops sending to a dead replica
			}
			status, err := post(ctx, target, evs[i])
			if status == 200 {
				acked[i].Store(true)
				return
			}
			if err != nil {
				noAnswer.Add(1)
			} else {
				unavailable.Add(1)
				if status != 503 {
					require.FailNow(t, fmt.Sprintf("event %s: status %d from %s, want 200 or 503", evs[i].ID, status, target.Name))
					return
				}
			}
			if attempt == 50 || ctx.Err() != nil {
				require.FailNow(t, fmt.Sprintf("event %s: not acknowledged after %d attempts (last: %d %v)", evs[i].ID, attempt, status, err))
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
	t.Logf("%d deliveries of %d events in %v; replica %s killed after %d acknowledgements; %d answers 503, %d without answer (retried)",
		len(deliveries), numEvents, sendTime.Round(time.Millisecond), victim.Name, ackedAtKill, unavailable.Load(), noAnswer.Load())
	if ackedAtKill >= int64(len(deliveries)) {
		require.FailNow(t, fmt.Sprintf("replica %s was killed after the load ended, want mid-load", victim.Name))
	}
	for i := range acked {
		if !acked[i].Load() {
			require.FailNow(t, fmt.Sprintf("event %s was never acknowledged", evs[i].ID))
		}
	}

	// The survivor finishes everything, the killed replica's running jobs included,
	// within 30 s of the kill.
	var late []string
	if !e2etest.WaitFor(30*time.Second-time.Since(killedAt), func() bool {
		processedAt := processedTimes(t, db)
		late = late[:0]
		for _, id := range runningAtKill {
			if at, ok := processedAt[id]; !ok || at.Sub(killedAt) > 30*time.Second {
				late = append(late, id)
			}
		}
		return len(late) == 0
	}) {
		require.FailNow(t, fmt.Sprintf("%d of the %d events in jobs running at the kill were not processed within 30 s of it: %v; River's jobs: %v", len(late), len(runningAtKill), late[:min(len(late), 10)], e2etest.CountBy(t, db, `SELECT kind || '/' || state, COUNT(*) FROM river_job GROUP BY kind, state`)))
	}
	t.Logf("%d events were in jobs running at the kill; all processed within 30 s of it", len(runningAtKill))
	processed := func() int {
		return e2etest.QueryInt(t, db, `SELECT COUNT(*) FROM appbackend_events WHERE status = 'processed'`)
	}
	if !e2etest.WaitFor(time.Minute, func() bool { return processed() == numEvents }) {
		require.FailNow(t, fmt.Sprintf("%d of %d events processed a minute after the load; statuses: %v", processed(), numEvents, e2etest.StatusCounts(t, db)))
	}
	t.Logf("all events processed %v after the load", (time.Since(start) - sendTime).Round(time.Millisecond))

	n := e2etest.QueryInt(t, db, `SELECT COUNT(*) FROM appbackend_events`)
	require.Equal(t, numEvents, n, "%d events stored, want %d (each acknowledged event once)", n, numEvents)
	stored := e2etest.EventStatuses(t, db)
	for _, ev := range evs {
		_, ok := stored[ev.ID]
		require.True(t, ok, "acknowledged event %s is not stored", ev.ID)
	}
	n = e2etest.QueryInt(t, db, `SELECT COUNT(*) FROM (SELECT event_id FROM e2e_effects GROUP BY event_id HAVING COUNT(*) > 1) twice`)
	require.Equal(t, 0, n, "%d events applied more than once, want none", n)
	n = e2etest.QueryInt(t, db, `SELECT COUNT(DISTINCT event_id) FROM e2e_effects`)
	require.Equal(t, numEvents, n, "%d events applied, want %d", n, numEvents)
	byReplica := e2etest.CountBy(t, db, `SELECT replica, COUNT(*) FROM e2e_effects GROUP BY replica`)
	t.Logf("effects applied by replica: %v; %s was killed", byReplica, victim.Name)
	require.NotEqual(t, 0, byReplica["a"], "effects by replica %v: want both replicas to have processed events (one queue shared)", byReplica)
	require.NotEqual(t, 0, byReplica["b"], "effects by replica %v: want both replicas to have processed events (one queue shared)", byReplica)

	// The schedule goes on on the survivor (after a leader hand-over if the killed
	// replica led), for at least 10 s after the kill and 10 runs in all (slots folded
	// into a later run while no leader was elected do not count as runs) …
	now := time.Now()
	if until := killedAt.Add(10 * time.Second); now.Before(until) {
		now = until
	}
	now = now.Truncate(time.Second)
	lastSlot := func() time.Time {
		return time.UnixMicro(int64(e2etest.QueryInt(t, db, `SELECT COALESCE(MAX(slot), 0) FROM e2e_slots`)))
	}
	runs := func() int { return e2etest.QueryInt(t, db, `SELECT COUNT(*) FROM e2e_slots`) }
	if !e2etest.WaitFor(45*time.Second, func() bool { return !lastSlot().Before(now) && runs() >= 10 }) {
		require.FailNow(t, fmt.Sprintf("the schedule's last slot is %v after %d runs, want it to keep running after the kill (now %v) for 10 runs", lastSlot().UTC(), runs(), now.UTC()))
	}
	checkSlots(t, db, victim.Name, killedAt)
}

// checkSlots checks that every slot of the one-second schedule, from its first run on,
// ran once or was counted once as missed by the next run. A slot may have run twice
// only if the killed replica ran it as it was killed: its completion was lost, and the
// rescued job ran again (a schedule's handler runs at least once).
func checkSlots(t *testing.T, db *sql.DB, killed string, killedAt time.Time) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT slot, missed, replica FROM e2e_slots ORDER BY slot, ran_at`)
	require.NoError(t, err)
	defer rows.Close()
	type run struct {
		slot    time.Time
		missed  int
		replica string
	}
	var runs []run
	for rows.Next() {
		var (
			r    run
			slot int64
		)
		require.NoError(t, rows.Scan(&slot, &r.missed, &r.replica))
		r.slot = time.UnixMicro(slot).UTC()
		runs = append(runs, r)
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, len(runs), 10, "%d runs of the schedule, want one a second for the whole test", len(runs))
	missed, byReplica := 0, map[string]int{}
	for i, r := range runs {
		byReplica[r.replica]++
		if i == 0 {
			continue
		}
		prev := runs[i-1]
		if r.slot.Equal(prev.slot) {
			nearKill := r.slot.Sub(killedAt).Abs() < 3*time.Second
			if !nearKill || (r.replica != killed && prev.replica != killed) {
				require.FailNow(t, fmt.Sprintf("slot %v ran twice (by %s and %s), want once", r.slot, prev.replica, r.replica))
			} else {
				t.Logf("slot %v ran twice: the killed replica ran it as it died, and the rescued job again", r.slot)
			}
			continue
		}
		gap := int(r.slot.Sub(prev.slot) / time.Second)
		require.Equal(t, gap-1, r.missed, "slot %v follows slot %v with missed=%d, want %d: every slot runs or is counted missed once", r.slot, prev.slot, r.missed, gap-1)
		missed += r.missed
	}
	t.Logf("schedule: %d runs from %v to %v by replica %v, %d slots folded into later runs",
		len(runs), runs[0].slot.Format(time.TimeOnly), runs[len(runs)-1].slot.Format(time.TimeOnly), byReplica, missed)
}

// live returns a replica that is running.
func live(replicas []*e2etest.Server) *e2etest.Server {
	for _, r := range replicas {
		if r.Running() {
			return r
		}
	}
	return replicas[0]
}

// eventsOfRunningJobs lists the events of the processing jobs River holds as running.
func eventsOfRunningJobs(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT jsonb_array_elements_text(args->'event_ids') FROM river_job
		WHERE state = 'running' AND kind = 'appbackend.process_events'`)
	if err != nil {
		require.FailNow(t, fmt.Sprintf("list running jobs: %v", err))
		return nil
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			require.FailNow(t, fmt.Sprint(err))
			return nil
		}
		ids = append(ids, id)
	}
	return ids
}

// processedTimes maps each processed event's id to when it was processed.
func processedTimes(t *testing.T, db *sql.DB) map[string]time.Time {
	t.Helper()
	rows, err := db.Query(`SELECT id, processed_at FROM appbackend_events WHERE status = 'processed'`)
	require.NoError(t, err, "list processed events")
	defer rows.Close()
	times := map[string]time.Time{}
	for rows.Next() {
		var (
			id string
			at int64
		)
		require.NoError(t, rows.Scan(&id, &at))
		times[id] = time.UnixMicro(at)
	}
	return times
}
