package events

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"

	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop() // the throwaway PostgreSQL server, if this process started one
	os.Exit(code)
}

// livenessBundle is a started processor whose handler records the events it applies.
type livenessBundle struct {
	st   store.Store
	p    *Processor
	mu   sync.Mutex
	seen map[string]time.Time
}

func startLiveness(t *testing.T, st store.Store) *livenessBundle {
	t.Helper()
	b := &livenessBundle{st: st, seen: map[string]time.Time{}}
	p := buildProcessor(t, st, Config{HeartbeatEvery: 100 * time.Millisecond, StaleAfter: time.Second, PollInterval: 50 * time.Millisecond})
	p.On("*", func(ctx context.Context, ev store.Event) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.seen[ev.ID] = time.Now()
		return nil
	})
	startProcessor(t, p)
	b.p = p
	return b
}

// buildProcessor is a Processor on st whose runtime is built: ready to enqueue, and to
// start with startProcessor.
func buildProcessor(t *testing.T, st store.Store, cfg Config) *Processor {
	t.Helper()
	rt := runtime.New(st, nil)
	p, err := New(rt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Build(); err != nil {
		t.Fatal(err)
	}
	return p
}

// startProcessor starts p and stops it when the test ends.
func startProcessor(t *testing.T, p *Processor) {
	t.Helper()
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Stop(ctx)
	})
}

// storeFetchedAs stores an event and its processing job, and in the same transaction
// fetches the job with River's own query as processID: the job is
// committed running, as a fetch leaves it whose answer never reached its process (or
// a process that died right after fetching).
func (b *livenessBundle) storeFetchedAs(t *testing.T, id, processID string) {
	t.Helper()
	ctx := t.Context()
	tx, err := b.st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	ev := store.Event{ID: id, Type: "customer.created", AccountID: "acct_1", Livemode: true,
		Created: time.Now(), Raw: []byte(`{"id":"` + id + `"}`), ReceivedAt: time.Now()}
	if _, err := b.st.InsertEventTx(ctx, tx, &ev); err != nil {
		t.Fatal(err)
	}
	if err := b.p.EnqueueTx(ctx, tx, id); err != nil {
		t.Fatal(err)
	}
	// River's time, not PostgreSQL's now() (the transaction's start, before the insert).
	now := time.Now()
	res, err := b.st.RiverDriver().UnwrapExecutor(tx).JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{
		ClientID: processID, Kind: []string{ProcessEventsArgs{}.Kind()}, MaxAttemptedBy: 10, MaxToLock: 1, Now: &now, Queue: Queue,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 1 {
		t.Fatalf("fetched %d jobs as %s, want 1", len(res.Jobs), processID)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// waitProcessed waits until the event is processed, at most within after since, and
// returns how long after since that was.
func (b *livenessBundle) waitProcessed(t *testing.T, id string, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	for time.Since(since) < within {
		b.mu.Lock()
		at, ok := b.seen[id]
		b.mu.Unlock()
		if ok {
			return at.Sub(since)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var state string
	_ = b.st.DB().QueryRow(`SELECT state FROM river_job ORDER BY id DESC LIMIT 1`).Scan(&state)
	t.Fatalf("event %s not processed within %v (its job is %s)", id, within, state)
	return 0
}

// TestOwnLostJobsHandedBack: a job that the database marked running for this process
// but that the process never received (its fetch's answer was lost in an outage) is
// handed back and processed within seconds, not after River's rescue delay.
func TestOwnLostJobsHandedBack(t *testing.T) {
	t.Parallel()
	for name, open := range dbtest.Stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := startLiveness(t, open(t))
			stored := time.Now()
			b.storeFetchedAs(t, "evt_lost_fetch", b.p.ProcessID())
			took := b.waitProcessed(t, "evt_lost_fetch", stored, 10*time.Second)
			t.Logf("processed %v after the lost fetch", took.Round(time.Millisecond))
		})
	}
}

// TestDeadProcessJobsHandedBack: the running job of a process whose heartbeat went
// stale, or that never had one, is handed back and processed by a live process once
// the staleness shows, without waiting for River's rescuer.
func TestDeadProcessJobsHandedBack(t *testing.T) {
	t.Parallel()
	for name, open := range dbtest.Stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			// A process that heartbeat once, and is now gone.
			if err := st.Heartbeat(t.Context(), "proc_dead"); err != nil {
				t.Fatal(err)
			}
			b := startLiveness(t, st)
			stored := time.Now()
			b.storeFetchedAs(t, "evt_dead_process", "proc_dead")
			b.storeFetchedAs(t, "evt_unknown_process", "proc_unknown")
			for _, id := range []string{"evt_dead_process", "evt_unknown_process"} {
				took := b.waitProcessed(t, id, stored, 10*time.Second)
				t.Logf("%s processed %v after its process stopped", id, took.Round(time.Millisecond))
			}
		})
	}
}

// TestLiveProcessJobsLeftAlone: a live process's running job is not handed back,
// however long it runs.
func TestLiveProcessJobsLeftAlone(t *testing.T) {
	t.Parallel()
	st := dbtest.SQLite(t)
	b := startLiveness(t, st)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
				_ = st.Heartbeat(context.Background(), "proc_busy")
			}
		}
	}()
	b.storeFetchedAs(t, "evt_busy", "proc_busy")
	time.Sleep(3 * time.Second) // three staleness periods
	close(stop)
	<-done
	var state string
	if err := st.DB().QueryRow(`SELECT state FROM river_job WHERE kind = ?`, ProcessEventsArgs{}.Kind()).Scan(&state); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	if state != "running" {
		t.Errorf("the live process's job is %s, want still running", state)
	}
	b.mu.Lock()
	_, processed := b.seen["evt_busy"]
	b.mu.Unlock()
	if processed {
		t.Error("the live process's event was processed by another process")
	}
}
