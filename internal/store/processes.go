package store

import (
	"context"
	"database/sql"
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
	// ClaimWaitingJobsTx looks, in tx, at up to limit jobs of kind in queue that wait to
	// run (available) and were never tried, oldest first, hands each one's args to
	// take, and deletes those take accepted, which it returns: the transaction does
	// their work itself. Jobs another transaction holds (River's fetch, another
	// process's claim) are skipped, not waited for. A paused queue (River's
	// river_queue.paused_at) gives none, so that a job running when the queue was
	// paused does not go on draining it.
	ClaimWaitingJobsTx(ctx context.Context, tx *sql.Tx, kind, queue string, limit int, take func(args []byte) bool) ([]WaitingJob, error)
}

// WaitingJob is a job ClaimWaitingJobsTx took from the queue.
type WaitingJob struct {
	ID   int64
	Args []byte // the job's encoded args (JSON)
}
