package appbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/jobstatus"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// JobArgs are a job's arguments, as in River: a struct serialised to JSON, whose Kind
// names the worker that runs it. Implement InsertOpts() InsertOpts on it to give every
// job of the kind a queue, attempts or uniqueness.
//
// JobArgs, InsertOpts, Job, Worker, WorkerDefaults and JobInsertResult are River's own
// types, aliased rather than copied: a worker is a River worker, so River's
// documentation and helpers (river.WorkFunc, river.RecordOutput, rivertest) apply as
// they are.
type JobArgs = river.JobArgs

// InsertOpts adjust one enqueued job (River's insert options: queue, priority,
// attempts, schedule time, uniqueness, metadata).
type InsertOpts = river.InsertOpts

// Job is a job as its worker receives it: its typed Args, and its id and attempt.
type Job[T JobArgs] = river.Job[T]

// Worker runs the jobs of one kind (River's worker interface). Embed
// WorkerDefaults[T] and write Work, or use river.WorkFunc for a function.
type Worker[T JobArgs] = river.Worker[T]

// WorkerDefaults gives a Worker the default retry policy, timeout and middleware.
type WorkerDefaults[T JobArgs] = river.WorkerDefaults[T]

// JobInsertResult is what Enqueue inserted: the job (its ID is what GET /api/jobs/{id}
// takes), or the existing one when unique options found a duplicate.
type JobInsertResult = rivertype.JobInsertResult

// RerunnableJob is implemented by job args whose work is safe to run again
// (idempotent) and whose RerunAfterCrash returns true. When the process running such a
// job dies, the job goes back to the queue as soon as that process's heartbeat is a
// few seconds stale, as appbackend's own jobs do (they declare it the same way),
// instead of after Config.JobRescueAfter: River's rescuer cannot tell a dead process's
// job from a long one. Leave it out for long jobs and for jobs whose effects must not
// repeat.
//
//	func (SyncArgs) RerunAfterCrash() bool { return true }
type RerunnableJob = runtime.Rerunnable

// reservedKindPrefix names appbackend's own jobs.
const reservedKindPrefix = "appbackend."

// AddWorker registers w to run the jobs of kind T that Enqueue inserts. Call it before
// Run. Its context, like an event handler's, is bound to the account the job was
// enqueued for (so app.Stripe(ctx) calls on that merchant's behalf) and to the job
// (so a retry repeats its Stripe writes under the same idempotency keys). A Stripe
// error that repeating cannot fix (a 4xx) cancels the job; any other error or a panic
// retries it with backoff. A job may run for a minute unless its worker's Timeout says
// otherwise, and never longer than 4/5 of Config.JobRescueAfter (4 minutes by default):
// River takes a job running past that for lost and runs it again, so a longer job
// should split its work into several jobs.
//
// Like http.ServeMux's Handle, it panics on a mistake, so that it fails the first test
// that reaches it: a nil worker, an empty kind, a kind under the reserved
// "appbackend." prefix, a kind already registered, or a call after Run.
//
//	type ExportArgs struct{ Format string `json:"format"` }
//	func (ExportArgs) Kind() string { return "export" }
//
//	appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[ExportArgs]) error {
//		sc, err := app.Stripe(ctx) // the merchant who asked for the export
//		…
//	}))
func AddWorker[T JobArgs](a *App, w Worker[T]) {
	a.mustRegister("AddWorker")
	var args T
	kind := args.Kind()
	switch {
	case w == nil:
		panic(fmt.Sprintf("appbackend: AddWorker for %q: nil worker", kind))
	case strings.TrimSpace(kind) == "":
		panic("appbackend: AddWorker: the job args' Kind is empty")
	case strings.HasPrefix(kind, reservedKindPrefix):
		panic(fmt.Sprintf("appbackend: AddWorker: job kind %q: the %q prefix is reserved for appbackend's own jobs", kind, reservedKindPrefix))
	case a.rt.HasWorker(kind):
		panic(fmt.Sprintf("appbackend: AddWorker: a worker for job kind %q is already registered", kind))
	}
	if err := runtime.AddWorker(a.rt, &appWorker[T]{inner: w, app: a}); err != nil {
		panic("appbackend: AddWorker: " + err.Error())
	}
}

// appWorker runs an app's worker with its context bound like a handler's.
type appWorker[T JobArgs] struct {
	inner Worker[T]
	app   *App
}

func (w *appWorker[T]) Middleware(job *rivertype.JobRow) []rivertype.WorkerMiddleware {
	return w.inner.Middleware(job)
}

func (w *appWorker[T]) NextRetry(job *river.Job[T]) time.Time { return w.inner.NextRetry(job) }

// Timeout keeps the app's timeout below River's rescue delay: a job still running
// past it would be taken for lost and run a second time, concurrently.
func (w *appWorker[T]) Timeout(job *river.Job[T]) time.Duration {
	limit := w.app.rt.MaxJobTimeout()
	d := w.inner.Timeout(job)
	if limit > 0 && (d < 0 || d > limit) {
		return limit
	}
	return d
}

// Work runs the app's worker with a transaction it may use (Tx, InTx, Enqueue), begun
// at its first use: when there is one, the job is completed in it, so the job's
// writes happen exactly once; a failed job's writes roll back.
func (w *appWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	ctx = bindJob(ctx, job.JobRow)
	ctx, lazy := store.WithLazyTx(ctx, w.app.db.DB())
	defer lazy.Rollback()
	if err := w.inner.Work(ctx, job); err != nil {
		return runtime.RetryOrCancel(ctx, err)
	}
	if tx, err := lazy.Begun(); tx == nil && err == nil {
		return nil // no writes through the job's transaction: River completes the job
	}
	return runtime.CompleteInTx(ctx, lazy, job, nil)
}

// bindJob binds a job's context to its owner's account and mode, and to the job.
func bindJob(ctx context.Context, job *rivertype.JobRow) context.Context {
	if o := jobstatus.OwnerOf(job); o != nil && o.Livemode != nil {
		return stripeclient.Bind(ctx, o.AccountID, *o.Livemode, job.ID)
	}
	return stripeclient.Bind(ctx, "", false, job.ID)
}

// Enqueue inserts a job for the worker registered for args' kind (AddWorker) and
// returns it at once; the job runs on the server's workers, retried with backoff until
// it succeeds or runs out of attempts, and survives restarts. opts may be nil.
//
// In a signed request the job is the caller's: it records the account (and the mode
// app.Stripe(ctx) would use, and the user), binds the worker's context to it, and
// GET /api/jobs/{id} shows its status to that account only. In an event handler, a
// hook or another job it is the event's or job's account's. When ctx carries a
// transaction (an event handler or hook), the job is inserted in it, so it exists
// exactly when the event's processing commits.
//
//	res, err := app.Enqueue(r.Context(), ExportArgs{Format: "csv"}, nil)
//	// answer {"job_id": res.Job.ID}; the UI polls GET /api/jobs/{id}
func (a *App) Enqueue(ctx context.Context, args JobArgs, opts *InsertOpts) (*JobInsertResult, error) {
	if a.processor == nil {
		return nil, errors.New("appbackend: Enqueue before Run")
	}
	var o InsertOpts
	if opts != nil {
		o = *opts
	}
	if owner := a.jobOwner(ctx); owner != nil {
		meta := map[string]json.RawMessage{}
		if len(o.Metadata) > 0 {
			if err := json.Unmarshal(o.Metadata, &meta); err != nil {
				return nil, fmt.Errorf("appbackend: Enqueue %s: InsertOpts.Metadata must be a JSON object: %w", args.Kind(), err)
			}
		}
		raw, err := json.Marshal(owner)
		if err != nil {
			return nil, err
		}
		meta[jobstatus.MetadataKey] = raw
		if o.Metadata, err = json.Marshal(meta); err != nil {
			return nil, err
		}
	}
	client := a.rt.River()
	if tx, ok := store.TxFrom(ctx); ok {
		return client.InsertTx(ctx, tx, args, &o)
	}
	return client.Insert(ctx, args, &o)
}

// jobOwner is the account a job enqueued under ctx belongs to: a signed request's
// caller, or the account an event handler, hook or job is bound to.
func (a *App) jobOwner(ctx context.Context) *jobstatus.Owner {
	if id, ok := appauth.FromContext(ctx); ok && id.AccountID != "" {
		o := &jobstatus.Owner{AccountID: id.AccountID, UserID: id.UserID}
		// The mode app.Stripe(ctx) would pick; none when it cannot tell, and then the
		// job has no Stripe client of the account.
		if signed, err := stripeclient.SignedLivemode(id.Payload); err == nil && a.stripe != nil {
			if mode, err := a.stripe.ResolveMode(ctx, id.AccountID, signed, a.installedModes); err == nil {
				live := mode.Livemode()
				o.Livemode = &live
			}
		}
		return o
	}
	if account, mode, ok := stripeclient.AccountFrom(ctx); ok && account != "" {
		live := mode.Livemode()
		return &jobstatus.Owner{AccountID: account, Livemode: &live}
	}
	return nil
}

// handleJob is the signed GET /api/jobs/{id}: the status of a job the caller's account
// enqueued. Any other job — another account's, the platform's, none — is a 404, so
// that ids reveal nothing.
func (a *App) handleJob(w http.ResponseWriter, r *http.Request) {
	id, _ := appauth.FromContext(r.Context())
	notFound := apierror.New(apierror.CodeNotFound, "no such job")
	jobID, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || jobID <= 0 {
		a.writeError(w, r, notFound)
		return
	}
	if a.processor == nil {
		a.writeError(w, r, apierror.New(apierror.CodeUnavailable, "jobs are not running yet"))
		return
	}
	job, err := a.rt.River().JobGet(r.Context(), jobID)
	switch {
	case errors.Is(err, river.ErrNotFound):
		a.writeError(w, r, notFound)
		return
	case err != nil:
		a.writeError(w, r, err)
		return
	}
	if o := jobstatus.OwnerOf(job); o == nil || o.AccountID != id.AccountID {
		a.writeError(w, r, notFound)
		return
	}
	WriteJSON(w, http.StatusOK, JobStatusOf(job))
}
