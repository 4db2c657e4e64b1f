// Package runtime is the one owner of the River client that runs every job of an
// appbackend: its configuration (attempts, retry policy, timeouts, rescue delay,
// polling, retention of finished jobs), its start and stop, the process's heartbeat
// and the hand-back of jobs a dead process left running (liveness), and the helpers
// that complete a job in its own transaction.
//
// It is built first, before the database is open, so that every flow can register on
// it from the start: event processing, installations, schedules and reconciliation,
// the app's jobs and metrics each add their workers (AddWorker), their part of River's
// configuration (ConfigureRiver) and what must start and stop with the client
// (AddService). Open gives it the database, Build makes the one client, Start and
// Stop run it. A job kind whose work is safe to repeat says so itself by implementing
// Rerunnable, appbackend's kinds and the app's alike; there is no list to keep.
//
// The server (appbackend.App.Run) and the CLI build it through the same code, so both
// run River configured alike.
package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/store"
)

// Defaults of [Config].
const (
	DefaultMaxAttempts  = 8
	DefaultWorkers      = 8
	DefaultPollInterval = 100 * time.Millisecond
	DefaultJobTimeout   = time.Minute
	// DefaultRescueStuckAfter is how long a job may stay running before River takes it
	// for lost (its process died) and runs it again.
	DefaultRescueStuckAfter = 5 * time.Minute
	// DefaultHeartbeatEvery is how often a process records that it is alive.
	DefaultHeartbeatEvery = time.Second
	// DefaultStaleAfter is how long a process may miss heartbeats before its running
	// jobs of the rerunnable kinds are taken for orphaned and handed back.
	DefaultStaleAfter = 5 * time.Second
)

// fetchCooldown is the least time between two fetches of jobs. River's default
// (100 ms) would cap a backlog of small jobs at Workers jobs per 100 ms. Under webhook
// load River fetches again as soon as a worker frees up, and on SQLite each fetch is a
// write transaction of its own (a commit to disk, and River's statement is parsed
// again every time): at 5 ms they took a tenth of the server's CPU, competing with the
// intake for the one writer. 25 ms still feeds Workers jobs 40 times a second, and an
// event job takes the waiting ones over, so processing keeps pace.
const fetchCooldown = 25 * time.Millisecond

// Rerunnable is implemented by job args whose work is safe to run again (it commits
// with its completion, or is idempotent) and whose RerunAfterCrash returns true. When
// the process running such a job dies, the job goes back to the queue once that
// process's heartbeat is StaleAfter old, instead of after RescueStuckAfter: River's
// rescuer cannot tell a dead process's job from a long one.
type Rerunnable interface {
	RerunAfterCrash() bool
}

// Config configures a [Runtime]. The zero value is usable.
type Config struct {
	// Archetype gives the runtime its logger; nil discards.
	Archetype *baseservice.Archetype
	// MaxAttempts is how many times a job is tried before it is discarded, unless its
	// insert options say otherwise (default DefaultMaxAttempts).
	MaxAttempts int
	// RetryPolicy decides when a failed job is retried; nil means River's default
	// exponential backoff (attempt⁴ seconds). Tests use a tiny fixed delay.
	RetryPolicy river.ClientRetryPolicy
	// Workers is how many jobs of the default queue (the app's) run concurrently
	// (default DefaultWorkers). Flows with a queue of their own size it themselves.
	Workers int
	// PollInterval is how often the queues look for new jobs (default
	// DefaultPollInterval). SQLite has no LISTEN/NOTIFY, so this bounds the delay
	// between an enqueue and the start of the job.
	PollInterval time.Duration
	// JobTimeout bounds one job whose worker sets no timeout (default
	// DefaultJobTimeout).
	JobTimeout time.Duration
	// RescueStuckAfter is how long any job may run before River takes it for lost in
	// a crash and runs it again (default DefaultRescueStuckAfter, at least JobTimeout).
	// It must exceed the timeout of every job, the app's included (MaxJobTimeout);
	// River's leader checks every 30 s.
	RescueStuckAfter time.Duration
	// JobRetention is how long River keeps discarded jobs, and (at most 24 h)
	// completed and cancelled ones; zero keeps River's defaults.
	JobRetention time.Duration
	// ResumeOnStart makes Start hand the jobs that a previous process left running back
	// to the queue. Set it only for a database that one process uses at a time
	// (SQLite): there, a job running at start can only be a dead process's, and waiting
	// for River's rescuer (RescueStuckAfter) would leave it stuck for minutes. With
	// several processes on one database it would run live jobs twice.
	ResumeOnStart bool
	// ProcessID is the River client id this process fetches jobs as and heartbeats
	// under (default: host, pid and a random suffix). It must be unique among the
	// processes sharing the database.
	ProcessID string
	// HeartbeatEvery is how often the process records that it is alive (default
	// DefaultHeartbeatEvery).
	HeartbeatEvery time.Duration
	// StaleAfter is how long a process may go without a heartbeat before its
	// rerunnable jobs are handed back (default DefaultStaleAfter).
	StaleAfter time.Duration
}

// Service is what starts with the River client and stops after it: a flow's own
// loops (the event processor's pruning and pause log). StartFunc runs before the
// client starts, StopFunc after it stopped; either may be nil.
type Service struct {
	StartFunc func(ctx context.Context) error
	StopFunc  func(ctx context.Context) error
}

// Runtime is the shared core of a running appbackend. Register workers, River
// configuration and services before Build; use River after it.
type Runtime struct {
	baseservice.Base
	cfg Config

	mu        sync.Mutex
	st        store.Store
	workers   *river.Workers
	kinds     map[string]bool
	rerun     []string
	configure []func(*river.Config)
	services  []Service
	client    *river.Client[*sql.Tx]
	live      *liveness
	// started is whether Start started the client (Stop then stops it); stopLive and
	// liveDone end the heartbeat loop.
	started  bool
	stopLive context.CancelFunc
	liveDone chan struct{}
}

// New returns a Runtime configured by cfg, ready for registrations; Open gives it the
// database.
func New(cfg Config) *Runtime {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.RescueStuckAfter <= 0 {
		cfg.RescueStuckAfter = max(DefaultRescueStuckAfter, cfg.JobTimeout)
	}
	if cfg.ProcessID == "" {
		cfg.ProcessID = newProcessID()
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = DefaultHeartbeatEvery
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	r := &Runtime{cfg: cfg, workers: river.NewWorkers(), kinds: map[string]bool{}}
	r.Init(cfg.Archetype)
	return r
}

// Open gives the runtime its database. Flows that need the store register after it.
func (r *Runtime) Open(st store.Store) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = st
}

// Store is the database Open gave; nil before.
func (r *Runtime) Store() store.Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// ProcessID is the id this process fetches jobs as and heartbeats under.
func (r *Runtime) ProcessID() string { return r.cfg.ProcessID }

// MaxAttempts is the attempts of a job whose insert options set none.
func (r *Runtime) MaxAttempts() int { return r.cfg.MaxAttempts }

// PollInterval is how often the queues look for new jobs.
func (r *Runtime) PollInterval() time.Duration { return r.cfg.PollInterval }

// JobTimeout is the timeout of a job whose worker sets none.
func (r *Runtime) JobTimeout() time.Duration { return r.cfg.JobTimeout }

// MaxJobTimeout is the longest a job may run: 4/5 of RescueStuckAfter, so that River
// never takes a job still running for lost and runs it a second time, concurrently.
func (r *Runtime) MaxJobTimeout() time.Duration { return r.cfg.RescueStuckAfter * 4 / 5 }

// AddWorker registers w for the jobs of kind T. When T implements Rerunnable and its
// RerunAfterCrash is true, a dead process's running job of the kind is handed back on
// a stale heartbeat. It fails for a kind already registered, and after Build.
func AddWorker[T river.JobArgs](r *Runtime, w river.Worker[T]) error {
	var args T
	kind := args.Kind()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return fmt.Errorf("runtime: worker for %q added after Build", kind)
	}
	if r.kinds[kind] {
		return fmt.Errorf("runtime: a worker for job kind %q is already registered", kind)
	}
	if err := river.AddWorkerSafely(r.workers, w); err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	r.kinds[kind] = true
	if rr, ok := any(args).(Rerunnable); ok && rr.RerunAfterCrash() {
		r.rerun = append(r.rerun, kind)
	}
	return nil
}

// HasWorker reports whether a worker for the job kind is registered.
func (r *Runtime) HasWorker(kind string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kinds[kind]
}

// RerunnableKinds are the registered kinds that declared themselves Rerunnable.
func (r *Runtime) RerunnableKinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.rerun...)
}

// ConfigureRiver registers f to adjust River's configuration when Build makes the
// client: queues, periodic jobs, middleware. Functions run in registration order, each
// on the result of the previous ones and of the runtime's own settings.
func (r *Runtime) ConfigureRiver(f func(*river.Config)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		panic("runtime: ConfigureRiver after Build")
	}
	r.configure = append(r.configure, f)
}

// AddService registers what starts with the client (before it) and stops after it.
// Services start in registration order and stop in the reverse order.
func (r *Runtime) AddService(s Service) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.services = append(r.services, s)
}

// Build makes the River client from what was registered. It is an error to call it
// twice or before Open.
func (r *Runtime) Build() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return errors.New("runtime: Build called twice")
	}
	if r.st == nil {
		return errors.New("runtime: Build before Open")
	}
	cfg := r.cfg
	r.live = newLiveness(r.st, cfg.ProcessID, r.rerun, cfg.HeartbeatEvery, cfg.StaleAfter, r.Logger())
	rc := &river.Config{
		// River's info (job counts every 5 s, the client started) is for debugging.
		Logger:      slogQuieter(r.Logger()),
		Workers:     r.workers,
		ID:          cfg.ProcessID,
		Middleware:  []rivertype.Middleware{r.live.middleware()},
		MaxAttempts: cfg.MaxAttempts,
		RetryPolicy: cfg.RetryPolicy,
		JobTimeout:  cfg.JobTimeout,
		// River's default (1 h) would leave the jobs of a crashed process that are not
		// handed back on a stale heartbeat waiting that long.
		RescueStuckJobsAfter: cfg.RescueStuckAfter,
		FetchCooldown:        min(cfg.PollInterval, fetchCooldown),
		// River polls on SQLite (no LISTEN/NOTIFY); a short interval keeps jobs close
		// behind their enqueue.
		FetchPollInterval: cfg.PollInterval,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
	}
	setJobRetention(rc, cfg.JobRetention)
	for _, f := range r.configure {
		f(rc)
	}
	client, err := river.NewClient(r.st.RiverDriver(), rc)
	if err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	r.client = client
	return nil
}

// River is the client Build made; nil before.
func (r *Runtime) River() *river.Client[*sql.Tx] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.client
}

// InTx runs fn in a transaction on the store's write pool (store.InTx).
func (r *Runtime) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return store.InTx(ctx, r.Store().DB(), fn)
}

// Start hands back what a previous process left running (ResumeOnStart, and the
// rerunnable jobs of processes whose heartbeat is stale), starts the services, then
// the client, and keeps the heartbeat. Jobs run under ctx; cancelling it stops them
// hard, so prefer Stop.
func (r *Runtime) Start(ctx context.Context) error {
	client := r.River()
	if client == nil {
		return errors.New("runtime: Start before Build")
	}
	st := r.Store()
	if r.cfg.ResumeOnStart {
		// River's own table: a crash leaves jobs 'running' that nobody runs.
		res, err := st.DB().ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`)
		if err != nil {
			return fmt.Errorf("runtime: resume jobs of a previous run: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			r.Logger().InfoContext(ctx, "resumed jobs a previous run left running", "jobs", n)
		}
	}
	if err := r.live.start(ctx); err != nil {
		return fmt.Errorf("runtime: start: %w", err)
	}
	r.mu.Lock()
	services := r.services
	r.mu.Unlock()
	for i, s := range services {
		if s.StartFunc == nil {
			continue
		}
		if err := s.StartFunc(ctx); err != nil {
			r.stopServices(ctx, services[:i])
			return err
		}
	}
	if err := client.Start(ctx); err != nil {
		r.stopServices(ctx, services)
		return fmt.Errorf("runtime: start: %w", err)
	}
	liveCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	r.mu.Lock()
	r.started, r.stopLive, r.liveDone = true, stop, done
	r.mu.Unlock()
	go func() {
		defer close(done)
		r.live.run(liveCtx)
	}()
	return nil
}

// Stop stops fetching new jobs and waits for running ones until ctx is done; then it
// cancels them (they are retried later, never lost), stops the heartbeat and the
// services. It is safe to call without Start and more than once.
func (r *Runtime) Stop(ctx context.Context) error {
	r.mu.Lock()
	client, started, stopLive, liveDone, services := r.client, r.started, r.stopLive, r.liveDone, r.services
	r.started, r.stopLive = false, nil
	r.mu.Unlock()
	if !started {
		return nil
	}
	err := client.Stop(ctx)
	if err != nil && errors.Is(err, ctx.Err()) {
		cancelCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = client.StopAndCancel(cancelCtx)
	}
	stopLive()
	<-liveDone
	// Jobs River could not stop in time stay running under this id; without a
	// heartbeat they are handed back at once, by the next process to sweep.
	r.live.forget(ctx)
	return errors.Join(err, r.stopServices(ctx, services))
}

func (r *Runtime) stopServices(ctx context.Context, services []Service) error {
	var errs []error
	for _, s := range slices.Backward(services) {
		if s.StopFunc != nil {
			errs = append(errs, s.StopFunc(ctx))
		}
	}
	return errors.Join(errs...)
}
