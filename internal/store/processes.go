package store

import (
	"context"
	"time"
)

// Processes lets the processes that share a database see which of them are alive, so
// that the River jobs of one that died go back to the queue within seconds, instead of
// waiting for River's rescuer (minutes: it cannot tell a dead process's job from a long
// one). A process is its River client id. Times are the database's clock, so replicas
// whose clocks differ agree on who is stale.
type Processes interface {
	// Heartbeat records that the process is alive.
	Heartbeat(ctx context.Context, processID string) error
	// ForgetProcess removes the heartbeat of a process that stopped cleanly; its jobs
	// still running, if any, then count as orphaned at once.
	ForgetProcess(ctx context.Context, processID string) error
	// RunningJobs lists the jobs of the given kinds that are running for the process
	// (its latest attempt) and were fetched at least minAge ago.
	RunningJobs(ctx context.Context, processID string, kinds []string, minAge time.Duration) ([]int64, error)
	// RequeueJobs hands back to the queue those of the given jobs that are still
	// running, to run again now, and returns how many it moved. The attempt they were
	// on still counts against their maximum, as with River's rescuer.
	RequeueJobs(ctx context.Context, ids []int64) (int64, error)
	// RequeueOrphanedJobs hands back to the queue the running jobs of the given kinds
	// whose process has no heartbeat fresher than staleAfter (a process with no row at
	// all counts once the job was fetched staleAfter ago), except self's. It returns
	// how many it moved.
	RequeueOrphanedJobs(ctx context.Context, self string, kinds []string, staleAfter time.Duration) (int64, error)
}
