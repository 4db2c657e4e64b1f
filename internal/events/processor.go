package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
)

// Queue is the River queue event jobs run on, apart from the app's own jobs so that a
// backlog of those does not delay events.
const Queue = "appbackend_events"

// Defaults of [Config].
const (
	DefaultWorkers      = 8
	DefaultEventsPerJob = 64
)

// Handler handles one event. ctx carries the processing transaction ([store.TxFrom]);
// write to the database only through it. A returned error (or a panic) rolls back the
// transaction and retries the event later.
type Handler func(ctx context.Context, ev store.Event) error

// BuiltIn is a handler that runs before the app's handlers and may annotate the event
// they receive (the installation lifecycle sets NotInstalled).
type BuiltIn func(ctx context.Context, ev *store.Event) error

// Config configures a [Processor]. The zero value is usable. How often events are
// tried, their backoff, timeouts, polling and liveness are the River client's, set on
// the runtime (runtime.Config): an event is dead after the runtime's MaxAttempts.
type Config struct {
	// Logger is the processor's logger; nil is the runtime's.
	Logger *slog.Logger
	// Handlers is the registry of the app's handlers, which may exist (and be filled)
	// before the processor; nil gives the processor a registry of its own.
	Handlers *Handlers
	// Workers is how many events are processed concurrently (default DefaultWorkers).
	// On SQLite their transactions take turns on the one write connection.
	Workers int
	// ObserveOutcome, if set, is called for every event a job processed or failed,
	// after the job's transaction committed (for metrics).
	ObserveOutcome func(ev store.Event, out store.EventOutcome)
	// EventsPerJob caps the events one job processes in one transaction (default
	// DefaultEventsPerJob). A webhook commit of many events enqueues them in few jobs,
	// so the queue's own cost per job is shared; a larger value holds SQLite's write
	// lock longer per transaction.
	EventsPerJob int
	// BuiltIn handlers run, in order, before the app's handlers for every event.
	BuiltIn []BuiltIn
	// BuiltInWrites reports whether the built-in handlers may write for an event of
	// the given type (nil: for every type). Only an event that some handler may write
	// for runs under a savepoint of its own; for the others the built-ins only read,
	// and an error from them is the database's, which fails the whole job.
	BuiltInWrites func(eventType string) bool
	// Deliver, if set, hands each event to an outside receiver (the gateway's
	// upstream) before the job's transaction opens, so that a slow receiver holds no
	// database lock (on SQLite that would stall every webhook acknowledgement). An
	// event is processed — its handlers run and it is marked processed, in the job's
	// transaction — only once Deliver returned nil for it; an error fails the event
	// like a handler's, and the retry delivers it again (at least once).
	Deliver func(ctx context.Context, ev *store.Event) error
	// FetchThin, if set, fetches the full event of each thin notification (IsThin) in
	// the job, before the job's transaction opens and before Deliver, and the handlers
	// see what it returned as the event's Raw (the inbox keeps the notification as it
	// came). A failed fetch fails the event like a handler's error: the job is retried
	// with backoff, and the event is dead only after its last attempt. Unset, handlers
	// see the notification itself.
	FetchThin FetchFunc

	// ProcessedRetention is how long processed events (dead ones: from their arrival)
	// are kept before the processor prunes them; zero keeps them. River's finished
	// jobs follow runtime.Config.JobRetention.
	ProcessedRetention time.Duration
}

// Processor processes the inbox's events on the runtime's River client.
type Processor struct {
	rt      *runtime.Runtime
	st      store.Store
	logger  *slog.Logger
	builtIn []BuiltIn
	// builtInWrites is Config.BuiltInWrites.
	builtInWrites func(eventType string) bool
	handlers      *Handlers

	eventsPerJob   int
	deliver        func(ctx context.Context, ev *store.Event) error
	fetchThin      FetchFunc
	observeOutcome func(ev store.Event, out store.EventOutcome)
	// txSlots bounds the processing transactions open or waiting for a connection at
	// once to the write pool's size: on SQLite (one connection) more would only queue
	// ahead of the webhook receiver's commits and delay acknowledgements.
	txSlots chan struct{}
	// retention is Config.ProcessedRetention.
	retention time.Duration
	// pausedHere is whether this process's client applied a pause of Queue.
	pausedHere atomic.Bool

	mu       sync.Mutex
	stopLoop context.CancelFunc
	loopDone chan struct{}
}

// New builds a Processor on rt, which must be open (runtime.Runtime.Open): it adds
// its worker, its queue and its loops (pruning, the pause log; they start and stop
// with the client) to rt, whose Build then makes the client and Start runs it. A
// Processor on a runtime that is never started can still enqueue and replay, which is
// how the CLI acts on a server's database.
func New(rt *runtime.Runtime, cfg Config) (*Processor, error) {
	st := rt.Store()
	if st == nil {
		return nil, errors.New("events: the runtime has no store yet (runtime.Open)")
	}
	if cfg.Logger == nil {
		cfg.Logger = rt.Logger()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.EventsPerJob <= 0 {
		cfg.EventsPerJob = DefaultEventsPerJob
	}
	if cfg.Handlers == nil {
		cfg.Handlers = &Handlers{}
	}
	slots := cfg.Workers
	if maxConns := st.DB().Stats().MaxOpenConnections; maxConns > 0 {
		slots = min(slots, maxConns)
	}
	p := &Processor{rt: rt, st: st, logger: cfg.Logger, builtIn: cfg.BuiltIn, builtInWrites: cfg.BuiltInWrites, handlers: cfg.Handlers,
		eventsPerJob: cfg.EventsPerJob, observeOutcome: cfg.ObserveOutcome, deliver: cfg.Deliver, fetchThin: cfg.FetchThin,
		txSlots: make(chan struct{}, slots), retention: cfg.ProcessedRetention}
	if err := runtime.AddWorker(rt, &eventWorker{p: p}); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	rt.ConfigureRiver(func(c *river.Config) {
		if c.Queues == nil {
			c.Queues = map[string]river.QueueConfig{}
		}
		c.Queues[Queue] = river.QueueConfig{MaxWorkers: cfg.Workers}
	})
	rt.AddService(runtime.Service{StartFunc: p.start, StopFunc: p.stop})
	return p, nil
}

// client is the runtime's River client; nil until the runtime is built.
func (p *Processor) client() *river.Client[*sql.Tx] { return p.rt.River() }

// On registers h in the processor's registry (see Handlers.On).
func (p *Processor) On(pattern string, h Handler) { p.handlers.On(pattern, h) }

// Handles reports whether a registered handler (not a built-in) matches the type.
func (p *Processor) Handles(eventType string) bool { return p.handlers.Handles(eventType) }

func (p *Processor) handlersFor(eventType string) []registered { return p.handlers.forType(eventType) }

// start runs before the client starts: it notes a pause in force, subscribes to
// pauses and resumes (so that none this process applies goes unlogged: each replica
// says when it stopped and restarted taking events) and starts the pruning.
func (p *Processor) start(ctx context.Context) error {
	if since, paused, err := PauseState(ctx, p.st); err != nil {
		return fmt.Errorf("events: start: %w", err)
	} else if paused {
		// River's producer starts paused from the same row, without an event.
		p.pausedHere.Store(true)
		p.logger.WarnContext(ctx, "event processing is paused: webhooks are stored but not processed until `appbackend events resume`", "paused_at", since)
	}
	pauses, unsubscribe := p.client().Subscribe(river.EventKindQueuePaused, river.EventKindQueueResumed)
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	p.mu.Lock()
	p.stopLoop, p.loopDone = stop, done
	p.mu.Unlock()
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Go(func() { p.logPauses(loopCtx, pauses, unsubscribe) })
		wg.Go(func() { p.pruneLoop(loopCtx) })
		wg.Wait()
	}()
	return nil
}

// stop ends the loops, after the client stopped.
func (p *Processor) stop(context.Context) error {
	p.mu.Lock()
	stop, done := p.stopLoop, p.loopDone
	p.stopLoop = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	return nil
}

// ProcessEventsArgs is the River job that processes inbox events: the events one
// webhook commit stored (up to Config.EventsPerJob), or one replayed event.
type ProcessEventsArgs struct {
	EventIDs []string `json:"event_ids"`
	// Thin marks a job of thin notifications, whose events are fetched before its
	// transaction (Config.FetchThin); a job holds only thin events or none.
	Thin bool `json:"thin,omitempty"`
}

// Kind implements river.JobArgs.
func (ProcessEventsArgs) Kind() string { return "appbackend.process_events" }

// RerunAfterCrash implements runtime.Rerunnable: a rerun skips the events already
// processed, so an orphan that did finish costs one idle run.
func (ProcessEventsArgs) RerunAfterCrash() bool { return true }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ProcessEventsArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: Queue} }

// EnqueueTx enqueues the processing of the given (just inserted) events in tx, in jobs
// of up to Config.EventsPerJob events.
func (p *Processor) EnqueueTx(ctx context.Context, tx *sql.Tx, eventIDs ...string) error {
	return p.enqueueTx(ctx, tx, false, eventIDs)
}

// enqueueTx is EnqueueTx for snapshot events or (thin) for thin notifications.
func (p *Processor) enqueueTx(ctx context.Context, tx *sql.Tx, thin bool, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, 0, (len(eventIDs)+p.eventsPerJob-1)/p.eventsPerJob)
	for chunk := range slices.Chunk(eventIDs, p.eventsPerJob) {
		params = append(params, river.InsertManyParams{Args: ProcessEventsArgs{EventIDs: slices.Clone(chunk), Thin: thin}})
	}
	client := p.client()
	if client == nil {
		return errors.New("events: enqueue before the runtime was built")
	}
	if _, err := client.InsertManyFastTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue %d events: %w", len(eventIDs), err)
	}
	return nil
}

// Replay moves the event back to pending and enqueues it again, whatever its status:
// a dead event gets another round of attempts, a processed one runs its handlers once
// more (on purpose only: handlers see the same event id again). It returns an error
// wrapping store.ErrNotFound for an unknown id.
func (p *Processor) Replay(ctx context.Context, eventID string) error {
	err := store.InTx(ctx, p.st.DB(), func(tx *sql.Tx) error {
		if err := p.st.ReplayEventTx(ctx, tx, eventID); err != nil {
			return err
		}
		evs, err := p.st.EventsTx(ctx, tx, []string{eventID}, true)
		if err != nil {
			return err
		}
		// A thin event is fetched again: its notification is what the inbox keeps.
		return p.enqueueTx(ctx, tx, len(evs) == 1 && IsThin(evs[0].Raw), []string{eventID})
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("replay %s: %w", eventID, err)
	}
	return err
}

// batchInserter is a store that inserts many events in one statement (PostgreSQL),
// in id order, so that replicas' overlapping batches cannot deadlock.
type batchInserter interface {
	InsertEventsTx(ctx context.Context, tx *sql.Tx, evs []*store.Event) ([]bool, error)
}

// AppendTx stores in the inbox, in tx, the events it does not hold yet and enqueues
// their processing; inserted[i] reports whether evs[i] was new (false: a duplicate
// id, stored once). The webhook receiver and reconciliation both append this way, so
// an event enters the inbox and the queue together or not at all.
func (p *Processor) AppendTx(ctx context.Context, tx *sql.Tx, evs []*store.Event) (inserted []bool, err error) {
	if bi, ok := p.st.(batchInserter); ok {
		inserted, err = bi.InsertEventsTx(ctx, tx, evs)
	} else {
		inserted = make([]bool, len(evs))
		for i, ev := range evs {
			if inserted[i], err = p.st.InsertEventTx(ctx, tx, ev); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(evs))
	var thin []string
	for i, ev := range evs {
		switch {
		case !inserted[i]:
		case IsThin(ev.Raw):
			thin = append(thin, ev.ID)
		default:
			ids = append(ids, ev.ID)
		}
	}
	if err := p.enqueueTx(ctx, tx, true, thin); err != nil {
		return nil, err
	}
	return inserted, p.EnqueueTx(ctx, tx, ids...)
}

type eventWorker struct {
	river.WorkerDefaults[ProcessEventsArgs]
	p *Processor
}

func (w *eventWorker) Work(ctx context.Context, job *river.Job[ProcessEventsArgs]) error {
	return w.p.process(ctx, job)
}

// savepoint isolates one event inside a job's transaction: a failing handler's writes
// are rolled back to it while the other events' work stays.
const savepoint = "appbackend_event"

// process runs a job's events in ONE transaction; an event some handler may write for
// runs under a savepoint of its own (isolated), the others directly. Processed events
// are skipped, so a rerun or retried job redoes only what did not commit.
// Failures are recorded (dead on the job's last attempt) and returned, so River
// retries the job with backoff. A job that went well and has room left also takes
// over waiting jobs (see absorbWaitingJobs).
func (p *Processor) process(ctx context.Context, job *river.Job[ProcessEventsArgs]) error {
	failStatus := store.EventFailed
	if job.Attempt >= job.MaxAttempts {
		failStatus = store.EventDead
	}
	ids, failures := job.Args.EventIDs, []error(nil)
	var fetched map[string][]byte
	if p.deliver != nil || (job.Args.Thin && p.fetchThin != nil) {
		ids, fetched, failures = p.deliverFirst(ctx, job, failStatus)
		if len(ids) == 0 {
			return errors.Join(failures...)
		}
	}
	select {
	case p.txSlots <- struct{}{}:
		defer func() { <-p.txSlots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	tx, err := p.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("process events: %w", err)
	}
	defer tx.Rollback()

	run := newJobRun(ctx, tx)
	loaded, err := p.loadEvents(ctx, tx, ids)
	if err != nil {
		return err
	}
	for id, raw := range fetched {
		if ev, ok := loaded[id]; ok {
			ev.Raw = raw // the handlers see the fetched event
			loaded[id] = ev
		}
	}
	for _, id := range ids {
		ev, herr, err := p.processEvent(ctx, tx, id, loaded, run)
		if err != nil {
			return err
		}
		if herr == nil {
			continue
		}
		failures = append(failures, fmt.Errorf("event %s: %w", id, herr))
		p.logFailure(ctx, job, ev, failStatus, herr)
		if ctx.Err() != nil {
			// The job ran out of time: the transaction cannot be used any more.
			_ = tx.Rollback()
			p.recordFailure(ctx, ev.ID, failStatus, herr)
			return errors.Join(failures...)
		}
		out := store.EventOutcome{Status: failStatus, Error: herr.Error()}
		if err := p.st.FinishEventTx(ctx, tx, id, out); err != nil {
			return err
		}
		run.record(ev, out)
	}
	// Absorbed jobs' events would skip their delivery, which happens before the
	// transaction.
	if len(failures) == 0 && p.deliver == nil && len(job.Args.EventIDs) < p.eventsPerJob {
		if err := p.absorbWaitingJobs(ctx, tx, p.eventsPerJob-len(job.Args.EventIDs), run); err != nil {
			return err
		}
	}
	if err := p.st.FinishProcessedTx(ctx, tx, run.processed); err != nil {
		return fmt.Errorf("process events: %w", err)
	}
	// The job is not completed in this transaction (river.JobCompleteTx): the events'
	// processed status, committed here with the handlers' writes, is what makes a rerun
	// of the job a no-op, and leaving completion to River's batched completer saves two
	// statements per job, which on SQLite is a third of a small job's cost.
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("process events: commit: %w", err)
	}
	if p.observeOutcome != nil {
		for _, o := range run.outcomes {
			p.observeOutcome(o.ev, o.out)
		}
	}
	return errors.Join(failures...)
}

// deliverFirst fetches the full events of a thin job (Config.FetchThin) and delivers
// the job's events (Config.Deliver), those not processed yet, outside any transaction:
// neither Stripe nor the upstream is waited for while a database lock is held. It
// returns the events the transaction may now process — the fetched and delivered ones
// and those already processed or gone (which it skips anyway), in the job's order —
// and the fetched events' JSON by id. A failed fetch or delivery is recorded on its
// event and returned, so that the job is retried.
//
// The job's events are read in one statement, and the events of different accounts
// are delivered concurrently (up to deliverConcurrency at once): an account's events
// are still delivered one after the other, in the job's order, as they were when the
// whole job went one event at a time.
func (p *Processor) deliverFirst(ctx context.Context, job *river.Job[ProcessEventsArgs], failStatus store.EventStatus) (ready []string, fetched map[string][]byte, failures []error) {
	ids := job.Args.EventIDs
	fetched = map[string][]byte{}
	// What delivery reads outside the transaction (an account's installation) is read
	// once per job.
	ctx = store.WithReadMemo(ctx)
	evs, err := p.st.Events(ctx, ids)
	if err != nil {
		// Nothing is delivered, so nothing may be processed: River retries the job.
		return nil, nil, []error{err}
	}
	byID := make(map[string]*store.Event, len(evs))
	for i := range evs {
		byID[evs[i].ID] = &evs[i]
	}
	// An account's events in the job's order; accounts in the order they first appear.
	type lane struct{ events []int }
	lanes := map[string]*lane{}
	var order []*lane
	results := make([]deliveryResult, len(ids))
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		ev, ok := byID[id]
		if !ok || ev.Status == store.EventProcessed || seen[id] {
			results[i].skip = true // the transaction skips it, or fails on the database
			continue
		}
		seen[id] = true
		l := lanes[ev.AccountID]
		if l == nil {
			l = &lane{}
			lanes[ev.AccountID] = l
			order = append(order, l)
		}
		l.events = append(l.events, i)
	}
	deliverLane := func(l *lane) {
		for _, i := range l.events {
			results[i] = p.deliverOne(ctx, job, byID[ids[i]])
		}
	}
	if len(order) == 1 {
		deliverLane(order[0])
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, deliverConcurrency)
		for _, l := range order {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				deliverLane(l)
			})
		}
		wg.Wait()
	}
	for i, id := range ids {
		r := results[i]
		if r.skip || r.err == nil {
			if r.raw != nil {
				fetched[id] = r.raw
			}
			ready = append(ready, id)
			continue
		}
		ev := *byID[id]
		failures = append(failures, fmt.Errorf("event %s: %w", id, r.err))
		p.logFailure(ctx, job, ev, failStatus, r.err)
		p.recordFailure(ctx, id, failStatus, r.err)
		if p.observeOutcome != nil {
			ev.Raw = nil
			p.observeOutcome(ev, store.EventOutcome{Status: failStatus, Error: r.err.Error()})
		}
	}
	return ready, fetched, failures
}

// deliverConcurrency bounds the deliveries one job makes at once (to different
// accounts): the upstream sees at most Workers × deliverConcurrency of them.
const deliverConcurrency = 8

// deliveryResult is what deliverFirst did with one of the job's events.
type deliveryResult struct {
	// skip: gone, already processed, or a repeat of an id earlier in the job.
	skip bool
	raw  []byte // the fetched event, if it was thin and fetched
	err  error  // of the fetch or the delivery
}

// deliverOne fetches (if thin) and delivers one event.
func (p *Processor) deliverOne(ctx context.Context, job *river.Job[ProcessEventsArgs], ev *store.Event) (r deliveryResult) {
	r.err = p.callSafely(ctx, ev, func() error {
		// Only an event someone reads is fetched: a handler, or the upstream.
		if job.Args.Thin && p.fetchThin != nil && (p.deliver != nil || p.isolated(ev.Type)) {
			raw, err := p.fetchThin(ctx, ev)
			if err != nil {
				return fmt.Errorf("fetch the thin event's content: %w", err)
			}
			ev.Raw, r.raw = raw, raw
		}
		if p.deliver == nil {
			return nil
		}
		return p.deliver(ctx, ev)
	})
	return r
}

// jobRun is what one job's transaction did to its events: the successes, recorded
// together before the commit, and every outcome, reported once it commits.
type jobRun struct {
	// handlerCtx carries the transaction, and a memo of what handlers read in it, to
	// every handler of the job.
	handlerCtx context.Context
	processed  []store.ProcessedEvent
	outcomes   []eventOutcome
	// tried holds the events this transaction already ran, whose processed status is
	// not written yet: an id that comes again (an absorbed job's copy) is skipped.
	tried map[string]bool
}

type eventOutcome struct {
	ev  store.Event
	out store.EventOutcome
}

func newJobRun(ctx context.Context, tx *sql.Tx) *jobRun {
	return &jobRun{handlerCtx: store.WithTxMemo(store.WithTx(ctx, tx)), tried: map[string]bool{}}
}

func (r *jobRun) record(ev store.Event, out store.EventOutcome) {
	ev.Raw = nil // not needed past the transaction
	r.outcomes = append(r.outcomes, eventOutcome{ev, out})
}

// loadEvents loads the given events (locked for the rest of tx), with their raw bytes
// only where a handler may need them: the built-ins alone read only an event's
// envelope, and a payload not sent is neither copied nor collected.
func (p *Processor) loadEvents(ctx context.Context, tx *sql.Tx, ids []string) (map[string]store.Event, error) {
	evs, err := p.st.EventsTx(ctx, tx, ids, false)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]store.Event, len(evs))
	var withRaw []string
	for _, ev := range evs {
		byID[ev.ID] = ev
		if ev.Status != store.EventProcessed && p.isolated(ev.Type) {
			withRaw = append(withRaw, ev.ID)
		}
	}
	if len(withRaw) == 0 {
		return byID, nil
	}
	evs, err = p.st.EventsTx(ctx, tx, withRaw, true)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	return byID, nil
}

// isolated reports whether an event of this type runs under a savepoint of its own:
// when a handler may write for it, so that a failing handler's writes can be undone
// while the job's other events keep theirs.
func (p *Processor) isolated(eventType string) bool {
	return p.builtInWrites == nil || p.builtInWrites(eventType) || len(p.handlersFor(eventType)) > 0
}

// processEvent runs the handlers of one loaded event and adds it to the run's
// successes. herr is the handlers' error, after their writes were rolled back to the
// event's savepoint; err is a database error that leaves tx unusable. An event that
// is gone, already processed or already tried in this run is skipped: effects apply
// once.
func (p *Processor) processEvent(ctx context.Context, tx *sql.Tx, id string, loaded map[string]store.Event, run *jobRun) (ev store.Event, herr, err error) {
	ev, ok := loaded[id]
	switch {
	case run.tried[id]:
		return ev, nil, nil
	case !ok:
		// Deleted by retention after the job was enqueued: nothing left to do.
		p.logger.WarnContext(ctx, "event to process no longer exists", "event_id", id)
		return ev, nil, nil
	case ev.Status == store.EventProcessed:
		// A redelivery raced a replay, or a retry found the work done.
		return ev, nil, nil
	}
	run.tried[id] = true
	isolated := p.isolated(ev.Type)
	if isolated {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
			return ev, nil, fmt.Errorf("process %s: %w", id, err)
		}
	}
	if herr = p.runHandlers(run.handlerCtx, &ev); herr != nil {
		switch {
		case !isolated:
			// Only the built-ins ran, and they only read: the database failed.
			return ev, nil, fmt.Errorf("process %s: %w", id, herr)
		case ctx.Err() != nil:
			return ev, herr, nil
		}
		for _, stmt := range []string{"ROLLBACK TO SAVEPOINT ", "RELEASE SAVEPOINT "} {
			if _, err := tx.ExecContext(ctx, stmt+savepoint); err != nil {
				return ev, herr, fmt.Errorf("process %s: %w", id, err)
			}
		}
		// What the handlers read after their writes is undone with them.
		clear(store.TxMemo(run.handlerCtx))
		return ev, herr, nil
	}
	if isolated {
		if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+savepoint); err != nil {
			return ev, nil, fmt.Errorf("process %s: %w", id, err)
		}
	}
	run.processed = append(run.processed, store.ProcessedEvent{ID: id, NotInstalled: ev.NotInstalled})
	run.record(ev, store.EventOutcome{Status: store.EventProcessed, NotInstalled: ev.NotInstalled})
	return ev, nil, nil
}

// absorbWaitingJobs takes over, in tx, event jobs that wait in the queue and were
// never tried, up to room events: it claims them (deleting them, with the rows other
// transactions hold skipped), processes their events and, for events whose handlers
// failed, enqueues a new job, which River then tries on its own with its attempts and
// backoff. A backlog of small jobs (events that arrived one at a time while processing
// was stopped, or the batches of concurrent webhook commits) then drains in batches
// instead of paying River's fetch and completion for each, and concurrent workers and
// replicas never take the same job.
func (p *Processor) absorbWaitingJobs(ctx context.Context, tx *sql.Tx, room int, run *jobRun) error {
	var ids []string
	take := func(args []byte) bool {
		var a ProcessEventsArgs
		// A thin job's events are fetched before its own transaction, not in this one.
		if json.Unmarshal(args, &a) != nil || a.Thin || len(a.EventIDs) > room {
			return false
		}
		room -= len(a.EventIDs)
		ids = append(ids, a.EventIDs...)
		return true
	}
	claimed, err := p.st.ClaimWaitingJobsTx(ctx, tx, ProcessEventsArgs{}.Kind(), Queue, room, take)
	if err != nil || len(claimed) == 0 {
		return err
	}
	loaded, err := p.loadEvents(ctx, tx, ids)
	if err != nil {
		return err
	}
	var failed []string
	for _, id := range ids {
		ev, herr, err := p.processEvent(ctx, tx, id, loaded, run)
		if err != nil {
			return err
		}
		if herr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.logger.InfoContext(ctx, "event handler failed in a batch; a job of its own retries it", "event_id", ev.ID, "type", ev.Type, "err", herr)
			failed = append(failed, id)
		}
	}
	return p.EnqueueTx(ctx, tx, failed...)
}

func (p *Processor) logFailure(ctx context.Context, job *river.Job[ProcessEventsArgs], ev store.Event, status store.EventStatus, herr error) {
	level := slog.LevelWarn
	if status == store.EventDead {
		level = slog.LevelError
	}
	p.logger.Log(ctx, level, "event handler failed", "event_id", ev.ID, "type", ev.Type,
		"attempt", job.Attempt, "max_attempts", job.MaxAttempts, "status", status, "err", herr)
}

// recordFailure marks an event failed or dead in its own transaction, for when the
// job's transaction is no longer usable.
func (p *Processor) recordFailure(ctx context.Context, id string, status store.EventStatus, herr error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := store.InTx(ctx, p.st.DB(), func(tx *sql.Tx) error {
		return p.st.FinishEventTx(ctx, tx, id, store.EventOutcome{Status: status, Error: herr.Error()})
	})
	if err != nil {
		p.logger.ErrorContext(ctx, "record event failure", "event_id", id, "err", err)
	}
}

func (p *Processor) runHandlers(ctx context.Context, ev *store.Event) error {
	callSafely := func(f func() error) error { return p.callSafely(ctx, ev, f) }
	for i, h := range p.builtIn {
		if err := callSafely(func() error { return h(ctx, ev) }); err != nil {
			return fmt.Errorf("built-in handler %d: %w", i, err)
		}
	}
	for _, r := range p.handlersFor(ev.Type) {
		e := *ev
		if err := callSafely(func() error { return r.handler(ctx, e) }); err != nil {
			return fmt.Errorf("handler %q: %w", r.pattern, err)
		}
	}
	return nil
}

// callSafely turns a panic into an error, so that one bad event fails alone instead
// of taking the worker down. The stack goes to the log, not into the event's error.
func (p *Processor) callSafely(ctx context.Context, ev *store.Event, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.logger.ErrorContext(ctx, "event handler panicked", "event_id", ev.ID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}
