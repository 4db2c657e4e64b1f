package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// ScheduleKey names one schedule row: a schedule's name, and for a per-account
// schedule the account and mode it runs for. A platform schedule has an empty
// AccountID and Livemode false.
type ScheduleKey struct {
	Name      string
	AccountID string
	Livemode  bool
}

// Schedule is one row of the schedules table: a schedule of the platform, or a
// per-account schedule for one account and mode, with its plan and its history.
type Schedule struct {
	ScheduleKey
	Spec string // the cron spec or @every interval it was planned with
	// Enabled is false for a per-account schedule whose account uninstalled the app in
	// that mode, and for a schedule no longer registered by the app.
	Enabled bool
	// NextSlot is the next slot (the nominal time the spec gives); zero when the row
	// has not been planned yet, which the next tick does.
	NextSlot time.Time
	// NextRunAt is when the tick enqueues the next slot: NextSlot plus the row's jitter.
	NextRunAt time.Time
	LastSlot  time.Time // the slot of the last successful run; zero if none
	LastRunAt time.Time // when the last successful run finished; zero if none
	Runs      int64     // successful runs
	// LastError is the error of the latest failed attempt; empty after a success.
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MarshalJSON writes the shape of `appbackend schedules --json`: null for the account of
// a platform schedule, RFC 3339 times or null, and the state as "active" or "disabled".
func (s Schedule) MarshalJSON() ([]byte, error) {
	state := "active"
	next := nullTime(s.NextRunAt)
	if !s.Enabled {
		state, next = "disabled", nil
	}
	return json.Marshal(struct {
		Name      string     `json:"name"`
		Spec      string     `json:"spec"`
		AccountID *string    `json:"account_id"`
		Livemode  bool       `json:"livemode"`
		State     string     `json:"state"`
		NextRunAt *time.Time `json:"next_run_at"`
		LastRunAt *time.Time `json:"last_run_at"`
		LastSlot  *time.Time `json:"last_slot"`
		Runs      int64      `json:"runs"`
		LastError *string    `json:"last_error"`
	}{
		Name: s.Name, Spec: s.Spec, AccountID: nullString(s.AccountID), Livemode: s.Livemode,
		State: state, NextRunAt: next, LastRunAt: nullTime(s.LastRunAt), LastSlot: nullTime(s.LastSlot),
		Runs: s.Runs, LastError: nullString(s.LastError),
	})
}

// ScheduleFilter selects schedules for a listing. Zero fields match everything.
type ScheduleFilter struct {
	Name      string
	AccountID string
	// Platform keeps only platform schedules (no account).
	Platform bool
	Enabled  *bool
	// Limit caps the rows returned; 0 returns them all. Rows come by name, then
	// account (platform first), then test before live.
	Limit int
}

// SchedulePlan is the next slot of a schedule row and when the tick enqueues it.
type SchedulePlan struct {
	Key       ScheduleKey
	NextSlot  time.Time
	NextRunAt time.Time
}

// ScheduleRun is the outcome of one attempt of a scheduled run, recorded by
// [Schedules.RecordScheduleRunTx].
type ScheduleRun struct {
	Slot time.Time
	At   time.Time // when the attempt ended; zero means now
	// Error is the attempt's error; empty for a success, which counts a run, sets the
	// last slot and run time and clears the last error.
	Error string
}

// Schedules stores the schedules and their plans. The tick reads the due rows and
// advances their plan in the transaction that enqueues their runs, so a slot is
// enqueued once.
type Schedules interface {
	// EnsureScheduleTx inserts s, or updates the existing row of s.ScheduleKey: it
	// takes s.Spec and s.Enabled, and takes s's plan (NextSlot, NextRunAt) only when
	// the row was disabled or had another spec, so that a plan in progress — and a
	// slot missed while the server was down — survives a restart. Runs and the last
	// run are kept.
	EnsureScheduleTx(ctx context.Context, tx *sql.Tx, s Schedule) error
	// SyncAccountSchedulesTx makes the per-account schedule name (with spec) follow the
	// installations: it adds an unplanned row for every installed account and mode
	// that has none, enables (unplanned) the disabled rows of installed ones, disables
	// the rows of the others, and unplans the rows whose spec differs. It returns how
	// many rows it changed. Installs and uninstalls committing meanwhile wait for tx,
	// so that no account's row is left on the wrong side; call it before tx touches
	// rows that lifecycle hooks write.
	SyncAccountSchedulesTx(ctx context.Context, tx *sql.Tx, name, spec string) (int64, error)
	// DisableAccountSchedulesTx disables every per-account schedule row of an account in
	// one mode (its uninstall), and returns how many it disabled.
	DisableAccountSchedulesTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) (int64, error)
	// DisableSchedulesExceptTx disables the rows of every schedule whose name is not
	// in names (schedules the app no longer registers).
	DisableSchedulesExceptTx(ctx context.Context, tx *sql.Tx, names []string) (int64, error)
	// DueSchedulesTx returns up to limit enabled rows whose NextRunAt is at or before
	// now, the earliest first, and locks them for the rest of tx.
	DueSchedulesTx(ctx context.Context, tx *sql.Tx, now time.Time, limit int) ([]Schedule, error)
	// NextScheduleRunAt returns the earliest NextRunAt of the enabled rows (zero for an
	// unplanned row, which is due at once); ok is false when no row is enabled. It
	// writes nothing, so that an idle server can ask it every tick.
	NextScheduleRunAt(ctx context.Context) (next time.Time, ok bool, err error)
	// PlanSchedulesTx sets the next slot and run time of each row named by plans
	// (rows that no longer exist are skipped).
	PlanSchedulesTx(ctx context.Context, tx *sql.Tx, plans []SchedulePlan) error
	// RecordScheduleRunTx records the outcome of a run's attempt. ErrNotFound if the
	// row does not exist.
	RecordScheduleRunTx(ctx context.Context, tx *sql.Tx, key ScheduleKey, run ScheduleRun) error

	// Schedule loads one row. ErrNotFound if none.
	Schedule(ctx context.Context, key ScheduleKey) (Schedule, error)
	// ListSchedules lists rows.
	ListSchedules(ctx context.Context, f ScheduleFilter) ([]Schedule, error)
}
