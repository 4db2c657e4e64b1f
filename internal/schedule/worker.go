package schedule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// TickArgs is the periodic job that enqueues due runs ([Scheduler.Tick]).
type TickArgs struct{}

// Kind implements river.JobArgs.
func (TickArgs) Kind() string { return "appbackend.schedule_tick" }

// RerunAfterCrash implements runtime.Rerunnable: a tick only enqueues due runs, each
// unique by its slot, so a tick run twice enqueues nothing twice.
func (TickArgs) RerunAfterCrash() bool { return true }

// InsertOpts implements river.JobArgsWithInsertOpts: ahead of the runs in their queue,
// and never retried — the next tick comes within the interval anyway.
func (TickArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, Priority: 1, MaxAttempts: 1}
}

// RunArgs is the job of one slot of a schedule, for one account and mode of a
// per-account schedule. It is unique by schedule, account, mode and slot, so a slot
// runs once whoever enqueues it and however often.
type RunArgs struct {
	Schedule  string    `json:"schedule" river:"unique"`
	AccountID string    `json:"account_id,omitempty" river:"unique"`
	Livemode  bool      `json:"livemode" river:"unique"`
	Slot      time.Time `json:"slot" river:"unique"`
	Missed    int       `json:"missed,omitempty"`
}

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return "appbackend.schedule_run" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (RunArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// tickTimeout bounds a tick: its batches are short transactions.
const tickTimeout = 30 * time.Second

// cleanTicksEvery is how many ticks pass between two deletions of completed tick jobs:
// one a second would otherwise keep 86,400 rows in River's table until its cleaner
// removes them a day later.
const cleanTicksEvery = 60

type tickWorker struct {
	river.WorkerDefaults[TickArgs]
	s     *Scheduler
	ticks atomic.Int64
}

func (w *tickWorker) Timeout(*river.Job[TickArgs]) time.Duration { return tickTimeout }

func (w *tickWorker) Work(ctx context.Context, job *river.Job[TickArgs]) error {
	client, err := river.ClientFromContextSafely[*sql.Tx](ctx)
	if err != nil {
		return err
	}
	stats, err := w.s.Tick(ctx, client)
	if err != nil {
		return err
	}
	w.s.gate.afterTick(ctx)
	if stats.Enqueued > 0 || stats.Planned > 0 {
		w.s.Logger().DebugContext(ctx, "schedule tick", "enqueued", stats.Enqueued, "planned", stats.Planned, "duplicates", stats.Duplicates)
	}
	if w.ticks.Add(1)%cleanTicksEvery == 0 {
		del := river.NewJobDeleteManyParams().Kinds(TickArgs{}.Kind()).States(rivertype.JobStateCompleted).First(10 * cleanTicksEvery)
		if _, err := client.JobDeleteMany(ctx, del); err != nil {
			w.s.Logger().WarnContext(ctx, "delete completed schedule ticks", "err", err)
		}
	}
	return nil
}

type runWorker struct {
	river.WorkerDefaults[RunArgs]
	s *Scheduler
}

func (w *runWorker) Timeout(*river.Job[RunArgs]) time.Duration { return w.s.cfg.RunTimeout }

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	s, a := w.s, job.Args
	def, ok := s.set.lookup(a.Schedule)
	if !ok {
		// Enqueued by a server of another version (a rolling deploy): retried, so a
		// server that knows the schedule can run it.
		return fmt.Errorf("no handler for schedule %q on this server", a.Schedule)
	}
	key := store.ScheduleKey{Name: a.Schedule, AccountID: a.AccountID, Livemode: a.Livemode}
	row, err := s.st.Schedule(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && !row.Enabled:
		// The account uninstalled after the slot was enqueued, or the schedule was
		// removed: the run is void.
		s.Logger().InfoContext(ctx, "schedule run skipped: schedule disabled", "schedule", a.Schedule, "account_id", a.AccountID, "slot", a.Slot)
		return nil
	case err != nil:
		return err
	}
	run := Run{Name: a.Schedule, AccountID: a.AccountID, Livemode: a.Livemode, Slot: a.Slot,
		Missed: a.Missed, Attempt: job.Attempt, JobID: job.ID}
	hctx := stripeclient.Bind(ctx, a.AccountID, a.Livemode, job.ID)
	// The handler's writes through its transaction, the run's count and the job's
	// completion commit together: a run's work happens once even if the process dies
	// right after.
	hctx, lazy := store.WithLazyTx(hctx, s.st.DB())
	defer lazy.Rollback()
	if herr := w.call(hctx, def, run, key); herr != nil {
		lazy.Rollback()
		s.recordFailure(ctx, key, run, herr)
		return runtime.RetryOrCancel(ctx, herr)
	}
	err = runtime.CompleteInTx(ctx, lazy, job, func(tx *sql.Tx) error {
		return s.st.RecordScheduleRunTx(ctx, tx, key, store.ScheduleRun{Slot: a.Slot, At: s.Now()})
	})
	if err != nil {
		return fmt.Errorf("record run of %s: %w", a.Schedule, err)
	}
	return nil
}

// call runs the handler. A panic is recorded on the schedule, then passed on to River,
// which records it with its stack on the job and retries it; the worker goes on.
func (w *runWorker) call(ctx context.Context, def *definition, run Run, key store.ScheduleKey) error {
	defer func() {
		if p := recover(); p != nil {
			w.s.Logger().ErrorContext(ctx, "schedule handler panicked", "schedule", run.Name, "account_id", run.AccountID,
				"slot", run.Slot, "attempt", run.Attempt, "panic", p, "stack", string(debug.Stack()))
			w.s.recordFailure(ctx, key, run, fmt.Errorf("panic: %v", p))
			panic(p)
		}
	}()
	return def.handler(ctx, run)
}

// recordFailure sets the schedule's last error in its own transaction, even when the
// run's context is done.
func (s *Scheduler) recordFailure(ctx context.Context, key store.ScheduleKey, run Run, herr error) {
	s.Logger().WarnContext(ctx, "schedule run failed", "schedule", run.Name, "account_id", run.AccountID,
		"slot", run.Slot, "attempt", run.Attempt, "err", herr)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	msg := stripeclient.Scrub(herr.Error())
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.st.RecordScheduleRunTx(ctx, tx, key, store.ScheduleRun{Slot: run.Slot, At: s.Now(), Error: msg})
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.Logger().ErrorContext(ctx, "record schedule failure", "schedule", run.Name, "account_id", run.AccountID, "err", err)
	}
}
