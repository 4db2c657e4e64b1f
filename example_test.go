package appbackend_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"testing/fstest"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/exampletb"
)

// An app's whole backend: its own table, a signed route, an install hook, an event
// handler that acts once, a nightly per-account schedule and a job the UI polls. It
// reads the same environment as `appbackend serve` and runs until interrupted.
func Example() {
	cfg, err := appbackend.ConfigFromEnv(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	// The app's tables: numbered files, each run once, in order (usually an embed.FS).
	cfg.Migrations = fstest.MapFS{
		"0001_notes.sql": {Data: []byte(`CREATE TABLE notes (
			account_id TEXT NOT NULL, livemode BOOLEAN NOT NULL, text TEXT NOT NULL)`)},
	}
	app, err := appbackend.New(cfg)
	if err != nil {
		log.Fatal(err)
	}

	// A signed route: it runs only for a request the Dashboard signed.
	app.HandleFunc("POST /api/notes", func(w http.ResponseWriter, r *http.Request) {
		id, _ := appbackend.IdentityFrom(r.Context())
		var body struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(id.Payload, &body); err != nil || body.Text == "" {
			app.WriteError(w, r, appbackend.NewError(appbackend.CodeBadRequest, "sign a payload with a text"))
			return
		}
		_, livemode, err := app.Account(r.Context())
		if err == nil {
			// $1, $2, … work on SQLite and PostgreSQL alike.
			_, err = app.DB().ExecContext(r.Context(),
				`INSERT INTO notes (account_id, livemode, text) VALUES ($1, $2, $3)`, id.AccountID, livemode, body.Text)
		}
		if err != nil {
			app.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})

	// Install hooks and event handlers write through the event's transaction: their
	// writes commit exactly when the event is marked processed.
	app.OnInstall(func(ctx context.Context, in appbackend.Installation) error {
		tx, _ := appbackend.Tx(ctx)
		_, err := tx.ExecContext(ctx, `INSERT INTO notes (account_id, livemode, text) VALUES ($1, $2, 'installed')`,
			in.AccountID, in.Livemode)
		return err
	})
	app.OnEvent("invoice.paid", func(ctx context.Context, ev appbackend.Event) error {
		var invoice struct {
			ID string `json:"id"`
		}
		if err := ev.DataObject(&invoice); err != nil {
			return err
		}
		sc, err := app.Stripe(ctx) // bound to ev's account and mode
		if err != nil {
			return err
		}
		_ = sc // e.g. sc.V1Invoices.Update(ctx, invoice.ID, …)
		return nil
	})

	// Once a night per installed account; the run's writes commit with the run.
	app.EveryAccount("0 2 * * *", "notes.nightly", func(ctx context.Context, run appbackend.Run) error {
		return app.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM notes WHERE account_id = $1 AND livemode = $2 AND text = ''`,
				run.AccountID, run.Livemode)
			return err
		})
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := app.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// noteExportArgs is a job's arguments: a JSON-encoded struct whose Kind names its worker.
type noteExportArgs struct {
	Format string `json:"format"`
}

func (noteExportArgs) Kind() string { return "example.export" }

// A job outlives the request that started it: the route answers the job's id at once
// and the UI polls the signed GET /api/jobs/{id} (the caller's account's jobs only).
// The worker's context is bound to the caller's account, so app.Stripe(ctx) and
// app.Account(ctx) work in it, and its writes through Tx commit with its completion.
func ExampleAddWorker() {
	t := exampletb.New()
	defer t.End()

	app := appbackendtest.Start(t, func(app *appbackend.App) {
		appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[noteExportArgs]) error {
			account, _, err := app.Account(ctx)
			if err != nil {
				return err
			}
			// … build the export, then make it the job's output, which GET /api/jobs/{id}
			// answers as "output".
			return river.RecordOutput(ctx, map[string]string{"account": account, "format": job.Args.Format})
		}))
		app.HandleFunc("POST /api/exports", func(w http.ResponseWriter, r *http.Request) {
			res, err := app.Enqueue(r.Context(), noteExportArgs{Format: "csv"}, nil)
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			fmt.Fprintf(w, `{"job_id":%d}`, res.Job.ID)
		})
	})
	merchant := app.As("usr_1", "acct_1")
	var started struct {
		JobID int64 `json:"job_id"`
	}
	require.NoError(t, json.Unmarshal(merchant.Post(t, "/api/exports", nil).Body, &started))
	app.WaitForJob(t, started.JobID)
	// What the UI polls:
	res := merchant.Get(t, fmt.Sprintf("/api/jobs/%d", started.JobID))
	var job struct {
		State  string            `json:"state"`
		Output map[string]string `json:"output"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &job))
	fmt.Println(res.Status, job.State, job.Output["account"], job.Output["format"])
	// Output: 200 completed acct_1 csv
}

// InTx runs a function in a transaction: in a route, a new one; in an event handler,
// hook, job or schedule run, the one already there (which commits with the event or
// job), so that the same function serves both.
func ExampleApp_InTx() {
	t := exampletb.New()
	defer t.End()

	app := appbackendtest.Start(t, func(app *appbackend.App) {
		moveNotes := func(ctx context.Context, from, to string) error {
			return app.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `UPDATE notes SET account_id = $1 WHERE account_id = $2`, to, from); err != nil {
					return err
				}
				if to == "acct_closed" {
					return appbackend.NewError(appbackend.CodeConflict, "acct_closed takes no notes") // rolls the update back
				}
				return nil
			})
		}
		app.Handle("POST /api/notes/move", appauth.RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := appbackend.IdentityFrom(r.Context())
			if err := moveNotes(r.Context(), id.AccountID, r.URL.Query().Get("to")); err != nil {
				app.WriteError(w, r, err)
			}
		})))
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.Migrations = fstest.MapFS{"0001_notes.sql": {Data: []byte(
			`CREATE TABLE notes (account_id TEXT NOT NULL, text TEXT NOT NULL)`)}}
	}))
	_, err := app.DB().ExecContext(context.Background(), `INSERT INTO notes (account_id, text) VALUES ('acct_1', 'hello')`)
	require.NoError(t, err)
	admin := app.As("usr_1", "acct_1").WithRoles("admin")

	count := func(account string) (n int) {
		require.NoError(t, app.ReadDB().QueryRow(`SELECT COUNT(*) FROM notes WHERE account_id = $1`, account).Scan(&n))
		return n
	}
	fmt.Println(admin.Post(t, "/api/notes/move?to=acct_closed", nil).Status, count("acct_1"))
	fmt.Println(admin.Post(t, "/api/notes/move?to=acct_2", nil).Status, count("acct_2"))
	// Output:
	// 409 1
	// 200 1
}
