package schedule_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

// start is a Monday, on the hour.
var start = time.Date(2026, time.March, 2, 12, 0, 0, 0, time.UTC)

// clock is the scheduler's stubbed time; River keeps the real one.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// fixedRetry retries failed jobs quickly, so that retry tests take milliseconds.
type fixedRetry struct{}

func (fixedRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(20 * time.Millisecond)
}

func openStore(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// node is one server: a store, the installation lifecycle, a scheduler and the River
// client that runs them, as the façade wires them.
type node struct {
	st    store.Store
	rt    *runtime.Runtime
	sched *schedule.Scheduler
	proc  *events.Processor
}

type nodeOptions struct {
	resumeOnStart bool
	// tickInterval is River's periodic tick; tests drive the stubbed clock and call
	// Tick themselves, and the periodic tick, using the same clock, only adds
	// concurrency.
	tickInterval time.Duration
}

// startNode wires and starts a server over st; it stops when the test ends (or
// earlier through stop).
func startNode(t *testing.T, st store.Store, set *schedule.Set, clk *clock, opts nodeOptions) *node {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	arch := &baseservice.Archetype{Logger: logger, Now: clk.Now}
	sched := schedule.New(st, set, schedule.Config{Archetype: arch, TickInterval: opts.tickInterval})
	// The lifecycle on the real clock, as before: only the scheduler's slots follow clk.
	lifecycle := install.New(st, install.Config{Archetype: &baseservice.Archetype{Logger: logger}})
	lifecycle.OnInstall(sched.OnInstall)
	lifecycle.OnUninstall(sched.OnUninstall)
	rt := runtime.New(runtime.Config{Archetype: &baseservice.Archetype{Logger: logger},
		RetryPolicy: fixedRetry{}, PollInterval: 20 * time.Millisecond, ResumeOnStart: opts.resumeOnStart})
	rt.Open(st)
	require.NoError(t, lifecycle.AddWorkers(rt))
	require.NoError(t, sched.AddWorkers(rt))
	rt.ConfigureRiver(sched.ConfigureRiver)
	proc, err := events.New(rt, events.Config{BuiltIn: []events.BuiltIn{lifecycle.HandleEvent}})
	require.NoError(t, err)
	require.NoError(t, rt.Build())
	require.NoError(t, sched.Sync(t.Context()))
	require.NoError(t, rt.Start(context.Background()))
	n := &node{st: st, rt: rt, sched: sched, proc: proc}
	t.Cleanup(func() { n.stop(t, 5*time.Second) })
	return n
}

// stop stops the node's River client, cancelling running jobs after grace.
func (n *node) stop(t *testing.T, grace time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := n.rt.Stop(ctx); err != nil {
		t.Logf("stop: %v", err)
	}
}

func (n *node) tick(t *testing.T) schedule.TickStats {
	t.Helper()
	stats, err := n.sched.Tick(t.Context(), n.rt.River())
	require.NoError(t, err)
	return stats
}

// deliver puts a lifecycle event into the inbox as the webhook receiver does and waits
// until it is processed.
func (n *node) deliver(t *testing.T, id, eventType, account string, livemode bool, created time.Time) {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": eventType, "account": account, "livemode": livemode,
		"created": created.Unix(), "data": map[string]any{"object": map[string]any{"id": "ca_test", "object": "application"}},
	})
	require.NoError(t, err)
	ev := store.Event{ID: id, Type: eventType, AccountID: account, Livemode: livemode, Created: created, Raw: raw}
	tx, err := n.st.DB().BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = n.st.InsertEventTx(t.Context(), tx, &ev)
	require.NoError(t, err)
	require.NoError(t, n.proc.EnqueueTx(t.Context(), tx, id))
	require.NoError(t, tx.Commit())
	require.Eventually(t, func() bool {
		got, err := n.st.Event(t.Context(), id)
		return err == nil && got.Status == store.EventProcessed
	}, 10*time.Second, 10*time.Millisecond, "event %s not processed", id)
}

// runJobs lists the schedule's run jobs.
func (n *node) runJobs(t *testing.T) []*rivertype.JobRow {
	t.Helper()
	res, err := n.rt.River().JobList(t.Context(), river.NewJobListParams().Kinds(schedule.RunArgs{}.Kind()).First(10_000))
	require.NoError(t, err)
	return res.Jobs
}

// waitIdle waits until no run job is left to work.
func (n *node) waitIdle(t *testing.T) {
	t.Helper()
	var pending []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		pending = pending[:0]
		res, err := n.rt.River().JobList(t.Context(), river.NewJobListParams().Kinds(schedule.RunArgs{}.Kind()).First(10_000))
		require.NoError(t, err)
		for _, j := range res.Jobs {
			if j.FinalizedAt == nil {
				pending = append(pending, fmt.Sprintf("job %d %s attempt %d: %s", j.ID, j.State, j.Attempt, j.EncodedArgs))
			}
		}
		if len(pending) == 0 {
			return
		}
		require.False(t, time.Now().After(deadline), "runs still pending: %v", pending)
		time.Sleep(20 * time.Millisecond)
	}
}

// recorder counts handler calls per run.
type recorder struct {
	mu    sync.Mutex
	calls []schedule.Run
}

func (r *recorder) record(run schedule.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, run)
}

func (r *recorder) handler(ctx context.Context, run schedule.Run) error {
	r.record(run)
	return nil
}

func (r *recorder) runs() []schedule.Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]schedule.Run(nil), r.calls...)
}

// perSlot counts calls by schedule, account, mode and slot.
func (r *recorder) perSlot() map[string]int {
	counts := map[string]int{}
	for _, run := range r.runs() {
		counts[slotKey(run.Name, run.AccountID, run.Livemode, run.Slot)]++
	}
	return counts
}

func slotKey(name, account string, livemode bool, slot time.Time) string {
	return fmt.Sprintf("%s/%s/%v/%s", name, account, livemode, slot.UTC().Format(time.RFC3339))
}

func newStorePath(t *testing.T) string { return filepath.Join(t.TempDir(), "appbackend.db") }

// inTx runs f in a committed transaction.
func inTx(t *testing.T, st store.Store, f func(tx *sql.Tx) error) {
	t.Helper()
	tx, err := st.DB().BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	require.NoError(t, f(tx))
	require.NoError(t, tx.Commit())
}
