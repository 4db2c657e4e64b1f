package e2e

import (
	"context"
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
)

// Crash test parameters. The whole test stays well under a minute on a 2-core machine.
const (
	crashSenders     = 64
	crashResenders   = 16
	crashDrainWait   = 30 * time.Second // at most, for processing a round's backlog after the restart
	crashStallWait   = 4 * time.Second  // without progress, processing is taken for stuck
	crashDupEvery    = 10               // about one send in crashDupEvery repeats an earlier event
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
func TestCrashKill9(t *testing.T) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0xc4a5))
	rounds := []crashRound{
		{name: "early in the load", sendFor: time.Duration(150+rng.IntN(350)) * time.Millisecond, killWhileSending: true},
		{name: "mid-batch", sendFor: time.Duration(1000+rng.IntN(1000)) * time.Millisecond, killWhileSending: true},
		{name: "during processing", sendFor: time.Duration(1000+rng.IntN(500)) * time.Millisecond, killWhileSending: false},
	}
	s := startServer(t, serverOptions{testServer: true, logLevel: "warn"})
	ledger := &crashLedger{byID: map[string]*crashEvent{}}
	stuck := map[string]bool{} // events an earlier round found stuck, not counted again

	for i, round := range rounds {
		// Each round ends with the server restarted on the same database.
		st := runCrashRound(t, s, ledger, round, rng, i)
		t.Logf("round %d, killed %s after %v: %d new events and %d duplicate sends; %d sends answered 2xx, "+
			"%d unanswered, %d answered otherwise; at the kill %d events acknowledged so far, %d stored "+
			"(%d committed but unanswered), %d pending; %d resent after the restart; processing drained in %v",
			i+1, round.name, round.sendFor, st.newEvents, st.duplicateSends, st.acked, st.unanswered, st.non2xx,
			st.ackedAtKill, st.storedAtKill, st.committedUnanswered, st.pendingAtKill, st.resent,
			st.drained.Round(time.Millisecond))
		checkEffects(t, s, ledger, stuck)
	}

	events := ledger.snapshot()
	effects := s.effects()
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
	t.Logf("seed %d: %d distinct events sent, %d acknowledged in the end; %d effect rows for %d events", seed, len(events), acked, applied, len(effects))
}

// crashSeed is E2E_CRASH_SEED or a new seed, logged either way so that a failing run
// can be replayed.
func crashSeed(t *testing.T) uint64 {
	if v := os.Getenv("E2E_CRASH_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("E2E_CRASH_SEED %q is not a number", v)
		}
		t.Logf("crash seed %d (from E2E_CRASH_SEED)", seed)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("crash seed %d (replay with E2E_CRASH_SEED=%d)", seed, seed)
	return seed
}

func runCrashRound(t *testing.T, s *server, ledger *crashLedger, round crashRound, rng *rand.Rand, roundIndex int) crashStats {
	t.Helper()
	var (
		st         crashStats
		stop       = make(chan struct{})
		wg         sync.WaitGroup
		nextID     atomic.Int64
		url        = s.webhookURL()
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
						ID:      fmt.Sprintf("%sr%d_%06d_%s", crashEventPrefix, roundIndex+1, n, newID("")[:8]),
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
				d, err := tryPostWebhook(context.Background(), url, ev.body, signWithStripeGo(t, ev.body, liveWebhookSecret, time.Now()))
				switch {
				case err != nil:
					atomic.AddInt64(&st.unanswered, 1)
				case d.status >= 200 && d.status < 300:
					ledger.ack(ev)
					atomic.AddInt64(&st.acked, 1)
				default:
					atomic.AddInt64(&st.non2xx, 1)
				}
			}
		})
	}

	time.Sleep(round.sendFor)
	if round.killWhileSending {
		s.kill()
		close(stop)
		wg.Wait()
	} else {
		close(stop)
		wg.Wait()
		st.pendingAtKill = statusCounts(t, s)["pending"]
		s.kill()
	}

	// Before the restart: every acknowledged event is on disk.
	stored := storedIDs(t, s)
	st.storedAtKill = len(stored)
	var missing []string
	var resend []crashEvent
	for _, ev := range ledger.snapshot() {
		switch {
		case ev.acked:
			st.ackedAtKill++
			if !stored[ev.id] {
				missing = append(missing, ev.id)
			}
		default:
			if stored[ev.id] {
				st.committedUnanswered++
			}
			resend = append(resend, ev)
		}
	}
	if len(missing) > 0 {
		t.Errorf("round %s: %d of %d acknowledged events are not in the inbox after the kill (lost): %v",
			round.name, len(missing), st.ackedAtKill, firstN(missing, 10))
	}

	// Restart and resend what got no 2xx: each must be accepted now.
	s.restart()
	st.resent = len(resend)
	resendAll(t, s, ledger, resend)

	start := time.Now()
	waitDrained(t, s, ledger, round)
	st.drained = time.Since(start)
	return st
}

// resendAll posts the events again from crashResenders workers; each must get 200.
func resendAll(t *testing.T, s *server, ledger *crashLedger, events []crashEvent) {
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
				d, err := tryPostWebhook(context.Background(), s.webhookURL(), ev.body, signWithStripeGo(t, ev.body, liveWebhookSecret, time.Now()))
				if err != nil || d.status != 200 {
					mu.Lock()
					rejected = append(rejected, fmt.Sprintf("%s: %d %s %v", ev.id, d.status, strings.TrimSpace(string(d.body)), err))
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
		t.Errorf("%d of %d events resent after the restart were not accepted with 200: %v", len(rejected), len(events), firstN(rejected, 5))
	}
}

// lookup returns the event with the id, nil if it was never sent.
func (l *crashLedger) lookup(id string) *crashEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byID[id]
}

// waitDrained waits until every event sent so far is stored and processed, or until
// processing made no progress for crashStallWait. Events still not processed then are
// reported with River's view of the jobs.
func waitDrained(t *testing.T, s *server, ledger *crashLedger, round crashRound) {
	t.Helper()
	want := len(ledger.snapshot())
	start := time.Now()
	lastProcessed, lastProgress := -1, start
	for {
		counts := statusCounts(t, s)
		if counts["processed"] == want && len(counts) == 1 {
			return
		}
		now := time.Now()
		if counts["processed"] != lastProcessed {
			lastProcessed, lastProgress = counts["processed"], now
		}
		if now.Sub(lastProgress) > crashStallWait || now.Sub(start) > crashDrainWait {
			t.Errorf("round %s: %d events sent; %v after the restart the inbox holds %v (no progress for %v), want all processed; River jobs by kind/state: %v",
				round.name, want, now.Sub(start).Round(time.Millisecond), counts, now.Sub(lastProgress).Round(time.Millisecond), riverJobStates(t, s))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkEffects compares the effect rows with the inbox: a processed event has exactly
// one, any other event none, and no row belongs to an event that was never sent.
// Events already reported as stuck are reported once.
func checkEffects(t *testing.T, s *server, ledger *crashLedger, stuck map[string]bool) {
	t.Helper()
	effects := s.effects()
	statuses := eventStatuses(t, s)
	var doubled, lostEffect, pending, unknown []string
	for _, ev := range ledger.snapshot() {
		n, status := effects[ev.id], statuses[ev.id]
		switch {
		case n > 1:
			doubled = append(doubled, fmt.Sprintf("%s×%d", ev.id, n))
		case status == "processed" && n != 1:
			lostEffect = append(lostEffect, ev.id)
		case status != "processed" && !stuck[ev.id]:
			stuck[ev.id] = true
			pending = append(pending, ev.id+"="+status)
		}
	}
	for id := range effects {
		if ledger.lookup(id) == nil {
			unknown = append(unknown, id)
		}
	}
	if len(doubled) > 0 {
		t.Errorf("%d events applied more than once: %v", len(doubled), firstN(doubled, 10))
	}
	if len(lostEffect) > 0 {
		t.Errorf("%d events marked processed without their effect: %v", len(lostEffect), firstN(lostEffect, 10))
	}
	if len(pending) > 0 {
		slices.Sort(pending)
		t.Errorf("%d events not processed after the restart (stuck): %v", len(pending), firstN(pending, 10))
	}
	if len(unknown) > 0 {
		t.Errorf("effect rows for %d events never sent: %v", len(unknown), firstN(unknown, 10))
	}
}

func statusCounts(t *testing.T, s *server) map[string]int {
	t.Helper()
	rows, err := s.database().Query(`SELECT status, COUNT(*) FROM appbackend_events GROUP BY status`)
	if err != nil {
		t.Fatalf("count events: %v", err)
	}
	defer rows.Close()
	counts := map[string]int{}
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

func eventStatuses(t *testing.T, s *server) map[string]string {
	t.Helper()
	rows, err := s.database().Query(`SELECT id, status FROM appbackend_events`)
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	defer rows.Close()
	statuses := map[string]string{}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		statuses[id] = status
	}
	return statuses
}

func storedIDs(t *testing.T, s *server) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for id := range eventStatuses(t, s) {
		ids[id] = true
	}
	return ids
}

// riverJobStates counts River's jobs by kind and state, to show why events are stuck.
func riverJobStates(t *testing.T, s *server) map[string]int {
	t.Helper()
	rows, err := s.database().Query(`SELECT kind, state, COUNT(*) FROM river_job GROUP BY kind, state`)
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
		if err := rows.Scan(&kind, &state, &n); err != nil {
			t.Fatal(err)
		}
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
