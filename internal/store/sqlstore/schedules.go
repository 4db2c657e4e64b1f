package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/appbackend/appbackend/internal/store"
)

const scheduleColumns = `name, account_id, livemode, spec, enabled, next_slot, next_run_at, last_slot,
	last_run_at, runs, last_error, created_at, updated_at`

func scanSchedule(r rowScanner) (store.Schedule, error) {
	var (
		s                    store.Schedule
		nextSlot, nextRun    int64
		lastSlot, lastRun    sql.NullInt64
		lastErr              sql.NullString
		createdAt, updatedAt int64
	)
	err := r.Scan(&s.Name, &s.AccountID, &s.Livemode, &s.Spec, &s.Enabled, &nextSlot, &nextRun, &lastSlot,
		&lastRun, &s.Runs, &lastErr, &createdAt, &updatedAt)
	if err != nil {
		return store.Schedule{}, err
	}
	s.NextSlot = fromPlanMicros(nextSlot)
	s.NextRunAt = fromPlanMicros(nextRun)
	s.LastSlot = fromNullMicros(lastSlot)
	s.LastRunAt = fromNullMicros(lastRun)
	s.LastError = lastErr.String
	s.CreatedAt = fromMicros(createdAt)
	s.UpdatedAt = fromMicros(updatedAt)
	return s, nil
}

// planMicros stores an unplanned (zero) time as 0, which sorts first: the tick plans
// such rows as soon as it sees them.
func planMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromPlanMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMicros(v)
}

func scheduleName(k store.ScheduleKey) string {
	if k.AccountID == "" {
		return "schedule " + k.Name
	}
	return fmt.Sprintf("schedule %s of %s (%s)", k.Name, k.AccountID, modeName(k.Livemode))
}

// EnsureScheduleTx implements [store.Schedules].
func (q *Queries) EnsureScheduleTx(ctx context.Context, tx *sql.Tx, s store.Schedule) error {
	now := micros(q.now())
	// SET expressions read the row as it was, so the CASEs see the old spec and state.
	_, err := tx.ExecContext(ctx, q.rebind(`
		INSERT INTO appbackend_schedules
			(name, account_id, livemode, spec, enabled, next_slot, next_run_at, runs, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
		ON CONFLICT (name, account_id, livemode) DO UPDATE SET
			next_slot = CASE WHEN appbackend_schedules.enabled AND appbackend_schedules.spec = excluded.spec
				THEN appbackend_schedules.next_slot ELSE excluded.next_slot END,
			next_run_at = CASE WHEN appbackend_schedules.enabled AND appbackend_schedules.spec = excluded.spec
				THEN appbackend_schedules.next_run_at ELSE excluded.next_run_at END,
			spec = excluded.spec, enabled = excluded.enabled, updated_at = excluded.updated_at`),
		s.Name, s.AccountID, s.Livemode, s.Spec, s.Enabled, planMicros(s.NextSlot), planMicros(s.NextRunAt), now, now)
	if err != nil {
		return fmt.Errorf("ensure %s: %w", scheduleName(s.ScheduleKey), err)
	}
	return nil
}

// installedMatch is true for a schedule row whose account and mode have the app
// installed.
const installedMatch = `EXISTS (SELECT 1 FROM appbackend_installations i
	WHERE i.account_id = appbackend_schedules.account_id AND i.livemode = appbackend_schedules.livemode
	AND i.status = 'installed')`

// SyncAccountSchedulesTx implements [store.Schedules].
func (q *Queries) SyncAccountSchedulesTx(ctx context.Context, tx *sql.Tx, name, spec string) (int64, error) {
	now := micros(q.now())
	steps := []struct {
		query string
		args  []any
	}{
		{`UPDATE appbackend_schedules SET spec = ?, next_slot = 0, next_run_at = 0, updated_at = ?
			WHERE name = ? AND account_id <> '' AND spec <> ?`, []any{spec, now, name, spec}},
		{`UPDATE appbackend_schedules SET enabled = TRUE, next_slot = 0, next_run_at = 0, updated_at = ?
			WHERE name = ? AND account_id <> '' AND NOT enabled AND ` + installedMatch, []any{now, name}},
		{`UPDATE appbackend_schedules SET enabled = FALSE, updated_at = ?
			WHERE name = ? AND account_id <> '' AND enabled AND NOT ` + installedMatch, []any{now, name}},
		// SQLite needs the WHERE to parse ON CONFLICT after a SELECT.
		{`INSERT INTO appbackend_schedules
				(name, account_id, livemode, spec, enabled, next_slot, next_run_at, runs, created_at, updated_at)
			SELECT ?, i.account_id, i.livemode, ?, TRUE, 0, 0, 0, ?, ? FROM appbackend_installations i
			WHERE i.status = 'installed'
			ON CONFLICT (name, account_id, livemode) DO NOTHING`, []any{name, spec, now, now}},
	}
	if q.d.LockInstallations != "" {
		// The steps read the installations in several statements; an install or
		// uninstall committing between them would leave its account's row wrong.
		if _, err := tx.ExecContext(ctx, q.d.LockInstallations); err != nil {
			return 0, fmt.Errorf("sync per-account schedule %s: %w", name, err)
		}
	}
	var changed int64
	for _, st := range steps {
		res, err := tx.ExecContext(ctx, q.rebind(st.query), st.args...)
		if err != nil {
			return changed, fmt.Errorf("sync per-account schedule %s: %w", name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return changed, fmt.Errorf("sync per-account schedule %s: %w", name, err)
		}
		changed += n
	}
	return changed, nil
}

// DisableAccountSchedulesTx implements [store.Schedules].
func (q *Queries) DisableAccountSchedulesTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) (int64, error) {
	res, err := tx.ExecContext(ctx, q.rebind(`
		UPDATE appbackend_schedules SET enabled = FALSE, updated_at = ?
		WHERE account_id = ? AND livemode = ? AND enabled`), micros(q.now()), accountID, livemode)
	if err != nil {
		return 0, fmt.Errorf("disable schedules of %s (%s): %w", accountID, modeName(livemode), err)
	}
	return res.RowsAffected()
}

// DisableSchedulesExceptTx implements [store.Schedules].
func (q *Queries) DisableSchedulesExceptTx(ctx context.Context, tx *sql.Tx, names []string) (int64, error) {
	query := `UPDATE appbackend_schedules SET enabled = FALSE, updated_at = ? WHERE enabled`
	args := []any{micros(q.now())}
	if len(names) > 0 {
		query += ` AND name NOT IN (?` + strings.Repeat(", ?", len(names)-1) + `)`
		for _, n := range names {
			args = append(args, n)
		}
	}
	res, err := tx.ExecContext(ctx, q.rebind(query), args...)
	if err != nil {
		return 0, fmt.Errorf("disable unregistered schedules: %w", err)
	}
	return res.RowsAffected()
}

// DueSchedulesTx implements [store.Schedules].
func (q *Queries) DueSchedulesTx(ctx context.Context, tx *sql.Tx, now time.Time, limit int) ([]store.Schedule, error) {
	// A concurrent tick (PostgreSQL) waits for the rows another holds, then finds them
	// planned past now and leaves them. Skipping locked rows instead would also skip
	// rows that a run is being recorded on, and a row skipped tick after tick would
	// look behind and have its slots folded.
	query := `SELECT ` + scheduleColumns + ` FROM appbackend_schedules
		WHERE enabled AND next_run_at <= ? ORDER BY next_run_at LIMIT ?` + q.d.LockRow
	rows, err := tx.QueryContext(ctx, q.rebind(query), micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list due schedules: %w", err)
	}
	defer rows.Close()
	var due []store.Schedule
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, fmt.Errorf("list due schedules: %w", err)
		}
		due = append(due, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list due schedules: %w", err)
	}
	return due, nil
}

// NextScheduleRunAt implements [store.Schedules]. A read on the read pool, served by
// the index of the due rows: the tick's gate asks it often, and it must not write.
func (q *Queries) NextScheduleRunAt(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := q.read.QueryRowContext(ctx, `SELECT MIN(next_run_at) FROM appbackend_schedules WHERE enabled`).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next schedule run: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromPlanMicros(next.Int64), true, nil
}

// PlanSchedulesTx implements [store.Schedules]. The statement is prepared once for
// the batch: a tick plans hundreds of rows in one transaction.
func (q *Queries) PlanSchedulesTx(ctx context.Context, tx *sql.Tx, plans []store.SchedulePlan) error {
	if len(plans) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, q.rebind(`
		UPDATE appbackend_schedules SET next_slot = ?, next_run_at = ?, updated_at = ?
		WHERE name = ? AND account_id = ? AND livemode = ?`))
	if err != nil {
		return fmt.Errorf("plan schedules: %w", err)
	}
	defer stmt.Close()
	now := micros(q.now())
	for _, p := range plans {
		if _, err := stmt.ExecContext(ctx, planMicros(p.NextSlot), planMicros(p.NextRunAt), now,
			p.Key.Name, p.Key.AccountID, p.Key.Livemode); err != nil {
			return fmt.Errorf("plan %s: %w", scheduleName(p.Key), err)
		}
	}
	return nil
}

// RecordScheduleRunTx implements [store.Schedules].
func (q *Queries) RecordScheduleRunTx(ctx context.Context, tx *sql.Tx, key store.ScheduleKey, run store.ScheduleRun) error {
	if run.At.IsZero() {
		run.At = q.now()
	}
	var (
		res sql.Result
		err error
	)
	if run.Error == "" {
		res, err = tx.ExecContext(ctx, q.rebind(`
			UPDATE appbackend_schedules
			SET runs = runs + 1, last_slot = ?, last_run_at = ?, last_error = NULL, updated_at = ?
			WHERE name = ? AND account_id = ? AND livemode = ?`),
			micros(run.Slot), micros(run.At), micros(run.At), key.Name, key.AccountID, key.Livemode)
	} else {
		res, err = tx.ExecContext(ctx, q.rebind(`
			UPDATE appbackend_schedules SET last_error = ?, updated_at = ?
			WHERE name = ? AND account_id = ? AND livemode = ?`),
			run.Error, micros(run.At), key.Name, key.AccountID, key.Livemode)
	}
	return oneRow(res, err, "record run of "+scheduleName(key))
}

// Schedule implements [store.Schedules].
func (q *Queries) Schedule(ctx context.Context, key store.ScheduleKey) (store.Schedule, error) {
	row := q.read.QueryRowContext(ctx, q.rebind(`SELECT `+scheduleColumns+` FROM appbackend_schedules
		WHERE name = ? AND account_id = ? AND livemode = ?`), key.Name, key.AccountID, key.Livemode)
	s, err := scanSchedule(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Schedule{}, fmt.Errorf("%s: %w", scheduleName(key), store.ErrNotFound)
	}
	if err != nil {
		return store.Schedule{}, fmt.Errorf("load %s: %w", scheduleName(key), err)
	}
	return s, nil
}

// ListSchedules implements [store.Schedules].
func (q *Queries) ListSchedules(ctx context.Context, f store.ScheduleFilter) ([]store.Schedule, error) {
	var (
		where []string
		args  []any
	)
	if f.Name != "" {
		where, args = append(where, "name = ?"), append(args, f.Name)
	}
	if f.AccountID != "" {
		where, args = append(where, "account_id = ?"), append(args, f.AccountID)
	}
	if f.Platform {
		where = append(where, "account_id = ''")
	}
	if f.Enabled != nil {
		where, args = append(where, "enabled = ?"), append(args, *f.Enabled)
	}
	query := `SELECT ` + scheduleColumns + ` FROM appbackend_schedules`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY name, account_id, livemode`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := q.read.QueryContext(ctx, q.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	list := []store.Schedule{}
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		list = append(list, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return list, nil
}
