package storetest

import (
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
)

type orphanArgs struct {
	N int `json:"n"`
}

func (orphanArgs) Kind() string { return "storetest.orphan" }

// fetchAs inserts n jobs of kind storetest.orphan and fetches them with River's own
// query as the process id, as if fetched fetchedAgo ago; it returns their ids.
func fetchAs(t *testing.T, s store.Store, client *river.Client[*sql.Tx], processID string, n int, fetchedAgo time.Duration) []int64 {
	t.Helper()
	ctx := t.Context()
	queue := fmt.Sprintf("q_%s", processID)
	at := time.Now().Add(-fetchedAgo)
	for i := range n {
		opts := &river.InsertOpts{Queue: queue, ScheduledAt: at.Add(-time.Second)}
		_, err := client.Insert(ctx, orphanArgs{N: i}, opts)
		require.NoError(t, err)
	}
	// River inserts a job with a time as scheduled; its scheduler's own query makes
	// it available.
	now := time.Now()
	if _, err := s.RiverDriver().GetExecutor().JobSchedule(ctx, &riverdriver.JobScheduleParams{Max: 1000, Now: &now}); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	res, err := s.RiverDriver().GetExecutor().JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{
		ClientID: processID, Kind: []string{orphanArgs{}.Kind()}, MaxAttemptedBy: 10, MaxToLock: n, Now: &at, Queue: queue,
	})
	require.NoError(t, err)
	jobs := res.Jobs
	require.Len(t, jobs, n, "fetched %d jobs as %s, want %d", len(jobs), processID, n)
	ids := make([]int64, n)
	for i, j := range jobs {
		ids[i] = j.ID
	}
	slices.Sort(ids)
	return ids
}

func jobStates(t *testing.T, client *river.Client[*sql.Tx], ids []int64) []rivertype.JobState {
	t.Helper()
	states := make([]rivertype.JobState, len(ids))
	for i, id := range ids {
		job, err := client.JobGet(t.Context(), id)
		require.NoError(t, err)
		states[i] = job.State
	}
	return states
}

func allIn(states []rivertype.JobState, want rivertype.JobState) bool {
	for _, s := range states {
		if s != want {
			return false
		}
	}
	return true
}

// testProcessesRequeueOrphanedJobs: the running jobs of a process whose heartbeat is
// stale, or that never had one, go back to the queue; those of a live process, of
// the process asking, of other kinds, or fetched too recently stay running.
func testProcessesRequeueOrphanedJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	client, err := river.NewClient(s.RiverDriver(), &river.Config{})
	require.NoError(t, err)
	const stale = 2 * time.Second
	require.NoError(t, s.Heartbeat(ctx, "proc_live"))
	require.NoError(t, s.Heartbeat(ctx, "proc_self"))
	require.NoError(t, s.Heartbeat(ctx, "proc_dead"))
	live := fetchAs(t, s, client, "proc_live", 2, time.Minute)
	self := fetchAs(t, s, client, "proc_self", 2, time.Minute)
	dead := fetchAs(t, s, client, "proc_dead", 3, time.Minute)
	unknown := fetchAs(t, s, client, "proc_unknown", 2, time.Minute)
	recent := fetchAs(t, s, client, "proc_recent", 1, 0)

	// Nothing is stale yet but the process that never heartbeat.
	n, err := s.RequeueOrphanedJobs(ctx, "proc_self", []string{orphanArgs{}.Kind()}, stale)
	require.NoError(t, err)
	if n != int64(len(unknown)) || !allIn(jobStates(t, client, unknown), rivertype.JobStateAvailable) {
		require.FailNow(t, fmt.Sprintf("first sweep moved %d jobs (unknown process's: %v), want only the %d of the process without a heartbeat", n, jobStates(t, client, unknown), len(unknown)))
	}
	// Another kind is never touched.
	if n, err := s.RequeueOrphanedJobs(ctx, "proc_self", []string{"storetest.other"}, 0); err != nil || n != 0 {
		require.FailNow(t, fmt.Sprintf("sweep of another kind = %d, %v; want 0", n, err))
	}

	time.Sleep(stale + 100*time.Millisecond)
	require.NoError(t, s.Heartbeat(ctx, "proc_live"))
	n, err = s.RequeueOrphanedJobs(ctx, "proc_self", []string{orphanArgs{}.Kind()}, stale)
	require.NoError(t, err)
	require.Equal(t, int64(len(dead)+len(recent)), n, "second sweep moved %d jobs, want the %d of the dead process and the %d of the one without a heartbeat", n, len(dead), len(recent))
	for _, c := range []struct {
		name string
		ids  []int64
		want rivertype.JobState
	}{
		{"dead process", dead, rivertype.JobStateAvailable},
		{"live process", live, rivertype.JobStateRunning},
		{"the sweeping process itself", self, rivertype.JobStateRunning},
	} {
		got := jobStates(t, client, c.ids)
		require.True(t, allIn(got, c.want), "jobs of the %s: %v, want all %s", c.name, got, c.want)
	}
	job, err := client.JobGet(ctx, dead[0])
	require.NoError(t, err)
	if len(job.Errors) != 1 || job.Errors[0].Attempt != 1 || job.Errors[0].Error == "" {
		require.FailNow(t, fmt.Sprintf("requeued job's errors = %+v, want one entry for attempt 1 saying why", job.Errors))
	}

	// A process that stopped cleanly is forgotten: its leftovers count as orphaned.
	require.NoError(t, s.ForgetProcess(ctx, "proc_live"))
	if n, err := s.RequeueOrphanedJobs(ctx, "proc_self", []string{orphanArgs{}.Kind()}, stale); err != nil || n != int64(len(live)) {
		require.FailNow(t, fmt.Sprintf("sweep after ForgetProcess = %d, %v; want the %d jobs of the forgotten process", n, err, len(live)))
	}
}

// testProcessesRunningJobs: a process lists its own running jobs fetched long
// enough ago, and can hand back those it is not running.
func testProcessesRunningJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	client, err := river.NewClient(s.RiverDriver(), &river.Config{})
	require.NoError(t, err)
	old := fetchAs(t, s, client, "proc_a", 3, time.Minute)
	fetchAs(t, s, client, "proc_a", 1, 0)
	fetchAs(t, s, client, "proc_b", 1, time.Minute)
	got, err := s.RunningJobs(ctx, "proc_a", []string{orphanArgs{}.Kind()}, 10*time.Second)
	require.NoError(t, err)
	require.True(t, slices.Equal(got, old), "RunningJobs = %v, want %v (proc_a's, fetched over 10 s ago)", got, old)
	if got, err := s.RunningJobs(ctx, "proc_a", nil, 0); err != nil || len(got) != 0 {
		require.FailNow(t, fmt.Sprintf("RunningJobs of no kind = %v, %v; want none", got, err))
	}
	n, err := s.RequeueJobs(ctx, old[:2])
	require.NoError(t, err, "RequeueJobs = %d, %v; want 2", n, err)
	require.EqualValues(t, 2, n, "RequeueJobs = %d, %v; want 2", n, err)
	if n, err := s.RequeueJobs(ctx, old[:2]); err != nil || n != 0 {
		require.FailNow(t, fmt.Sprintf("RequeueJobs again = %d, %v; want 0 (no longer running)", n, err))
	}
	if got := jobStates(t, client, old); got[0] != rivertype.JobStateAvailable || got[2] != rivertype.JobStateRunning {
		require.FailNow(t, fmt.Sprintf("states after RequeueJobs = %v", got))
	}
}
