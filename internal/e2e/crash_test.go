package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// Crash test parameters. The whole test stays well under a minute on a 2-core machine.
const (
	crashSenders   = 64
	crashResenders = 16
	crashDrainWait = 30 * time.Second // at most, for processing a round's backlog after the restart
	// crashStallWait is how long processing may make no progress before it is taken for
	// stuck: on PostgreSQL the killed process's jobs wait for its heartbeat to go stale
	// (runtime.DefaultStaleAfter) and the next sweep.
	crashStallWait   = 12 * time.Second
	crashDupEvery    = 10 // about one send in crashDupEvery repeats an earlier event
	crashAccounts    = 8
	crashEventPrefix = "evt_crash_"
)

// crashEvent is one distinct event of the crash test and what became of it.
type crashEvent struct {
	id    string
	body  []byte
	acked bool // answered 2xx at least once
}

// crashLedger records every event sent and whether the server acknowledged it.
type crashLedger struct {
	mu     sync.Mutex
	events []*crashEvent
	byID   map[string]*crashEvent
}

func (l *crashLedger) add(ev *crashEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	l.byID[ev.id] = ev
}

// pick returns an event sent before, for a duplicate delivery.
func (l *crashLedger) pick(rng *rand.Rand) *crashEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return nil
	}
	return l.events[rng.IntN(len(l.events))]
}

func (l *crashLedger) ack(ev *crashEvent) {
	l.mu.Lock()
	ev.acked = true
	l.mu.Unlock()
}

func (l *crashLedger) snapshot() []crashEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]crashEvent, len(l.events))
	for i, ev := range l.events {
		out[i] = *ev
	}
	return out
}

// crashRound is one kill: after sending for a while (killWhileSending), or once the
// senders stopped and the server is processing their backlog.
type crashRound struct {
	name             string
	sendFor          time.Duration
	killWhileSending bool
}

// crashStats are one round's counts, for the log.
type crashStats struct {
	newEvents, duplicateSends, acked, unanswered, non2xx int64
	storedAtKill, ackedAtKill, committedUnanswered       int
	pendingAtKill                                        int
	resent                                               int
	runningAtKill                                        int
	drained                                              time.Duration
}

// TestCrashKill9 posts events from 64 concurrent senders to the test server, kills it
// with SIGKILL at a random (seeded) moment, restarts it on the same database and
// resends whatever got no 2xx — three times: early in the load, in the middle of it,
// and while the server processes the backlog after the load. Every event that got a
// 2xx must be in the inbox before the restart, every resent event must be accepted,
// and once processing drains every event's effect row (written by the handler in the
// processing transaction) must exist exactly once: nothing lost, nothing applied twice,
// nothing left pending.
//
// It runs on each database, one after the other (each round's 64 senders take the
// machine). The events of the jobs the killed process was running (read from River's
// jobs before the restart) must be processed soon: within 10 s of the restart on
// SQLite, where one process owns the file and resumes at start whatever is running;
// within 30 s of the kill on PostgreSQL, where other replicas may be running jobs too,
// so the killed process's are handed back once its heartbeat is stale
// (runtime.DefaultStaleAfter), not after River's minutes-long rescue delay.
func TestCrashKill9(t *testing.T) {
	seed := crashSeed(t)
	for _, db := range e2etest.Databases(t) {
		t.Run(string(db), func(t *testing.T) { testCrashKill9(t, db, seed) })
	}
}

func testCrashKill9(t *testing.T, db e2etest.Database, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xc4a5))
	rounds := []crashRound{
		{name: "early in the load", sendFor: time.Duration(150+rng.IntN(350)) * time.Millisecond, killWhileSending: true},
		{name: "mid-batch", sendFor: time.Duration(1000+rng.IntN(1000)) * time.Millisecond, killWhileSending: true},
		{name: "during processing", sendFor: time.Duration(1000+rng.IntN(500)) * time.Millisecond, killWhileSending: false},
	}
	c := &crashTest{
		s:      startServer(t, db, e2etest.Options{Program: e2etest.TestServer, LogLevel: "warn"}),
		db:     db,
		ledger: &crashLedger{byID: map[string]*crashEvent{}},
		stuck:  map[string]bool{},
	}

	for i, round := range rounds {
		// Each round ends with the server restarted on the same database.
		st := c.runRound(t, round, rng, i)
		t.Logf("round %d, killed %s after %v: %d new events and %d duplicate sends; %d sends answered 2xx, "+
			"%d unanswered, %d answered otherwise; at the kill %d events acknowledged so far, %d stored "+
			"(%d committed but unanswered), %d pending, %d in jobs River holds as running (this kill's and any earlier one's); %d resent after the restart; processing drained in %v",
			i+1, round.name, round.sendFor, st.newEvents, st.duplicateSends, st.acked, st.unanswered, st.non2xx,
			st.ackedAtKill, st.storedAtKill, st.committedUnanswered, st.pendingAtKill, st.runningAtKill, st.resent,
			st.drained.Round(time.Millisecond))
		c.checkEffects(t)
	}

	events := c.ledger.snapshot()
	effects := c.s.Effects()
	applied := 0
	for _, n := range effects {
		applied += n
	}
	acked := 0
	for _, ev := range events {
		if ev.acked {
			acked++
		}
	}
	t.Logf("seed %d: %d distinct events sent, %d acknowledged in the end; %d effect rows for %d events",
		seed, len(events), acked, applied, len(effects))
}

// crashTest is one server under the crash test and what the test knows of its events.
type crashTest struct {
	s      *e2etest.Server
	db     e2etest.Database
	ledger *crashLedger
	// stuck are the events an earlier round found stuck, not reported again.
	stuck map[string]bool
}

// crashSeed is E2E_CRASH_SEED or a new seed, logged either way so that a failing run
// can be replayed.
func crashSeed(t *testing.T) uint64 {
	if v := os.Getenv("E2E_CRASH_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "E2E_CRASH_SEED %q is not a number", v)
		t.Logf("crash seed %d (from E2E_CRASH_SEED)", seed)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("crash seed %d (replay with E2E_CRASH_SEED=%d)", seed, seed)
	return seed
}

func (c *crashTest) runRound(t *testing.T, round crashRound, rng *rand.Rand, roundIndex int) crashStats {
	t.Helper()
	s, ledger := c.s, c.ledger
	var (
		st         crashStats
		stop       = make(chan struct{})
		wg         sync.WaitGroup
		nextID     atomic.Int64
		url        = s.WebhookURL()
		eventTypes = []string{"customer.created", "invoice.paid", "payment_intent.succeeded", "customer.updated"}
	)
	for sender := range crashSenders {
		senderRng := rand.New(rand.NewPCG(rng.Uint64(), uint64(sender)))
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ev := ledger.pick(senderRng)
				if ev == nil || senderRng.IntN(crashDupEvery) != 0 {
					n := nextID.Add(1)
					e := event{
						ID:      fmt.Sprintf("%sr%d_%06d_%s", crashEventPrefix, roundIndex+1, n, webhooktest.NewID("")[16:]),
						Type:    eventTypes[n%int64(len(eventTypes))],
						Account: fmt.Sprintf("acct_crash_%d", sender%crashAccounts),
						Live:    true,
					}
					ev = &crashEvent{id: e.ID, body: e.body()}
					ledger.add(ev)
					atomic.AddInt64(&st.newEvents, 1)
				} else {
					atomic.AddInt64(&st.duplicateSends, 1)
				}
				d, err := e2etest.PostWebhook(context.Background(), url, ev.body, signWithStripeGo(t, ev.body, e2etest.LiveWebhookSecret, time.Now()))
				switch {
				case err != nil:
					atomic.AddInt64(&st.unanswered, 1)
				case d.Status >= 200 && d.Status < 300:
					ledger.ack(ev)
					atomic.AddInt64(&st.acked, 1)
				default:
					atomic.AddInt64(&st.non2xx, 1)
				}
			}
		})
	}

	time.Sleep(round.sendFor)
	var killed time.Time
	if round.killWhileSending {
		s.Kill()
		killed = time.Now()
		close(stop)
		wg.Wait()
	} else {
		close(stop)
		wg.Wait()
		st.pendingAtKill = e2etest.StatusCounts(t, s.DB())["pending"]
		s.Kill()
		killed = time.Now()
	}

	// Before the restart: every acknowledged event is on disk.
	stored := e2etest.EventStatuses(t, s.DB())
	st.storedAtKill = len(stored)
	var missing []string
	var resend []crashEvent
	for _, ev := range ledger.snapshot() {
		switch {
		case ev.acked:
			st.ackedAtKill++
			if _, ok := stored[ev.id]; !ok {
				missing = append(missing, ev.id)
			}
		default:
			if _, ok := stored[ev.id]; ok {
				st.committedUnanswered++
			}
			resend = append(resend, ev)
		}
	}
	if len(missing) > 0 {
		require.FailNow(t, fmt.Sprintf("round %s: %d of %d acknowledged events are not in the inbox after the kill (lost): %v", round.name, len(missing), st.ackedAtKill, firstN(missing, 10)))
	}
	running := c.eventsOfRunningJobs(t)
	st.runningAtKill = len(running)

	// Restart and resend what got no 2xx: each must be accepted now.
	s.Restart()
	restarted := time.Now()
	st.resent = len(resend)
	resendAll(t, s, ledger, resend)

	c.waitDrained(t, round)
	st.drained = time.Since(restarted)
	c.checkResumedSoon(t, round, running, killed, restarted)
	return st
}

// checkResumedSoon checks when the events of the jobs left running by the kill were
// processed: within 10 s of the restart on SQLite, within 30 s of the kill on
// PostgreSQL.
func (c *crashTest) checkResumedSoon(t *testing.T, round crashRound, running []string, killed, restarted time.Time) {
	t.Helper()
	from, limit, what := restarted, 10*time.Second, "the restart"
	if c.db == e2etest.PostgreSQL {
		from, limit, what = killed, 30*time.Second, "the kill"
	}
	query := `SELECT processed_at FROM appbackend_events WHERE id = ?`
	if c.db == e2etest.PostgreSQL {
		query = `SELECT processed_at FROM appbackend_events WHERE id = $1`
	}
	var late []string
	for _, id := range running {
		var processedAt sql.NullInt64
		err := c.s.DB().QueryRow(query, id).Scan(&processedAt)
		require.NoError(t, err, "processed_at of %s", id)
		if !processedAt.Valid {
			continue // reported as stuck by checkEffects
		}
		if took := time.UnixMicro(processedAt.Int64).Sub(from); took > limit {
			late = append(late, fmt.Sprintf("%s after %v", id, took.Round(time.Millisecond)))
		}
	}
	if len(late) > 0 {
		require.FailNow(t, fmt.Sprintf("round %s: %d of the %d events of jobs left running by the kill were processed more than %v after %s: %v", round.name, len(late), len(running), limit, what, firstN(late, 10)))
	}
}

// resendAll posts the events again from crashResenders workers; each must get 200.
func resendAll(t *testing.T, s *e2etest.Server, ledger *crashLedger, events []crashEvent) {
	t.Helper()
	work := make(chan crashEvent)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		rejected []string
	)
	for range crashResenders {
		wg.Go(func() {
			for ev := range work {
				d, err := e2etest.PostWebhook(context.Background(), s.WebhookURL(), ev.body, signWithStripeGo(t, ev.body, e2etest.LiveWebhookSecret, time.Now()))
				if err != nil || d.Status != 200 {
					mu.Lock()
					rejected = append(rejected, fmt.Sprintf("%s: %d %s %v", ev.id, d.Status, strings.TrimSpace(string(d.Body)), err))
					mu.Unlock()
					continue
				}
				ledger.ack(ledger.lookup(ev.id))
			}
		})
	}
	for _, ev := range events {
		work <- ev
	}
	close(work)
	wg.Wait()
	if len(rejected) > 0 {
		require.FailNow(t, fmt.Sprintf("%d of %d events resent after the restart were not accepted with 200: %v", len(rejected), len(events), firstN(rejected, 5)))
	}
}

// lookup returns the event with the id, nil if it was never sent.
func (l *crashLedger) lookup(id string) *crashEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byID[id]
}

// waitDrained waits until every event sent so far is stored and processed, or until
// processing made no progress for crashStallWait. Events still not processed
// then are reported with River's view of the jobs.
func (c *crashTest) waitDrained(t *testing.T, round crashRound) {
	t.Helper()
	sent := c.ledger.snapshot()
	start := time.Now()
	lastProcessed, lastProgress := -1, start
	for {
		statuses := e2etest.EventStatuses(t, c.s.DB())
		processed, left := 0, 0
		for _, ev := range sent {
			switch status := statuses[ev.id]; {
			case status == "processed":
				processed++
			default:
				left++
			}
		}
		if left == 0 {
			return
		}
		now := time.Now()
		if processed != lastProcessed {
			lastProcessed, lastProgress = processed, now
		}
		if now.Sub(lastProgress) > crashStallWait || now.Sub(start) > crashDrainWait {
			require.FailNow(t, fmt.Sprintf("round %s: %d events sent; %v after the restart the inbox holds %v (no progress for %v), want all processed; River jobs by kind/state: %v", round.name, len(sent), now.Sub(start).Round(time.Millisecond), e2etest.StatusCounts(t, c.s.DB()), now.Sub(lastProgress).Round(time.Millisecond), riverJobStates(t, c.s)))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkEffects compares the effect rows with the inbox: a processed event has exactly
// one, any other event none, and no row belongs to an event that was never sent.
// Events already reported as stuck are reported once.
func (c *crashTest) checkEffects(t *testing.T) {
	t.Helper()
	effects := c.s.Effects()
	statuses := e2etest.EventStatuses(t, c.s.DB())
	var doubled, lostEffect, pending, unknown []string
	for _, ev := range c.ledger.snapshot() {
		n, status := effects[ev.id], statuses[ev.id]
		switch {
		case n > 1:
			doubled = append(doubled, fmt.Sprintf("%s×%d", ev.id, n))
		case status == "processed" && n != 1:
			lostEffect = append(lostEffect, ev.id)
		case status != "processed" && !c.stuck[ev.id]:
			c.stuck[ev.id] = true
			pending = append(pending, ev.id+"="+status)
		}
	}
	for id := range effects {
		if c.ledger.lookup(id) == nil {
			unknown = append(unknown, id)
		}
	}
	if len(doubled) > 0 {
		require.FailNow(t, fmt.Sprintf("%d events applied more than once: %v", len(doubled), firstN(doubled, 10)))
	}
	if len(lostEffect) > 0 {
		require.FailNow(t, fmt.Sprintf("%d events marked processed without their effect: %v", len(lostEffect), firstN(lostEffect, 10)))
	}
	if len(pending) > 0 {
		slices.Sort(pending)
		require.FailNow(t, fmt.Sprintf("%d events not processed after the restart (stuck): %v", len(pending), firstN(pending, 10)))
	}
	if len(unknown) > 0 {
		require.FailNow(t, fmt.Sprintf("effect rows for %d events never sent: %v", len(unknown), firstN(unknown, 10)))
	}
}

// eventsOfRunningJobs lists the events of the processing jobs River holds as running:
// after a kill, the jobs the dead process had fetched.
func (c *crashTest) eventsOfRunningJobs(t *testing.T) []string {
	t.Helper()
	args := "args::text" // jsonb
	if c.db == e2etest.SQLite {
		args = "json(args)" // SQLite's binary JSONB, as riversqlite stores it
	}
	rows, err := c.s.DB().Query(`SELECT ` + args + ` FROM river_job WHERE state = 'running' AND kind = 'appbackend.process_events'`)
	require.NoError(t, err, "list running jobs")
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var (
			raw string
			job struct {
				EventIDs []string `json:"event_ids"`
			}
		)
		require.NoError(t, rows.Scan(&raw))
		require.NoError(t, json.Unmarshal([]byte(raw), &job), "running job's args %s", raw)
		ids = append(ids, job.EventIDs...)
	}
	require.NoError(t, rows.Err(), "list running jobs")
	return ids
}

// riverJobStates counts River's jobs by kind and state, to show why events are stuck.
func riverJobStates(t *testing.T, s *e2etest.Server) map[string]int {
	t.Helper()
	rows, err := s.DB().Query(`SELECT kind, state, COUNT(*) FROM river_job GROUP BY kind, state`)
	if err != nil {
		t.Logf("count River jobs: %v", err)
		return nil
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var (
			kind, state string
			n           int
		)
		require.NoError(t, rows.Scan(&kind, &state, &n))
		counts[kind+"/"+state] = n
	}
	return counts
}

func firstN[T any](list []T, n int) []T {
	if len(list) > n {
		return list[:n]
	}
	return list
}
