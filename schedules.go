package appbackend

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/hook"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
)

// scheduling is the App's schedules: the registry Every and EveryAccount fill from
// New, and once running, the scheduler.
type scheduling struct {
	set       *schedule.Set
	scheduler *schedule.Scheduler
}

// Every registers a schedule of the platform: h runs once per slot of spec, a cron
// expression ("0 * * * *", UTC unless it starts with CRON_TZ=Area/City), a descriptor
// (@hourly, @daily) or an interval (@every 10m, on the multiples of the interval).
// Each slot runs once across restarts and replicas; slots missed while the server was
// down run once, late, as one run. Call it before Run.
//
// h's context is bound to its job, so that a Stripe write repeats its idempotency key
// when the run is retried. An error retries the run with backoff, unless it is a
// Stripe error that repeating cannot fix (a 4xx), which cancels it; a panic is
// recorded and retried. `appbackend schedules` shows each schedule's next and last
// run and last error.
//
// Like http.ServeMux's Handle, it panics on a mistake, so that it fails the first test
// that reaches it: an invalid spec or name (letters, digits and ._:- only;
// "appbackend." is reserved), a name already registered, a nil h, or a call after Run.
func (a *App) Every(spec, name string, h func(ctx context.Context, run Run) error) {
	a.mustRegister("Every")
	mustSchedule("Every", a.sched.set.Every(spec, name, scheduleHandlerOf(h)))
}

// EveryAccount registers a per-account schedule: h runs once per slot of spec (see
// Every) for each account and mode in which the app is installed, from the install
// (the first slot after it) until the uninstall, in the same transaction as the
// installation changes. h's context is bound to the run's account and mode, so
// app.Stripe(ctx) calls on that merchant's behalf. Each account's runs are offset by
// a stable jitter (a tenth of the interval, at most five minutes), so that thousands
// of accounts do not call Stripe in the same second. It panics on the mistakes Every
// panics on.
func (a *App) EveryAccount(spec, name string, h func(ctx context.Context, run Run) error) {
	a.mustRegister("EveryAccount")
	mustSchedule("EveryAccount", a.sched.set.EveryAccount(spec, name, scheduleHandlerOf(h)))
}

// CheckScheduleSpec returns the error Every and EveryAccount would panic with for a
// schedule named name with spec, wrapping ErrConfig; nil when both are valid. A spec
// the operator sets (an environment variable) is checked with it first, so that a bad
// value stops the program with a configuration error instead of a panic.
func CheckScheduleSpec(name, spec string) error {
	err := schedule.NewSet().Every(spec, name, func(context.Context, schedule.Run) error { return nil })
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

func mustSchedule(method string, err error) {
	if err != nil {
		panic("appbackend: " + method + ": " + err.Error())
	}
}

// setupSchedules registers schedules on the runtime, after event processing and
// before the River client is built: the scheduler's workers and River configuration,
// the built-in reconciliation schedules when a Stripe key is configured, the
// scheduler's install and uninstall hooks (after the app's), and brings the schedules
// table in line with what is registered.
func (a *App) setupSchedules(ctx context.Context) error {
	set := a.sched.set
	if a.stripe != nil && len(a.stripe.Modes()) > 0 {
		r, err := schedule.NewReconciler(a.db, schedule.ReconcileConfig{
			Archetype: a.archetype,
			Clients:   a.stripe,
			AppendFunc: func(ctx context.Context, tx *sql.Tx, evs []*store.Event) ([]bool, error) {
				return a.processor.AppendTx(ctx, tx, evs)
			},
			// Only the types something handles: listing every type would fill the
			// inbox with events nothing processes.
			WantFunc: func(eventType string) bool {
				return install.IsLifecycleEvent(eventType) || a.processor.Handles(eventType)
			},
		})
		if err != nil {
			return err
		}
		if err := r.Register(set); err != nil {
			return err
		}
	}
	if err := a.registerInstallReconcile(set); err != nil {
		return err
	}
	sched := schedule.New(a.db, set, schedule.Config{Archetype: a.archetype, RunTimeout: min(a.rt.JobTimeout(), a.rt.MaxJobTimeout())})
	if err := sched.AddWorkers(a.rt); err != nil {
		return err
	}
	a.rt.ConfigureRiver(sched.ConfigureRiver)
	a.onInstall.Bind("schedules", hook.Last, sched.OnInstall)
	a.onUninstall.Bind("schedules", hook.Last, sched.OnUninstall)
	if err := sched.Sync(ctx); err != nil {
		return err
	}
	a.sched.scheduler = sched
	return nil
}

// scheduleRows summarises the schedules for the admin dashboard (admin.Config.Schedules):
// one row per schedule, a per-account schedule's accounts counted.
func (a *App) scheduleRows(ctx context.Context) ([]admin.ScheduleRow, error) {
	list, err := a.db.ListSchedules(ctx, store.ScheduleFilter{})
	if err != nil {
		return nil, err
	}
	var rows []admin.ScheduleRow
	var latestError time.Time
	for _, s := range list {
		if len(rows) == 0 || rows[len(rows)-1].Name != s.Name {
			scope := "global"
			if s.AccountID != "" {
				scope = "per account"
			}
			rows = append(rows, admin.ScheduleRow{Name: s.Name, Spec: s.Spec, Scope: scope})
			latestError = time.Time{}
		}
		row := &rows[len(rows)-1]
		if s.AccountID != "" {
			row.Scope = "per account"
		}
		if !s.Enabled {
			continue
		}
		if s.AccountID != "" {
			row.Accounts++
		}
		if s.LastRunAt.After(row.LastRunAt) {
			row.LastRunAt = s.LastRunAt
		}
		if !s.NextRunAt.IsZero() && (row.NextRunAt.IsZero() || s.NextRunAt.Before(row.NextRunAt)) {
			row.NextRunAt = s.NextRunAt
		}
		if s.LastError != "" && s.UpdatedAt.After(latestError) {
			row.LastError, latestError = s.LastError, s.UpdatedAt
		}
	}
	return rows, nil
}
