package schedule_test

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

// An idle server writes nothing for its schedules: River's leader considers the tick
// every second but enqueues none until a row's run time has come, also for a row
// another server wrote.
func TestIdleServerWritesNothingForSchedules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
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
			testIdleServerWritesNothing(t, tc.open(t))
		})
	}
}

func testIdleServerWritesNothing(t *testing.T, open func(t *testing.T) store.Store) {
	clk := &clock{now: start.Add(30 * time.Second)} // 12:00:30
	var rec recorder
	set := schedule.NewSet()
	require.NoError(t, set.Every("@hourly", "test.hourly", rec.handler))
	require.NoError(t, set.EveryAccount("@every 1m", "test.account", rec.handler))
	opts := nodeOptions{tickInterval: time.Second}
	a := startNode(t, open(t), set, clk, opts)
	b := startNode(t, open(t), set, clk, opts)

	ticks := func() int {
		t.Helper()
		res, err := a.rt.River().JobList(t.Context(), river.NewJobListParams().Kinds(schedule.TickArgs{}.Kind()).First(10_000))
		require.NoError(t, err)
		return len(res.Jobs)
	}
	considered := func() int64 { return a.sched.TicksConsidered() + b.sched.TicksConsidered() }
	// The tick at start plans the rows; wait for it to have run.
	require.Eventually(t, func() bool {
		res, err := a.rt.River().JobList(t.Context(), river.NewJobListParams().Kinds(schedule.TickArgs{}.Kind()).States(rivertype.JobStateCompleted))
		require.NoError(t, err)
		return len(res.Jobs) > 0
	}, 15*time.Second, 20*time.Millisecond, "no tick at start")
	// The other server installs an account: its row is planned for 12:01 plus jitter.
	b.deliver(t, "evt_install", install.EventAuthorized, "acct_1", true, start)

	ticksBefore, rowsBefore := ticks(), schedules(t, a.st)
	seen := considered()
	require.Eventually(t, func() bool { return considered() >= seen+3 }, 15*time.Second, 20*time.Millisecond,
		"River's leader never considered the tick")
	require.Equal(t, ticksBefore, ticks(), "tick jobs enqueued while no row was due")
	require.Empty(t, a.runJobs(t), "runs enqueued while no row was due")
	require.Equal(t, rowsBefore, schedules(t, a.st), "schedule rows written while none was due")

	// The account's slot comes: whichever server leads finds it, though b wrote it.
	clk.Set(start.Add(90 * time.Second)) // 12:01:30, past the jitter (at most 6 s)
	require.Eventually(t, func() bool { return len(rec.runs()) > 0 }, 15*time.Second, 20*time.Millisecond,
		"the due slot did not run")
	a.waitIdle(t)
	runs := rec.runs()
	require.Len(t, runs, 1, "runs: %+v", runs)
	require.Equal(t, "acct_1", runs[0].AccountID)
	require.Equal(t, start.Add(time.Minute), runs[0].Slot)
	// One tick for the slot; a second only if a read of the rows raced that tick.
	require.LessOrEqual(t, ticks()-ticksBefore, 2, "ticks for one due slot")
}

// schedules lists every row, with its plan and history.
func schedules(t *testing.T, st store.Store) []store.Schedule {
	t.Helper()
	rows, err := st.ListSchedules(t.Context(), store.ScheduleFilter{})
	require.NoError(t, err)
	return rows
}
