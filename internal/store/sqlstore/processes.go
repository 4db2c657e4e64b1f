package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/appbackend/appbackend/internal/store"
)

// forgetStaleAfter is how many times staleAfter a process's row is kept once it stops
// heartbeating. A process without a row counts as dead anyway; the rows are only
// removed so that the table does not grow with every restart.
const forgetStaleAfter = 100

// Heartbeat implements [store.Processes].
func (q *Queries) Heartbeat(ctx context.Context, processID string) error {
	_, err := q.write.ExecContext(ctx, q.rebind(`
		INSERT INTO appbackend_processes (id, started_at, heartbeat_at)
		VALUES (?, `+q.d.NowMicros+`, `+q.d.NowMicros+`)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`), processID)
	if err != nil {
		return fmt.Errorf("heartbeat of %s: %w", processID, err)
	}
	return nil
}

// ForgetProcess implements [store.Processes].
func (q *Queries) ForgetProcess(ctx context.Context, processID string) error {
	if _, err := q.write.ExecContext(ctx, q.rebind(`DELETE FROM appbackend_processes WHERE id = ?`), processID); err != nil {
		return fmt.Errorf("forget process %s: %w", processID, err)
	}
	return nil
}

// kindsIn is "kind IN (?, …)" for the kinds, with their arguments.
func kindsIn(kinds []string) (string, []any) {
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = k
	}
	return `kind IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ") + `)`, args
}

// RunningJobs implements [store.Processes].
func (q *Queries) RunningJobs(ctx context.Context, processID string, kinds []string, minAge time.Duration) ([]int64, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	in, args := kindsIn(kinds)
	query := `SELECT id FROM river_job WHERE state = 'running' AND ` + in +
		` AND ` + q.d.LastAttemptedBy + ` = ? AND ` + q.d.AttemptedAgo("<") + ` ORDER BY id`
	rows, err := q.write.QueryContext(ctx, q.rebind(query), append(args, processID, minAge.Seconds())...)
	if err != nil {
		return nil, fmt.Errorf("list running jobs of %s: %w", processID, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list running jobs of %s: %w", processID, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list running jobs of %s: %w", processID, err)
	}
	return ids, nil
}

// requeueError is the entry a requeued job gets in its errors, shown by River's UI and
// the jobs listing, as River's rescuer records its own.
func (q *Queries) requeueError(why string) string {
	b, _ := json.Marshal(map[string]any{"at": q.now().UTC(), "attempt": 0, "error": why, "trace": ""})
	return string(b)
}

// RequeueJobs implements [store.Processes].
func (q *Queries) RequeueJobs(ctx context.Context, ids []int64) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{q.requeueError("appbackend: the attempt was left running by its own process (a fetch or completion lost to a database error); handed back to the queue")}
	for _, id := range ids {
		args = append(args, id)
	}
	query := `UPDATE river_job SET state = 'available', ` + q.d.AppendJobError +
		` WHERE state = 'running' AND id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + `)`
	res, err := q.write.ExecContext(ctx, q.rebind(query), args...)
	if err != nil {
		return 0, fmt.Errorf("requeue %d jobs: %w", len(ids), err)
	}
	return res.RowsAffected()
}

// RequeueOrphanedJobs implements [store.Processes].
func (q *Queries) RequeueOrphanedJobs(ctx context.Context, self string, kinds []string, staleAfter time.Duration) (int64, error) {
	if len(kinds) == 0 {
		return 0, nil
	}
	in, kindArgs := kindsIn(kinds)
	staleMicros := staleAfter.Microseconds()
	args := []any{q.requeueError("appbackend: the process running this job stopped (no heartbeat); handed back to the queue")}
	args = append(args, kindArgs...)
	args = append(args, self, staleAfter.Seconds(), staleMicros)
	query := `UPDATE river_job SET state = 'available', ` + q.d.AppendJobError + `
		WHERE state = 'running' AND ` + in + `
		AND ` + q.d.LastAttemptedBy + ` <> ? AND ` + q.d.AttemptedAgo("<") + `
		AND NOT EXISTS (SELECT 1 FROM appbackend_processes p
			WHERE p.id = ` + q.d.LastAttemptedBy + ` AND p.heartbeat_at >= ` + q.d.NowMicros + ` - ?)`
	res, err := q.write.ExecContext(ctx, q.rebind(query), args...)
	if err != nil {
		return 0, fmt.Errorf("requeue orphaned jobs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("requeue orphaned jobs: %w", err)
	}
	_, err = q.write.ExecContext(ctx, q.rebind(`DELETE FROM appbackend_processes WHERE heartbeat_at < `+q.d.NowMicros+` - ?`),
		forgetStaleAfter*staleMicros)
	if err != nil {
		return n, fmt.Errorf("forget stale processes: %w", err)
	}
	return n, nil
}

// ClaimWaitingJobsTx implements [store.Processes]. The jobs are never scheduled for
// later (the processor enqueues its jobs to run at once), so available is enough.
func (q *Queries) ClaimWaitingJobsTx(ctx context.Context, tx *sql.Tx, kind, queue string, limit int, take func(args []byte) bool) ([]store.WaitingJob, error) {
	query := `SELECT id, ` + q.d.JobArgs + ` FROM river_job
		WHERE state = 'available' AND kind = ? AND queue = ? AND attempt = 0
			AND NOT EXISTS (SELECT 1 FROM river_queue WHERE name = ? AND paused_at IS NOT NULL)
		ORDER BY id LIMIT ?` + q.d.SkipLocked
	rows, err := q.queryTx(ctx, tx, query, kind, queue, queue, limit)
	if err != nil {
		return nil, fmt.Errorf("claim waiting %s jobs: %w", kind, err)
	}
	defer rows.Close()
	var (
		jobs []store.WaitingJob
		ids  []int64
	)
	for rows.Next() {
		var j store.WaitingJob
		if err := rows.Scan(&j.ID, &j.Args); err != nil {
			return nil, fmt.Errorf("claim waiting %s jobs: %w", kind, err)
		}
		if take(j.Args) {
			jobs = append(jobs, j)
			ids = append(ids, j.ID)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim waiting %s jobs: %w", kind, err)
	}
	rows.Close()
	if len(jobs) == 0 {
		return nil, nil
	}
	// The rows are this transaction's (locked, or SQLite's one writer), so all go.
	res, err := q.execTx(ctx, tx, `DELETE FROM river_job WHERE `+q.d.InJobIDs, q.d.JobIDList(ids))
	if err != nil {
		return nil, fmt.Errorf("claim waiting %s jobs: %w", kind, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(jobs)) {
		return nil, fmt.Errorf("claim waiting %s jobs: deleted %d of %d (%v)", kind, n, len(jobs), err)
	}
	return jobs, nil
}
