package schedule_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/stripeclient"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop() // the throwaway PostgreSQL server, if this process started one
	os.Exit(code)
}

func TestPerAccountScheduleFollowsInstallation(t *testing.T) {
	t.Parallel()
	clk := &clock{now: start.Add(10 * time.Second)}
	set := schedule.NewSet()
	var (
		rec      recorder
		bindings sync.Map // run slot → "account/mode/job" the handler's context carried
	)
	require.NoError(t, set.EveryAccount("@every 1m", "test.refresh", func(ctx context.Context, run schedule.Run) error {
		account, mode, _ := stripeclient.AccountFrom(ctx)
		jobID, _ := stripeclient.JobFrom(ctx)
		bindings.Store(run.Slot, fmt.Sprintf("%s/%s/%v", account, mode, jobID == run.JobID && jobID != 0))
		return rec.handler(ctx, run)
	}))
	n := startNode(t, openStore(t, newStorePath(t)), set, clk, nodeOptions{})
	key := store.ScheduleKey{Name: "test.refresh", AccountID: "acct_1", Livemode: true}

	// Before the install, nothing exists to run.
	n.tick(t)
	_, err := n.st.Schedule(t.Context(), key)
	require.ErrorIs(t, err, store.ErrNotFound)

	n.deliver(t, "evt_install", install.EventAuthorized, "acct_1", true, start)
	row, err := n.st.Schedule(t.Context(), key)
	require.NoError(t, err)
	firstSlot := start.Add(time.Minute)
	require.True(t, row.Enabled)
	require.Equal(t, firstSlot, row.NextSlot, "the first slot is the first after the install")
	jitter := row.NextRunAt.Sub(row.NextSlot)
	require.True(t, jitter >= 0 && jitter < 6*time.Second, "jitter %v: want within a tenth of the minute", jitter)

	clk.Set(firstSlot.Add(jitter - time.Millisecond))
	require.Zero(t, n.tick(t).Enqueued, "enqueued before the slot plus jitter")
	clk.Set(firstSlot.Add(jitter))
	require.Equal(t, 1, n.tick(t).Enqueued)
	n.waitIdle(t)
	runs := rec.runs()
	require.Len(t, runs, 1)
	require.Equal(t, schedule.Run{Name: "test.refresh", AccountID: "acct_1", Livemode: true, Slot: firstSlot, Attempt: 1, JobID: runs[0].JobID}, runs[0])
	binding, _ := bindings.Load(firstSlot)
	require.Equal(t, "acct_1/live/true", binding, "the handler's context binds the account, mode and job")
	row, err = n.st.Schedule(t.Context(), key)
	require.NoError(t, err)
	require.EqualValues(t, 1, row.Runs)
	require.Equal(t, firstSlot, row.LastSlot)
	require.Equal(t, firstSlot.Add(time.Minute), row.NextSlot)

	n.deliver(t, "evt_uninstall", install.EventDeauthorized, "acct_1", true, start.Add(90*time.Second))
	row, err = n.st.Schedule(t.Context(), key)
	require.NoError(t, err)
	require.False(t, row.Enabled, "the uninstall disables the account's schedule")
	for _, later := range []time.Duration{2 * time.Minute, 10 * time.Minute} {
		clk.Set(firstSlot.Add(later + jitter))
		require.Zero(t, n.tick(t).Enqueued, "enqueued %v after the uninstall", later)
	}
	require.Len(t, rec.runs(), 1, "a run after the uninstall")

	// A reinstall starts again from its own time, without the slots in between.
	clk.Set(start.Add(20*time.Minute + 30*time.Second))
	n.deliver(t, "evt_reinstall", install.EventAuthorized, "acct_1", true, start.Add(20*time.Minute))
	row, err = n.st.Schedule(t.Context(), key)
	require.NoError(t, err)
	require.True(t, row.Enabled)
	require.Equal(t, start.Add(21*time.Minute), row.NextSlot)
}

func TestRunQueuedBeforeUninstallIsVoid(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	clk := &clock{now: start.Add(10 * time.Second)}
	var rec recorder
	set := schedule.NewSet()
	require.NoError(t, set.EveryAccount("@every 1m", "test.refresh", rec.handler))
	n := startNode(t, openStore(t, path), set, clk, nodeOptions{})
	n.deliver(t, "evt_install", install.EventAuthorized, "acct_1", false, start)
	n.stop(t, time.Second)

	// While the server is stopped, the slot is enqueued, then the account uninstalls
	// before any worker takes the run.
	clk.Set(start.Add(2 * time.Minute))
	require.Equal(t, 1, n.tick(t).Enqueued)
	inTx(t, n.st, func(tx *sql.Tx) error {
		in, err := n.st.InstallationTx(t.Context(), tx, "acct_1", false)
		if err != nil {
			return err
		}
		in.Status, in.UninstalledAt = store.Uninstalled, clk.Now()
		if err := n.st.PutInstallationTx(t.Context(), tx, in); err != nil {
			return err
		}
		return n.sched.OnUninstall(store.WithTx(t.Context(), tx), in)
	})

	again := startNode(t, openStore(t, path), set, clk, nodeOptions{})
	again.waitIdle(t)
	require.Empty(t, rec.runs(), "the run of an uninstalled account ran")
	jobs := again.runJobs(t)
	require.Len(t, jobs, 1)
	require.Equal(t, rivertype.JobStateCompleted, jobs[0].State)
}

func TestMissedSlotRunsOnceOnStart(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	clk := &clock{now: start.Add(30 * time.Second)}
	var rec recorder
	set := schedule.NewSet()
	require.NoError(t, set.Every("@every 1m", "test.report", rec.handler))

	first := startNode(t, openStore(t, path), set, clk, nodeOptions{})
	first.stop(t, time.Second)

	// Down from 12:00:30 to 12:05:30: the slots 12:01 to 12:05 came and went.
	clk.Set(start.Add(5*time.Minute + 30*time.Second))
	second := startNode(t, openStore(t, path), set, clk, nodeOptions{})
	// River's leader ticks at start; wait for that run.
	require.Eventually(t, func() bool { return len(rec.runs()) > 0 }, 15*time.Second, 20*time.Millisecond, "no run after the start")
	second.tick(t) // and a later tick finds nothing more to do
	second.waitIdle(t)

	runs := rec.runs()
	require.Len(t, runs, 1, "runs: %+v", runs)
	require.Equal(t, start.Add(5*time.Minute), runs[0].Slot, "the run is for the latest missed slot")
	require.Equal(t, 4, runs[0].Missed, "the four earlier slots are folded into it")
	row, err := second.st.Schedule(t.Context(), store.ScheduleKey{Name: "test.report"})
	require.NoError(t, err)
	require.Equal(t, start.Add(6*time.Minute), row.NextSlot)
}

func TestTwoClientsRunEachSlotOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// open opens one more server's store on the same database.
		open func(t *testing.T) func(t *testing.T) store.Store
	}{
		{"SQLite", func(t *testing.T) func(t *testing.T) store.Store {
			path := newStorePath(t)
			return func(t *testing.T) store.Store { return openStore(t, path) }
		}},
		{"PostgreSQL", func(t *testing.T) func(t *testing.T) store.Store {
			url := pgtest.NewDatabase(t)
			return func(t *testing.T) store.Store {
				st, err := postgres.Open(t.Context(), url)
				require.NoError(t, err)
				t.Cleanup(func() { st.Close() })
				return st
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testTwoClientsRunEachSlotOnce(t, tc.open(t))
		})
	}
}

func testTwoClientsRunEachSlotOnce(t *testing.T, open func(t *testing.T) store.Store) {
	clk := &clock{now: start}
	var rec recorder
	set := schedule.NewSet()
	require.NoError(t, set.Every("@every 1s", "test.platform", rec.handler))
	require.NoError(t, set.EveryAccount("@every 1s", "test.account", rec.handler))

	// Two servers on one database, each with its River client and scheduler.
	a := startNode(t, open(t), set, clk, nodeOptions{})
	b := startNode(t, open(t), set, clk, nodeOptions{})
	accounts := []string{"acct_1", "acct_2", "acct_3"}
	for i, acct := range accounts {
		a.deliver(t, "evt_install_"+acct, install.EventAuthorized, acct, true, start.Add(-time.Duration(i)*time.Second))
	}

	const slots = 15
	for i := 1; i <= slots; i++ {
		clk.Set(start.Add(time.Duration(i) * time.Second))
		var wg sync.WaitGroup
		for _, n := range []*node{a, b} {
			wg.Go(func() { n.tick(t) })
		}
		wg.Wait()
	}
	// Past the last slot's jitter, tick until no row is due.
	end := start.Add(slots*time.Second + 900*time.Millisecond)
	clk.Set(end)
	require.Eventually(t, func() bool {
		a.tick(t)
		rows, err := a.st.ListSchedules(t.Context(), store.ScheduleFilter{})
		require.NoError(t, err)
		for _, row := range rows {
			if !row.NextRunAt.After(end) {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond, "rows still due")
	a.waitIdle(t)

	counts := rec.perSlot()
	for key, n := range counts {
		require.Equal(t, 1, n, "slot %s ran %d times", key, n)
	}
	for i := 1; i <= slots; i++ {
		slot := start.Add(time.Duration(i) * time.Second)
		require.Contains(t, counts, slotKey("test.platform", "", false, slot))
		for _, acct := range accounts {
			require.Contains(t, counts, slotKey("test.account", acct, true, slot), "slot %v of %s never ran", slot, acct)
		}
	}
	row, err := b.st.Schedule(t.Context(), store.ScheduleKey{Name: "test.platform"})
	require.NoError(t, err)
	require.EqualValues(t, slots, row.Runs)
}

func TestShutdownMidRunRetriesAfterRestart(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	clk := &clock{now: start.Add(30 * time.Second)}
	var rec recorder
	started := make(chan struct{}, 1)
	set := schedule.NewSet()
	require.NoError(t, set.Every("@every 1m", "test.slow", func(ctx context.Context, run schedule.Run) error {
		rec.record(run)
		if len(rec.runs()) == 1 {
			started <- struct{}{}
			<-ctx.Done() // a long run, still going when the server stops
			return ctx.Err()
		}
		return nil
	}))

	first := startNode(t, openStore(t, path), set, clk, nodeOptions{})
	clk.Set(start.Add(time.Minute))
	first.tick(t)
	<-started
	first.stop(t, 100*time.Millisecond) // graceful stop runs out: the run is cancelled

	row, err := first.st.Schedule(t.Context(), store.ScheduleKey{Name: "test.slow"})
	require.NoError(t, err)
	require.Zero(t, row.Runs)
	require.Contains(t, row.LastError, "context canceled")

	second := startNode(t, openStore(t, path), set, clk, nodeOptions{})
	require.Eventually(t, func() bool { return len(rec.runs()) == 2 }, 15*time.Second, 20*time.Millisecond)
	second.waitIdle(t)
	runs := rec.runs()
	require.Len(t, runs, 2)
	require.Equal(t, runs[0].Slot, runs[1].Slot, "the retry is for the same slot")
	require.Equal(t, runs[0].JobID, runs[1].JobID, "the retry is the same job")
	// River hands a run cut off by shutdown back to the queue without counting the
	// attempt.
	require.Equal(t, 1, runs[1].Attempt)
	row, err = second.st.Schedule(t.Context(), store.ScheduleKey{Name: "test.slow"})
	require.NoError(t, err)
	require.EqualValues(t, 1, row.Runs)
	require.Empty(t, row.LastError, "a success clears the last error")
}

func TestCrashedRunResumesOnStart(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	clk := &clock{now: start.Add(30 * time.Second)}
	var rec recorder
	set := schedule.NewSet()
	require.NoError(t, set.Every("@every 1m", "test.cut", rec.handler))

	// The first server enqueued the slot and began its run when it was killed: its
	// River row is left running, with nobody working it.
	st := openStore(t, path)
	first := startNode(t, st, set, clk, nodeOptions{})
	first.stop(t, time.Second)
	clk.Set(start.Add(time.Minute))
	require.Equal(t, 1, first.tick(t).Enqueued)
	_, err := st.DB().ExecContext(t.Context(), `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now') WHERE kind = ?`, schedule.RunArgs{}.Kind())
	require.NoError(t, err)

	second := startNode(t, openStore(t, path), set, clk, nodeOptions{resumeOnStart: true})
	require.Eventually(t, func() bool { return len(rec.runs()) == 1 }, 15*time.Second, 20*time.Millisecond, "the cut-off run never ran again")
	second.waitIdle(t)
	require.Len(t, rec.runs(), 1)
	require.Equal(t, start.Add(time.Minute), rec.runs()[0].Slot)
}

func TestHandlerPanicIsRecordedAndRetried(t *testing.T) {
	t.Parallel()
	clk := &clock{now: start.Add(30 * time.Second)}
	var rec recorder
	set := schedule.NewSet()
	require.NoError(t, set.Every("@every 1m", "test.panics", func(ctx context.Context, run schedule.Run) error {
		rec.record(run)
		if run.Attempt == 1 {
			var m map[string]int
			m["boom"]++ // a nil map: the classic
		}
		return nil
	}))
	var other recorder
	require.NoError(t, set.Every("@every 1m", "test.other", other.handler))
	n := startNode(t, openStore(t, newStorePath(t)), set, clk, nodeOptions{})

	clk.Set(start.Add(time.Minute))
	require.Equal(t, 2, n.tick(t).Enqueued)
	n.waitIdle(t)

	require.Len(t, rec.runs(), 2, "the panicking run is retried")
	require.Len(t, other.runs(), 1, "the worker keeps running other schedules")
	var job *rivertype.JobRow
	for _, j := range n.runJobs(t) {
		if strings.Contains(string(j.EncodedArgs), "test.panics") {
			job = j
		}
	}
	require.NotNil(t, job)
	require.Equal(t, rivertype.JobStateCompleted, job.State)
	require.Len(t, job.Errors, 1)
	require.Contains(t, job.Errors[0].Error, "assignment to entry in nil map")
	require.NotEmpty(t, job.Errors[0].Trace, "River keeps the panic's stack")
	row, err := n.st.Schedule(t.Context(), store.ScheduleKey{Name: "test.panics"})
	require.NoError(t, err)
	require.EqualValues(t, 1, row.Runs)
}

func TestStripeRefusalCancelsRun(t *testing.T) {
	t.Parallel()
	clk := &clock{now: start.Add(30 * time.Second)}
	var rec recorder
	set := schedule.NewSet()
	require.NoError(t, set.Every("@every 1m", "test.refused", func(ctx context.Context, run schedule.Run) error {
		rec.record(run)
		return &stripeclient.Error{Code: "bad_request", Status: 400, Message: "No such customer: 'cus_gone'"}
	}))
	n := startNode(t, openStore(t, newStorePath(t)), set, clk, nodeOptions{})
	clk.Set(start.Add(time.Minute))
	n.tick(t)
	n.waitIdle(t)

	require.Len(t, rec.runs(), 1, "a refusal is not retried")
	jobs := n.runJobs(t)
	require.Len(t, jobs, 1)
	require.Equal(t, rivertype.JobStateCancelled, jobs[0].State)
	row, err := n.st.Schedule(t.Context(), store.ScheduleKey{Name: "test.refused"})
	require.NoError(t, err)
	require.Contains(t, row.LastError, "No such customer")
	require.Zero(t, row.Runs)
}

func TestSyncDisablesUnregisteredSchedules(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	clk := &clock{now: start}
	noop := func(context.Context, schedule.Run) error { return nil }
	old := schedule.NewSet()
	require.NoError(t, old.Every("@hourly", "test.kept", noop))
	require.NoError(t, old.Every("@hourly", "test.dropped", noop))
	startNode(t, openStore(t, path), old, clk, nodeOptions{}).stop(t, time.Second)

	current := schedule.NewSet()
	require.NoError(t, current.Every("@daily", "test.kept", noop))
	n := startNode(t, openStore(t, path), current, clk, nodeOptions{})
	kept, err := n.st.Schedule(t.Context(), store.ScheduleKey{Name: "test.kept"})
	require.NoError(t, err)
	require.True(t, kept.Enabled)
	require.Equal(t, "@daily", kept.Spec)
	require.Equal(t, start.Truncate(24*time.Hour).Add(24*time.Hour), kept.NextSlot, "a changed spec is replanned")
	dropped, err := n.st.Schedule(t.Context(), store.ScheduleKey{Name: "test.dropped"})
	require.NoError(t, err)
	require.False(t, dropped.Enabled)
}
