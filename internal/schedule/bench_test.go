package schedule_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/events"
	abruntime "github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/stretchr/testify/require"
)

const benchAccounts = 10_000

type benchBundle struct {
	st      store.Store
	clk     *clock
	sched   *schedule.Scheduler
	client  schedule.Inserter
	jitters []time.Duration // every account's jitter, sorted
}

// setupHourly installs the app on benchAccounts accounts (live mode), registers an
// hourly EveryAccount schedule and plans it, as a server starting on that database.
func setupHourly(b *testing.B) *benchBundle {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, b.TempDir()+"/bench.db")
	require.NoError(b, err)
	b.Cleanup(func() { st.Close() })
	tx, err := st.DB().BeginTx(ctx, nil)
	require.NoError(b, err)
	for i := range benchAccounts {
		err := st.PutInstallationTx(ctx, tx, store.Installation{
			AccountID: fmt.Sprintf("acct_%05d", i), Livemode: true, Status: store.Installed,
			InstalledAt: start, LastEventCreated: start, LastEventID: fmt.Sprintf("evt_%05d", i),
		})
		require.NoError(b, err)
	}
	require.NoError(b, tx.Commit())

	clk := &clock{now: start.Add(-30 * time.Minute)}
	set := schedule.NewSet()
	require.NoError(b, set.EveryAccount("@hourly", "bench.refresh", func(context.Context, schedule.Run) error { return nil }))
	sched := schedule.New(st, set, schedule.Config{Archetype: &baseservice.Archetype{Now: clk.Now}})
	rt := abruntime.New(abruntime.Config{})
	rt.Open(st)
	require.NoError(b, sched.AddWorkers(rt))
	rt.ConfigureRiver(sched.ConfigureRiver)
	// The River client only inserts here: no worker runs, so the figures are the tick's.
	if _, err := events.New(rt, events.Config{}); err != nil {
		require.FailNow(b, fmt.Sprint(err))
	}
	require.NoError(b, rt.Build())
	require.NoError(b, sched.Sync(ctx))
	began := time.Now()
	stats, err := sched.Tick(ctx, rt.River())
	require.NoError(b, err, "planning tick: %+v, %v; want %d planned", stats, err, benchAccounts)
	require.Equal(b, benchAccounts, stats.Planned, "planning tick: %+v, %v; want %d planned", stats, err, benchAccounts)
	b.Logf("start-up: %d rows planned by the first tick in %v", stats.Planned, time.Since(began).Round(time.Millisecond))

	spec, err := schedule.ParseSpec("@hourly")
	require.NoError(b, err)
	jitters := make([]time.Duration, benchAccounts)
	for i := range jitters {
		key := store.ScheduleKey{Name: "bench.refresh", AccountID: fmt.Sprintf("acct_%05d", i), Livemode: true}
		jitters[i] = schedule.Jitter(spec, key, schedule.DefaultMaxJitter)
	}
	slices.Sort(jitters)
	return &benchBundle{st: st, clk: clk, sched: sched, client: rt.River(), jitters: jitters}
}

// BenchmarkHourlyEveryAccount10k simulates, per iteration, one hour of an hourly
// EveryAccount schedule on 10,000 installed accounts: River's leader ticks once a
// second (the stubbed clock advances a second per tick) through the jitter window.
// After each tick every account whose slot plus jitter has come has its run enqueued
// (checked), so a run is enqueued at most one tick interval plus one tick's duration
// after its time; the metrics give that tick duration and the tick's cost per account.
//
//	go test ./internal/schedule -run '^$' -bench HourlyEveryAccount10k -benchtime 3x
func BenchmarkHourlyEveryAccount10k(b *testing.B) {
	bb := setupHourly(b)
	ctx := context.Background()
	window := bb.jitters[len(bb.jitters)-1]
	var (
		total, longest time.Duration
		mostRuns       int
		ticks          int
		mem            runtime.MemStats
	)
	runtime.GC()
	runtime.ReadMemStats(&mem)
	allocated := mem.TotalAlloc
	b.ResetTimer()
	for i := range b.N {
		slot := start.Add(time.Duration(i) * time.Hour)
		enqueued := 0
		for s := time.Duration(0); s <= window+time.Second; s += time.Second {
			bb.clk.Set(slot.Add(s))
			began := time.Now()
			stats, err := bb.sched.Tick(ctx, bb.client)
			took := time.Since(began)
			require.NoError(b, err)
			total += took
			longest = max(longest, took)
			mostRuns = max(mostRuns, stats.Enqueued)
			ticks++
			enqueued += stats.Enqueued
			// Every account whose due time (slot + jitter) is at or before now is
			// enqueued by this tick.
			want := sort.Search(len(bb.jitters), func(j int) bool { return bb.jitters[j] > s })
			require.Equal(b, want, enqueued, "hour %d, %v into the slot: %d runs enqueued, want %d", i, s, enqueued, want)
		}
		require.Equal(b, benchAccounts, enqueued, "hour %d: %d runs enqueued, want %d", i, enqueued, benchAccounts)
	}
	b.StopTimer()
	runtime.ReadMemStats(&mem)
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*benchAccounts), "ns/account")
	b.ReportMetric(float64(longest.Microseconds())/1000, "max-tick-ms")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(ticks), "mean-tick-ms")
	b.ReportMetric(float64(mostRuns), "max-runs/tick")
	b.ReportMetric(float64(mem.TotalAlloc-allocated)/float64(b.N*benchAccounts), "B/account")
	b.ReportMetric(float64(mem.HeapInuse)/(1<<20), "heap-MiB")
	b.Logf("%d accounts, jitter window %v, %d ticks: longest tick %v, at most %d runs a tick; "+
		"each run enqueued within 1s (the tick interval) + %v of its slot plus jitter",
		benchAccounts, window.Round(time.Second), ticks, longest.Round(time.Millisecond), mostRuns, longest.Round(time.Millisecond))
}

// BenchmarkIdleTick is the tick River's leader runs every second when nothing is due,
// with 10,000 planned rows.
func BenchmarkIdleTick(b *testing.B) {
	bb := setupHourly(b)
	ctx := context.Background()
	bb.clk.Set(start.Add(-time.Minute)) // before the slot: every row planned, none due
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		stats, err := bb.sched.Tick(ctx, bb.client)
		require.NoError(b, err, "idle tick: %+v", stats)
		require.Equal(b, 0, stats.Due, "idle tick: %+v, %v", stats, err)
	}
}
