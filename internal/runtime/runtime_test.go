package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/stripeclient"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop() // the throwaway PostgreSQL server, if this process started one
	os.Exit(code)
}

// rerunArgs is a job kind that declares itself safe to repeat.
type rerunArgs struct {
	Name string `json:"name"`
}

func (rerunArgs) Kind() string          { return "test.rerun" }
func (rerunArgs) RerunAfterCrash() bool { return true }

// onceArgs is a job kind that must not repeat: it declares nothing.
type onceArgs struct {
	Name string `json:"name"`
}

func (onceArgs) Kind() string { return "test.once" }

// optedOutArgs implements Rerunnable but answers false.
type optedOutArgs struct{}

func (optedOutArgs) Kind() string          { return "test.opted_out" }
func (optedOutArgs) RerunAfterCrash() bool { return false }

// bundle is a built runtime whose workers record the jobs they ran.
type bundle struct {
	st   store.Store
	rt   *Runtime
	mu   sync.Mutex
	seen map[string]time.Time
}

func (b *bundle) record(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen[name] = time.Now()
}

func (b *bundle) ran(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.seen[name]
	return ok
}

func setup(t *testing.T, st store.Store, cfg Config) *bundle {
	t.Helper()
	b := &bundle{st: st, seen: map[string]time.Time{}}
	b.rt = New(cfg)
	b.rt.Open(st)
	require.NoError(t, AddWorker(b.rt, river.WorkFunc(func(ctx context.Context, job *river.Job[rerunArgs]) error {
		b.record(job.Args.Name)
		return nil
	})))
	require.NoError(t, AddWorker(b.rt, river.WorkFunc(func(ctx context.Context, job *river.Job[onceArgs]) error {
		b.record(job.Args.Name)
		return nil
	})))
	require.NoError(t, AddWorker(b.rt, river.WorkFunc(func(ctx context.Context, job *river.Job[optedOutArgs]) error { return nil })))
	require.NoError(t, b.rt.Build())
	return b
}

func start(t *testing.T, rt *Runtime) {
	t.Helper()
	require.NoError(t, rt.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Stop(ctx)
	})
}

// livenessConfig beats fast, so that staleness shows within a second.
var livenessConfig = Config{HeartbeatEvery: 100 * time.Millisecond, StaleAfter: time.Second, PollInterval: 50 * time.Millisecond}

// insertFetchedAs inserts a job and, in the same transaction, fetches it with River's
// own query as processID: the job is committed running, as a fetch leaves it whose
// answer never reached its process (or a process that died right after fetching).
func (b *bundle) insertFetchedAs(t *testing.T, args river.JobArgs, processID string) {
	t.Helper()
	ctx := t.Context()
	tx, err := b.st.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = b.rt.River().InsertTx(ctx, tx, args, nil)
	require.NoError(t, err)
	// River's time, not PostgreSQL's now() (the transaction's start, before the insert).
	now := time.Now()
	res, err := b.st.RiverDriver().UnwrapExecutor(tx).JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{
		ClientID: processID, Kind: []string{args.Kind()}, MaxAttemptedBy: 10, MaxToLock: 1, Now: &now, Queue: river.QueueDefault,
	})
	require.NoError(t, err)
	require.Len(t, res.Jobs, 1, "fetched as %s", processID)
	require.NoError(t, tx.Commit())
}

func (b *bundle) waitRan(t *testing.T, name string) {
	t.Helper()
	require.Eventually(t, func() bool { return b.ran(name) }, 10*time.Second, 20*time.Millisecond, "job %s did not run", name)
}

// TestRerunnableKindsAreDeclaredByTheKind: the runtime learns which kinds may be
// handed back from the kinds themselves, not from a list.
func TestRerunnableKindsAreDeclaredByTheKind(t *testing.T) {
	t.Parallel()
	b := setup(t, dbtest.SQLite(t), Config{})
	require.Equal(t, []string{"test.rerun"}, b.rt.RerunnableKinds())
	require.True(t, b.rt.HasWorker("test.once"))
	require.False(t, b.rt.HasWorker("test.none"))
}

func TestAddWorkerRefusesADuplicateAndLateWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t, dbtest.SQLite(t), Config{})
	err := AddWorker(b.rt, river.WorkFunc(func(context.Context, *river.Job[onceArgs]) error { return nil }))
	require.EqualError(t, err, `runtime: worker for "test.once" added after Build`)

	rt := New(Config{})
	noop := river.WorkFunc(func(context.Context, *river.Job[onceArgs]) error { return nil })
	require.NoError(t, AddWorker(rt, noop))
	require.EqualError(t, AddWorker(rt, noop), `runtime: a worker for job kind "test.once" is already registered`)
}

func TestBuildBeforeOpenFails(t *testing.T) {
	t.Parallel()
	require.EqualError(t, New(Config{}).Build(), "runtime: Build before Open")
}

// TestStopWithoutStartAndTwice: Stop is safe on a runtime never built, never started,
// or already stopped.
func TestStopWithoutStartAndTwice(t *testing.T) {
	t.Parallel()
	require.NoError(t, New(Config{}).Stop(t.Context()))
	b := setup(t, dbtest.SQLite(t), Config{})
	require.NoError(t, b.rt.Stop(t.Context()))
	require.NoError(t, b.rt.Start(t.Context()))
	require.NoError(t, b.rt.Stop(t.Context()))
	require.NoError(t, b.rt.Stop(t.Context()))
}

// TestServicesStartBeforeAndStopAfterTheClient: a flow's loops see the client built
// before it starts and stop after it, in the reverse order of registration.
func TestServicesStartBeforeAndStopAfterTheClient(t *testing.T) {
	t.Parallel()
	st := dbtest.SQLite(t)
	rt := New(Config{})
	rt.Open(st)
	require.NoError(t, AddWorker(rt, river.WorkFunc(func(context.Context, *river.Job[onceArgs]) error { return nil })))
	var order []string
	for _, name := range []string{"a", "b"} {
		rt.AddService(Service{
			StartFunc: func(context.Context) error { order = append(order, "start "+name); return nil },
			StopFunc:  func(context.Context) error { order = append(order, "stop "+name); return nil },
		})
	}
	require.NoError(t, rt.Build())
	require.NoError(t, rt.Start(t.Context()))
	require.NoError(t, rt.Stop(t.Context()))
	require.Equal(t, []string{"start a", "start b", "stop b", "stop a"}, order)
}

// TestOwnLostJobsHandedBack: a job that the database marked running for this process
// but that the process never received (its fetch's answer was lost in an outage) is
// handed back and run within seconds, not after River's rescue delay.
func TestOwnLostJobsHandedBack(t *testing.T) {
	t.Parallel()
	for name, open := range dbtest.Stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, open(t), livenessConfig)
			start(t, b.rt)
			b.insertFetchedAs(t, rerunArgs{Name: "lost_fetch"}, b.rt.ProcessID())
			b.waitRan(t, "lost_fetch")
		})
	}
}

// TestDeadProcessJobsHandedBack: the running job of a process whose heartbeat went
// stale, or that never had one, is handed back and run by a live process once the
// staleness shows, without waiting for River's rescuer.
func TestDeadProcessJobsHandedBack(t *testing.T) {
	t.Parallel()
	for name, open := range dbtest.Stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			// A process that heartbeat once, and is now gone.
			require.NoError(t, st.Heartbeat(t.Context(), "proc_dead"))
			b := setup(t, st, livenessConfig)
			start(t, b.rt)
			b.insertFetchedAs(t, rerunArgs{Name: "dead_process"}, "proc_dead")
			b.insertFetchedAs(t, rerunArgs{Name: "unknown_process"}, "proc_unknown")
			b.waitRan(t, "dead_process")
			b.waitRan(t, "unknown_process")
		})
	}
}

// TestLiveProcessAndUndeclaredJobsLeftAlone: a live process's running job is not
// handed back however long it runs, and neither is a dead process's job of a kind
// that did not declare itself rerunnable (it waits for River's rescuer).
func TestLiveProcessAndUndeclaredJobsLeftAlone(t *testing.T) {
	t.Parallel()
	st := dbtest.SQLite(t)
	b := setup(t, st, livenessConfig)
	start(t, b.rt)
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
	b.insertFetchedAs(t, rerunArgs{Name: "busy"}, "proc_busy")
	b.insertFetchedAs(t, onceArgs{Name: "once"}, "proc_gone")
	// A control that must be handed back: once it ran, a sweep that would have handed
	// the others back has happened.
	b.insertFetchedAs(t, rerunArgs{Name: "control"}, "proc_gone")
	b.waitRan(t, "control")
	time.Sleep(2 * livenessConfig.StaleAfter) // an observation window: more sweeps
	close(stop)
	<-done
	for _, kind := range []string{"test.rerun", "test.once"} {
		var states []string
		rows, err := st.DB().Query(`SELECT state FROM river_job WHERE kind = ? AND state = 'running'`, kind)
		require.NoError(t, err)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			states = append(states, s)
		}
		require.NoError(t, rows.Err())
		rows.Close()
		require.Len(t, states, 1, "kind %s: one job still running", kind)
	}
	require.False(t, b.ran("busy"), "the live process's job was run by another process")
	require.False(t, b.ran("once"), "a job of an undeclared kind was handed back")
}

// River keeps finished jobs no longer than the retention, and completed ones no
// longer than its own default either; zero leaves River's defaults.
func TestSetJobRetention(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retention, completed, discarded time.Duration
	}{
		{2 * time.Second, 2 * time.Second, 2 * time.Second},
		{720 * time.Hour, 24 * time.Hour, 720 * time.Hour},
		{0, 0, 0},
	} {
		var c river.Config
		setJobRetention(&c, tc.retention)
		require.Equal(t, []time.Duration{tc.completed, tc.completed, tc.discarded},
			[]time.Duration{c.CompletedJobRetentionPeriod, c.CancelledJobRetentionPeriod, c.DiscardedJobRetentionPeriod},
			"retention %s: completed, cancelled, discarded", tc.retention)
	}
}

func TestMaxJobTimeoutStaysBelowTheRescue(t *testing.T) {
	t.Parallel()
	require.Equal(t, 4*time.Minute, New(Config{}).MaxJobTimeout())
	require.Equal(t, 8*time.Minute, New(Config{RescueStuckAfter: 10 * time.Minute}).MaxJobTimeout())
}

func TestRetryOrCancel(t *testing.T) {
	t.Parallel()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	generic := errors.New("database is locked")
	refusal := &stripeclient.Error{Code: "bad_request", Status: 400, Message: "No such customer", Retryable: false}
	outage := &stripeclient.Error{Code: "stripe_error", Status: 502, Message: "Stripe is down", Retryable: true}
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		err        error
		wantCancel bool
	}{
		{"an error of the app retries", context.Background(), generic, false},
		{"a retryable Stripe error retries", context.Background(), outage, false},
		{"a Stripe refusal cancels", context.Background(), fmt.Errorf("refresh: %w", refusal), true},
		{"a refusal during shutdown retries", done, refusal, false},
		{"an explicit cancel stays", context.Background(), river.JobCancel(generic), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := RetryOrCancel(tc.ctx, tc.err)
			var ce *rivertype.JobCancelError
			require.Equal(t, tc.wantCancel, errors.As(got, &ce), "RetryOrCancel(%v) = %v: cancelled", tc.err, got)
			require.True(t, errors.Is(got, tc.err) || errors.As(tc.err, &ce), "RetryOrCancel lost the error: %v", got)
		})
	}
	snooze := river.JobSnooze(time.Second)
	require.Equal(t, snooze, RetryOrCancel(context.Background(), snooze), "a snooze passes unchanged")
	require.NoError(t, RetryOrCancel(context.Background(), nil))
}
