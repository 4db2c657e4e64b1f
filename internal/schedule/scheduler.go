package schedule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
)

// Queue is the River queue of schedule runs and ticks, apart from the app's own jobs
// so that 10,000 accounts' runs do not delay them.
const Queue = "appbackend_schedules"

// Defaults of [Config].
const (
	DefaultTickInterval = time.Second
	DefaultMaxJitter    = 5 * time.Minute
	DefaultBatchSize    = 500
	DefaultWorkers      = 8
)

// Config configures a [Scheduler]. The zero value is usable.
type Config struct {
	// Archetype is the App's logger and clock (the clock decides which slots are due);
	// nil discards the logs and uses the real clock.
	Archetype *baseservice.Archetype
	// TickInterval is how often River's leader enqueues the tick (default
	// DefaultTickInterval, at least 1s). A due slot waits at most about this long.
	TickInterval time.Duration
	// MaxJitter caps a per-account row's jitter (default DefaultMaxJitter); it is also
	// at most a tenth of the spec's interval. Negative: no jitter.
	MaxJitter time.Duration
	// BatchSize is how many due rows one tick transaction takes (default
	// DefaultBatchSize); a tick takes batches until none is left.
	BatchSize int
	// Workers is how many runs execute at once on this server (default DefaultWorkers).
	Workers int
	// RunTimeout bounds one attempt of a run; zero uses the River client's JobTimeout.
	// Keep it below the client's RescueStuckJobsAfter.
	RunTimeout time.Duration
}

// Scheduler keeps a Set's schedules in the store and runs them on River: a periodic
// tick enqueues each due slot as a unique job, and the run worker calls the handler.
type Scheduler struct {
	baseservice.Base

	st  store.Store
	set *Set
	cfg Config

	mu    sync.Mutex
	specs map[string]Spec // by text: rows carry their spec, possibly one no longer registered

	gate tickGate
}

// New returns a Scheduler for set's schedules over st. Register its workers with
// [Scheduler.AddWorkers] and its queue and tick with [Scheduler.ConfigureRiver] on the
// River client that runs them; call [Scheduler.Sync] once at start, and
// [Scheduler.OnInstall] and [Scheduler.OnUninstall] from the installation lifecycle.
func New(st store.Store, set *Set, cfg Config) *Scheduler {
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	cfg.TickInterval = max(cfg.TickInterval, time.Second) // River's periodic jobs go no finer
	switch {
	case cfg.MaxJitter == 0:
		cfg.MaxJitter = DefaultMaxJitter
	case cfg.MaxJitter < 0:
		cfg.MaxJitter = 0
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if set == nil {
		set = NewSet()
	}
	s := &Scheduler{st: st, set: set, cfg: cfg, specs: make(map[string]Spec)}
	s.Init(cfg.Archetype)
	s.gate.s = s
	return s
}

// Set returns the schedules the Scheduler runs.
func (s *Scheduler) Set() *Set { return s.set }

// AddWorkers registers the tick and run workers on rt.
func (s *Scheduler) AddWorkers(rt *runtime.Runtime) error {
	if err := runtime.AddWorker(rt, &tickWorker{s: s}); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	if err := runtime.AddWorker(rt, &runWorker{s: s}); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	return nil
}

// ConfigureRiver adds the schedules' queue and the periodic tick to a River client's
// configuration (pass it to runtime.Runtime.ConfigureRiver). River's elected leader
// enqueues the tick, but only once a row's run time has come (see tickGate): an idle
// server writes nothing for its schedules. Any worker runs it.
func (s *Scheduler) ConfigureRiver(rc *river.Config) {
	if rc.Queues == nil {
		rc.Queues = make(map[string]river.QueueConfig)
	}
	rc.Queues[Queue] = river.QueueConfig{MaxWorkers: s.cfg.Workers}
	interval := s.cfg.TickInterval
	rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(
		river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) {
			if !s.gate.allow(s.Now()) {
				return nil, nil // nothing due: no job, no write
			}
			opts := TickArgs{}.InsertOpts()
			// Two leaders during a hand-over enqueue one tick per interval.
			opts.UniqueOpts = river.UniqueOpts{ByPeriod: interval}
			return TickArgs{}, &opts
		},
		// A tick at start runs what came due while the server was down without
		// waiting for the first interval.
		&river.PeriodicJobOpts{ID: TickArgs{}.Kind(), RunOnStart: true},
	))
}

func (s *Scheduler) spec(text string) (Spec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp, ok := s.specs[text]; ok {
		return sp, nil
	}
	sp, err := ParseSpec(text)
	if err != nil {
		return Spec{}, err
	}
	s.specs[text] = sp
	return sp, nil
}

func (s *Scheduler) jitter(spec Spec, key store.ScheduleKey) time.Duration {
	return Jitter(spec, key, s.cfg.MaxJitter)
}

// inTx runs f in a transaction on the store's write pool and commits it.
func (s *Scheduler) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	return store.InTx(ctx, s.st.DB(), f)
}

// Sync brings the schedules table in line with the Set, at start: platform schedules
// are added (a plan in progress is kept, so a slot missed while the server was down
// still runs), per-account schedules get a row for every installed account and mode
// (the next tick plans new rows), a changed spec is replanned, and the rows of
// schedules no longer registered are disabled.
func (s *Scheduler) Sync(ctx context.Context) error {
	now := s.Now()
	defs := s.set.all()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, d := range defs {
			if d.perAccount {
				if _, err := s.st.SyncAccountSchedulesTx(ctx, tx, d.name, d.spec.String()); err != nil {
					return err
				}
				continue
			}
			next := d.spec.Next(now)
			row := store.Schedule{ScheduleKey: store.ScheduleKey{Name: d.name}, Spec: d.spec.String(),
				Enabled: true, NextSlot: next, NextRunAt: next}
			if err := s.st.EnsureScheduleTx(ctx, tx, row); err != nil {
				return err
			}
		}
		// Last: it writes rows that uninstall hooks write too, and the per-account
		// syncs above must come first (see SyncAccountSchedulesTx).
		_, err := s.st.DisableSchedulesExceptTx(ctx, tx, s.set.Names())
		return err
	})
	if err != nil {
		return fmt.Errorf("schedule: sync: %w", err)
	}
	return nil
}

// OnInstall starts the per-account schedules of an account in a mode, planned from
// now: an install.Hook, run in the install event's transaction.
func (s *Scheduler) OnInstall(ctx context.Context, in store.Installation) error {
	tx, ok := store.TxFrom(ctx)
	if !ok {
		return errors.New("schedule: OnInstall needs the event's transaction in its context")
	}
	now := s.Now()
	for _, d := range s.set.all() {
		if !d.perAccount {
			continue
		}
		key := store.ScheduleKey{Name: d.name, AccountID: in.AccountID, Livemode: in.Livemode}
		next := d.spec.Next(now)
		row := store.Schedule{ScheduleKey: key, Spec: d.spec.String(), Enabled: true,
			NextSlot: next, NextRunAt: next.Add(s.jitter(d.spec, key))}
		if err := s.st.EnsureScheduleTx(ctx, tx, row); err != nil {
			return err
		}
	}
	return nil
}

// OnUninstall stops the per-account schedules of an account in a mode: an
// install.Hook, run in the uninstall event's transaction. Runs already enqueued find
// their schedule disabled and do nothing.
func (s *Scheduler) OnUninstall(ctx context.Context, in store.Installation) error {
	tx, ok := store.TxFrom(ctx)
	if !ok {
		return errors.New("schedule: OnUninstall needs the event's transaction in its context")
	}
	_, err := s.st.DisableAccountSchedulesTx(ctx, tx, in.AccountID, in.Livemode)
	return err
}

// maxRunsPerRow bounds the runs one tick enqueues for a row; a row still due after
// them is taken again by the next batch or tick.
const maxRunsPerRow = 16

// dueRuns returns the runs of a due row and its next slot. Slots a little late — a
// tick delayed, or a row another replica's tick held — run one by one; a row behind by
// more than the catch-up window (the server was down) gets one run for the latest slot
// before the window, with the slots before it counted as missed, not run.
func (s *Scheduler) dueRuns(spec Spec, row store.Schedule, jitter time.Duration, now time.Time) ([]RunArgs, time.Time) {
	run := func(slot time.Time, missed int) RunArgs {
		return RunArgs{Schedule: row.Name, AccountID: row.AccountID, Livemode: row.Livemode, Slot: slot, Missed: missed}
	}
	var runs []RunArgs
	slot := row.NextSlot
	window := s.catchUpWindow()
	if now.Sub(slot.Add(jitter)) > window {
		latest, missed := spec.latest(slot, jitter, now.Add(-window))
		runs = append(runs, run(latest, missed))
		slot = spec.Next(latest)
	}
	for len(runs) < maxRunsPerRow && !slot.IsZero() && !slot.Add(jitter).After(now) {
		runs = append(runs, run(slot, 0))
		slot = spec.Next(slot)
	}
	return runs, slot
}

// catchUpWindow is how late a slot may be and still run on its own: a few ticks.
func (s *Scheduler) catchUpWindow() time.Duration { return 5 * s.cfg.TickInterval }

// Inserter inserts River jobs in a transaction; *river.Client[*sql.Tx] is one.
type Inserter interface {
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// TickStats is what a tick did.
type TickStats struct {
	Due        int // rows whose time had come
	Planned    int // new or replanned rows given their first slot, without a run
	Enqueued   int // runs inserted
	Duplicates int // runs already in the queue (another tick enqueued the slot)
}

func (t *TickStats) add(o TickStats) {
	t.Due += o.Due
	t.Planned += o.Planned
	t.Enqueued += o.Enqueued
	t.Duplicates += o.Duplicates
}

// Tick enqueues, through ins, the runs of each row whose next run time has come and
// advances the row's plan in the same transaction, batch after batch until no row is
// due. A slot a few ticks late runs on its own; a row further behind (the server was
// down) gets one run, for its latest slot, not one per slot. Concurrent ticks — on other replicas, or a tick running late — are safe:
// rows are locked while planned, and a slot's run is a unique job.
func (s *Scheduler) Tick(ctx context.Context, ins Inserter) (TickStats, error) {
	var total TickStats
	for {
		stats, err := s.tickBatch(ctx, ins)
		total.add(stats)
		if err != nil {
			return total, fmt.Errorf("schedule: tick: %w", err)
		}
		if stats.Due < s.cfg.BatchSize {
			return total, nil
		}
	}
}

func (s *Scheduler) tickBatch(ctx context.Context, ins Inserter) (TickStats, error) {
	var stats TickStats
	now := s.Now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		due, err := s.st.DueSchedulesTx(ctx, tx, now, s.cfg.BatchSize)
		if err != nil {
			return err
		}
		stats.Due = len(due)
		plans := make([]store.SchedulePlan, 0, len(due))
		var runs []river.InsertManyParams
		for _, row := range due {
			spec, err := s.spec(row.Spec)
			if err != nil {
				// Written by another version of the app; look again in an hour rather
				// than at every tick.
				s.Logger().ErrorContext(ctx, "schedule row has a spec this server cannot parse", "schedule", row.Name, "account_id", row.AccountID, "err", err)
				plans = append(plans, store.SchedulePlan{Key: row.ScheduleKey, NextSlot: row.NextSlot, NextRunAt: now.Add(time.Hour)})
				continue
			}
			jitter := s.jitter(spec, row.ScheduleKey)
			if row.NextSlot.IsZero() {
				next := spec.Next(now)
				plans = append(plans, store.SchedulePlan{Key: row.ScheduleKey, NextSlot: next, NextRunAt: next.Add(jitter)})
				stats.Planned++
				continue
			}
			due, next := s.dueRuns(spec, row, jitter, now)
			plans = append(plans, store.SchedulePlan{Key: row.ScheduleKey, NextSlot: next, NextRunAt: next.Add(jitter)})
			for _, run := range due {
				runs = append(runs, river.InsertManyParams{Args: run})
				if run.Missed > 0 {
					s.Logger().InfoContext(ctx, "slots missed while nothing ran them; running the latest once",
						"schedule", row.Name, "account_id", row.AccountID, "slot", run.Slot, "missed", run.Missed)
				}
			}
		}
		if err := s.st.PlanSchedulesTx(ctx, tx, plans); err != nil {
			return err
		}
		if len(runs) == 0 {
			return nil
		}
		res, err := ins.InsertManyTx(ctx, tx, runs)
		if err != nil {
			return fmt.Errorf("enqueue %d runs: %w", len(runs), err)
		}
		for _, r := range res {
			if r.UniqueSkippedAsDuplicate {
				stats.Duplicates++
			} else {
				stats.Enqueued++
			}
		}
		return nil
	})
	if err != nil {
		return TickStats{}, err
	}
	return stats, nil
}
