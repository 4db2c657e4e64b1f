package appbackendtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/apptest"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// Worker is an app with its workers, event handlers, hooks and schedules running on
// a database of its own, and no HTTP server: the kit's counterpart of River's
// rivertest.Worker, for testing one job (Work, WorkAs) or one event handler
// (HandleEvent) without signing requests or webhooks. Its embedded *appbackend.App
// is the running app (DB, InTx, Enqueue, Stripe); Fake is the StripeFake it calls.
//
// NewWorker takes the same register function and options as Start, and the same
// databases: SQLite by default, PostgreSQL with APPBACKEND_TEST_DATABASE=postgres.
type Worker struct {
	*appbackend.App
	// Database is its Config.Database: "sqlite:PATH" or a postgres:// URL.
	Database string
	// Fake is the StripeFake the app calls, as App.Fake.
	Fake *StripeFake

	kit     *App // the waits, shared with Start's App
	workers *apptest.Workers
}

// NewWorker builds the app as Start does, registers what register registers, and
// starts its workers but no listener. Everything stops when the test ends.
func NewWorker(t testing.TB, register func(app *appbackend.App), opts ...Option) *Worker {
	t.Helper()
	a, cfg := newTestApp(t, opts)
	app, err := appbackend.New(cfg)
	if err != nil {
		t.Fatalf("appbackendtest: %v", err)
	}
	if register != nil {
		register(app)
	}
	a.App = app
	// Run, asked for the workers only, starts them and no listener (internal/apptest
	// says why this is a context). Not t.Context(): that ends before the test's
	// cleanups, which may still use the app; this one ends in the cleanup below.
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *apptest.Workers, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(apptest.WorkersOnly(ctx, func(w *apptest.Workers) { started <- w }))
	}()
	var workers *apptest.Workers
	select {
	case workers = <-started:
	case err := <-done:
		cancel()
		t.Fatalf("appbackendtest: the app's workers did not start: %v\n%s", err, a.logs.tail(16<<10))
	case <-time.After(WaitTimeout):
		cancel()
		t.Fatalf("appbackendtest: the app's workers did not start within %v\n%s", WaitTimeout, a.logs.tail(16<<10))
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("appbackendtest: stopping the app's workers: %v", err)
		}
		if t.Failed() {
			t.Logf("appbackendtest: logs of the app:\n%s", a.logs.tail(64<<10))
		}
	})
	return &Worker{App: app, Database: a.Database, Fake: a.Fake, kit: a, workers: workers}
}

// Postgres reports whether the app runs on PostgreSQL (else SQLite).
func (w *Worker) Postgres() bool { return w.kit.Postgres() }

// Work enqueues one job of args' kind, for no account (as a schedule of the
// platform would), waits until the app's worker for the kind (AddWorker) finalized
// it and returns its status: State, Attempts, Errors, Output. A failed attempt is
// retried after 50 ms, as under Start.
func Work[T appbackend.JobArgs](t testing.TB, w *Worker, args T) appbackend.JobStatus {
	t.Helper()
	return w.work(t, context.Background(), args)
}

// WorkAs is Work for a job of an account in a mode, as a signed request or an event
// handler of that account enqueues it: app.Account(ctx) and app.Stripe(ctx) in the
// worker are that account's.
func WorkAs[T appbackend.JobArgs](t testing.TB, w *Worker, account string, livemode bool, args T) appbackend.JobStatus {
	t.Helper()
	return w.work(t, stripeclient.Bind(context.Background(), account, livemode, 0), args)
}

func (w *Worker) work(t testing.TB, ctx context.Context, args appbackend.JobArgs) appbackend.JobStatus {
	t.Helper()
	res, err := w.Enqueue(ctx, args, nil)
	if err != nil {
		t.Fatalf("appbackendtest: enqueue %s: %v", args.Kind(), err)
	}
	return w.kit.WaitForJob(t, res.Job.ID)
}

// HandleEvent stores ev in the app's inbox as the webhook receiver stores a
// delivered event, without a signature or an HTTP request, and waits until the
// app's handlers (OnEvent, and the installation lifecycle for its events) processed
// it; it returns the event as the inbox holds it. It fails the test as
// App.WaitForEvent does when the event dies.
func (w *Worker) HandleEvent(t testing.TB, ev Event) appbackend.Event {
	t.Helper()
	raw := ev.build(t, "HandleEvent")
	var envelope struct {
		Created    int64  `json:"created"`
		APIVersion string `json:"api_version"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		t.Fatalf("appbackendtest: HandleEvent: %v", err)
	}
	stored := &store.Event{
		ID: ev.ID, Type: ev.Type, AccountID: ev.Account, Livemode: ev.Livemode,
		Created: time.Unix(envelope.Created, 0).UTC(), APIVersion: envelope.APIVersion,
		Raw: raw, ReceivedAt: time.Now().UTC(),
	}
	ctx := context.Background()
	err := w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := w.workers.AppendEventsTx(ctx, tx, []*store.Event{stored})
		return err
	})
	if err != nil {
		t.Fatalf("appbackendtest: HandleEvent %s (%s): %v", ev.ID, ev.Type, err)
	}
	return w.kit.WaitForEvent(t, ev.ID)
}
