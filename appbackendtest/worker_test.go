package appbackendtest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
)

type tallyArgs struct {
	N int `json:"n"`
}

func (tallyArgs) Kind() string { return "test.tally" }

var tallyMigrations = fstest.MapFS{
	"0001_tallies.sql": {Data: []byte(`CREATE TABLE tallies (n BIGINT NOT NULL)`)},
}

// The registered worker runs with the job's transaction: its write commits with the
// job's completion, and its output is the job's.
func TestWorkRunsTheRegisteredWorker(t *testing.T) {
	t.Parallel()
	w := appbackendtest.NewWorker(t, func(app *appbackend.App) {
		appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[tallyArgs]) error {
			tx, _ := appbackend.Tx(ctx)
			if _, err := tx.ExecContext(ctx, `INSERT INTO tallies (n) VALUES ($1)`, job.Args.N); err != nil {
				return err
			}
			return river.RecordOutput(ctx, map[string]int{"doubled": 2 * job.Args.N})
		}))
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) { cfg.Migrations = tallyMigrations }))

	status := appbackendtest.Work(t, w, tallyArgs{N: 21})
	require.Equal(t, "completed", string(status.State))
	require.Equal(t, 1, status.Attempts)
	require.JSONEq(t, `{"doubled":42}`, string(status.Output))
	var n int
	require.NoError(t, w.DB().QueryRow(`SELECT n FROM tallies`).Scan(&n))
	require.Equal(t, 21, n)
}

// A failed attempt is retried, and the job's errors say why.
func TestWorkRetriesAFailedAttempt(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	w := appbackendtest.NewWorker(t, func(app *appbackend.App) {
		appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[tallyArgs]) error {
			if attempts.Add(1) == 1 {
				return errors.New("first attempt fails")
			}
			return nil
		}))
	})
	status := appbackendtest.Work(t, w, tallyArgs{})
	require.Equal(t, "completed", string(status.State))
	require.Equal(t, 2, status.Attempts)
	require.Len(t, status.Errors, 1)
	require.Contains(t, status.Errors[0].Error, "first attempt fails")
}

// WorkAs binds the job to an account and mode, as Enqueue in a signed request does.
func TestWorkAsBindsTheAccount(t *testing.T) {
	t.Parallel()
	w := appbackendtest.NewWorker(t, func(app *appbackend.App) {
		appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[tallyArgs]) error {
			account, livemode, err := app.Account(ctx)
			if err != nil {
				return err
			}
			return river.RecordOutput(ctx, map[string]any{"account": account, "livemode": livemode})
		}))
	})
	status := appbackendtest.WorkAs(t, w, "acct_1", false, tallyArgs{})
	require.Equal(t, "completed", string(status.State), status.Errors)
	require.NotNil(t, status.AccountID)
	require.Equal(t, "acct_1", *status.AccountID)
	require.JSONEq(t, `{"account":"acct_1","livemode":false}`, string(status.Output))
}

// HandleEvent runs the OnEvent handlers of the event's type, once, in a transaction
// that commits with the event, bound to the event's account.
func TestHandleEventRunsTheHandlers(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	w := appbackendtest.NewWorker(t, func(app *appbackend.App) {
		app.OnEvent("invoice.*", func(ctx context.Context, ev appbackend.Event) error {
			calls.Add(1)
			var obj struct {
				AmountPaid int `json:"amount_paid"`
			}
			if err := ev.DataObject(&obj); err != nil {
				return err
			}
			account, _, err := app.Account(ctx)
			if err != nil {
				return err
			}
			if account != ev.AccountID {
				return errors.New("the handler is not bound to the event's account")
			}
			tx, _ := appbackend.Tx(ctx)
			_, err = tx.ExecContext(ctx, `INSERT INTO tallies (n) VALUES ($1)`, obj.AmountPaid)
			return err
		})
		app.OnEvent("customer.created", func(ctx context.Context, ev appbackend.Event) error {
			return errors.New("a handler of another type must not run")
		})
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) { cfg.Migrations = tallyMigrations }))

	ev := w.HandleEvent(t, appbackendtest.Event{
		Type: "invoice.paid", Account: "acct_1",
		Object: map[string]any{"id": "in_1", "object": "invoice", "amount_paid": 2000},
	})
	require.Equal(t, "processed", string(ev.Status))
	require.Equal(t, "acct_1", ev.AccountID)
	require.Equal(t, int32(1), calls.Load())
	var n int
	require.NoError(t, w.DB().QueryRow(`SELECT n FROM tallies`).Scan(&n))
	require.Equal(t, 2000, n)
}

// The app's own reads (App.Event, App.Installation), which the kit's waits use, see
// what the workers wrote, and say "none" rather than fail for what was never written.
func TestAppReadsWhatTheWorkersWrote(t *testing.T) {
	t.Parallel()
	w := appbackendtest.NewWorker(t, nil)
	ctx := context.Background()

	_, ok, err := w.Event(ctx, "evt_never")
	require.NoError(t, err)
	require.False(t, ok, "an event never received")
	_, ok, err = w.Installation(ctx, "acct_never", false)
	require.NoError(t, err)
	require.False(t, ok, "an account that never installed the app")

	w.HandleEvent(t, appbackendtest.Event{ID: "evt_read_1", Type: "account.application.authorized", Account: "acct_read"})
	ev, ok, err := w.Event(ctx, "evt_read_1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, appbackend.EventStatusProcessed, ev.Status)
	require.Contains(t, string(ev.Raw), `"evt_read_1"`, "App.Event returns the raw event")
	in, ok, err := w.Installation(ctx, "acct_read", false)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, appbackend.InstallStatusInstalled, in.Status)
	require.Equal(t, "evt_read_1", in.LastEventID)

	before, err := appbackend.New(appbackend.Config{Database: w.Database, AppSecrets: []string{appbackendtest.AppSecret}})
	require.NoError(t, err)
	_, _, err = before.Installation(ctx, "acct_read", false)
	require.EqualError(t, err, "appbackend: Installation before Run")
}
