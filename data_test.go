package appbackend_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
)

// dataMigrations are the app's own migrations in these tests: tables both databases
// create from one file, and one version each database overrides.
var dataMigrations = fstest.MapFS{
	"0001_notes.sql": {Data: []byte(`
CREATE TABLE app_notes (
	id         TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	body       TEXT NOT NULL
);`)},
	"0002_dialect.sql":          {Data: []byte(`CREATE TABLE app_dialect (name TEXT NOT NULL); INSERT INTO app_dialect (name) VALUES ('root');`)},
	"sqlite/0002_dialect.sql":   {Data: []byte(`CREATE TABLE app_dialect (name TEXT NOT NULL); INSERT INTO app_dialect (name) VALUES ('sqlite');`)},
	"postgres/0002_dialect.sql": {Data: []byte(`CREATE TABLE app_dialect (name TEXT NOT NULL); INSERT INTO app_dialect (name) VALUES ('postgres');`)},
	"0003_effects.sql": {Data: []byte(`
CREATE TABLE app_job_writes (job_id BIGINT NOT NULL, attempt INTEGER NOT NULL);
CREATE TABLE app_schedule_writes (slot BIGINT NOT NULL, attempt INTEGER NOT NULL);
CREATE TABLE app_event_writes (event_id TEXT NOT NULL);`)},
}

// startDataApp runs an app with dataMigrations after register added its handlers.
func startDataApp(t *testing.T, register func(app *appbackend.App)) *appbackendtest.App {
	t.Helper()
	return appbackendtest.Start(t, register, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.Migrations = dataMigrations
	}))
}

// count runs a COUNT query on the app's database.
func count(t *testing.T, app *appbackendtest.App, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, app.ReadDB().QueryRowContext(t.Context(), query, args...).Scan(&n), query)
	return n
}

func TestMigrationsAreAppliedAtRunWithTheDatabasesOverride(t *testing.T) {
	t.Parallel()
	app := startDataApp(t, nil)

	want := "sqlite"
	if app.Postgres() {
		want = "postgres"
	}
	var names []string
	rows, err := app.ReadDB().QueryContext(t.Context(), `SELECT name FROM app_dialect`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		names = append(names, name)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{want}, names, "the %s/ file replaces the root file of its version", want)
	require.Zero(t, count(t, app, `SELECT COUNT(*) FROM app_notes`), "the root file of another version ran too")
}

type note struct {
	ID   string `json:"id"`
	Body string `json:"body"`
}

func TestDBInARoute(t *testing.T) {
	t.Parallel()
	app := startDataApp(t, func(app *appbackend.App) {
		app.HandleFunc("POST /api/notes", func(w http.ResponseWriter, r *http.Request) {
			id, _ := appbackend.IdentityFrom(r.Context())
			var n note
			if err := json.Unmarshal(id.Payload, &n); err != nil || n.ID == "" {
				app.WriteError(w, r, appbackend.NewError(appbackend.CodeBadRequest, "a note needs an id"))
				return
			}
			if _, ok := appbackend.Tx(r.Context()); ok {
				app.WriteError(w, r, errors.New("a route has no transaction of its own"))
				return
			}
			_, err := app.DB().ExecContext(r.Context(), `INSERT INTO app_notes (id, account_id, body) VALUES ($1, $2, $3)`, n.ID, id.AccountID, n.Body)
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			WriteJSON(w, n)
		})
		app.HandleFunc("GET /api/notes", func(w http.ResponseWriter, r *http.Request) {
			id, _ := appbackend.IdentityFrom(r.Context())
			rows, err := app.DB().QueryContext(r.Context(), `SELECT id, body FROM app_notes WHERE account_id = $1 ORDER BY id`, id.AccountID)
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			defer rows.Close()
			notes := []note{}
			for rows.Next() {
				var n note
				if err := rows.Scan(&n.ID, &n.Body); err != nil {
					app.WriteError(w, r, err)
					return
				}
				notes = append(notes, n)
			}
			if err := rows.Err(); err != nil {
				app.WriteError(w, r, err)
				return
			}
			WriteJSON(w, notes)
		})
	})

	alice, bob := app.As(userID, "acct_1Alice"), app.As(userID, "acct_2Bob")
	for _, c := range []struct {
		caller appbackendtest.Caller
		note   note
	}{
		{alice, note{"n1", "first"}}, {alice, note{"n2", "second"}}, {bob, note{"n3", "bob's"}},
	} {
		res := c.caller.Post(t, "/api/notes", c.note)
		require.Equal(t, http.StatusOK, res.Status, res)
	}

	var notes []note
	res := alice.Get(t, "/api/notes")
	require.Equal(t, http.StatusOK, res.Status, res)
	res.JSON(t, &notes)
	require.Equal(t, []note{{"n1", "first"}, {"n2", "second"}}, notes, "each account reads its own notes")
}

func TestInTxInARouteCommitsOrRollsBack(t *testing.T) {
	t.Parallel()
	app := startDataApp(t, func(app *appbackend.App) {
		// POST /api/notes/batch writes every note, or none if one is invalid (an
		// empty body) once the others are written.
		app.HandleFunc("POST /api/notes/batch", func(w http.ResponseWriter, r *http.Request) {
			id, _ := appbackend.IdentityFrom(r.Context())
			var batch struct {
				Notes []note `json:"notes"`
			}
			if err := json.Unmarshal(id.Payload, &batch); err != nil {
				app.WriteError(w, r, err)
				return
			}
			err := app.InTx(r.Context(), func(ctx context.Context, tx *sql.Tx) error {
				if joined, ok := appbackend.Tx(ctx); !ok || joined != tx {
					return errors.New("InTx's context does not carry its transaction")
				}
				for _, n := range batch.Notes {
					if _, err := tx.ExecContext(ctx, `INSERT INTO app_notes (id, account_id, body) VALUES ($1, $2, $3)`, n.ID, id.AccountID, n.Body); err != nil {
						return err
					}
				}
				for _, n := range batch.Notes {
					if n.Body == "" {
						return appbackend.NewError(appbackend.CodeBadRequest, "note "+n.ID+" is empty")
					}
				}
				return nil
			})
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			WriteJSON(w, map[string]int{"written": len(batch.Notes)})
		})
	})
	caller := app.As(userID, acctID)

	res := caller.Post(t, "/api/notes/batch", map[string]any{"notes": []note{{"a", "1"}, {"b", "2"}}})
	require.Equal(t, http.StatusOK, res.Status, res)
	require.Equal(t, 2, count(t, app, `SELECT COUNT(*) FROM app_notes`), "InTx commits when fn returns nil")

	res = caller.Post(t, "/api/notes/batch", map[string]any{"notes": []note{{"c", "3"}, {"d", ""}}})
	require.Equal(t, http.StatusBadRequest, res.Status, res)
	require.Equal(t, "bad_request", res.ErrorCode())
	require.Equal(t, 2, count(t, app, `SELECT COUNT(*) FROM app_notes`), "InTx rolls back when fn fails: c is not there")
	require.Zero(t, count(t, app, `SELECT COUNT(*) FROM app_notes WHERE id = $1`, "c"))
}

// writeArgs is a job that writes its attempt through its transaction and fails its
// first attempt, or every attempt.
type writeArgs struct {
	FailAlways bool `json:"fail_always"`
}

func (writeArgs) Kind() string { return "test.data_write" }

func TestTxInAJobCommitsWithItsCompletionOnly(t *testing.T) {
	t.Parallel()
	app := startDataApp(t, func(app *appbackend.App) {
		appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[writeArgs]) error {
			tx, ok := appbackend.Tx(ctx)
			if !ok {
				return errors.New("a job has a transaction")
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO app_job_writes (job_id, attempt) VALUES ($1, $2)`, job.ID, job.Attempt); err != nil {
				return err
			}
			if job.Args.FailAlways || job.Attempt == 1 {
				return errors.New("the job failed after writing")
			}
			return nil
		}))
	})

	retried, err := app.Enqueue(t.Context(), writeArgs{}, nil)
	require.NoError(t, err)
	failed, err := app.Enqueue(t.Context(), writeArgs{FailAlways: true}, &appbackend.InsertOpts{MaxAttempts: 2})
	require.NoError(t, err)

	status := app.WaitForJob(t, retried.Job.ID)
	require.Equal(t, "completed", status.State, "errors: %v", status.Errors)
	require.Equal(t, 2, status.Attempts)
	var attempts []int
	rows, err := app.ReadDB().QueryContext(t.Context(), `SELECT attempt FROM app_job_writes WHERE job_id = $1`, retried.Job.ID)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var a int
		require.NoError(t, rows.Scan(&a))
		attempts = append(attempts, a)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []int{2}, attempts, "the failed attempt's write rolled back; the retry's committed once")

	status = app.WaitForJob(t, failed.Job.ID)
	require.Equal(t, "discarded", status.State)
	require.Len(t, status.Errors, 2)
	require.Zero(t, count(t, app, `SELECT COUNT(*) FROM app_job_writes WHERE job_id = $1`, failed.Job.ID),
		"a job that never succeeds leaves nothing")
}

// holdArgs is a job that writes through its transaction and then holds it open
// until the test lets it go.
type holdArgs struct{}

func (holdArgs) Kind() string { return "test.data_hold" }

// A job holding its transaction open (on SQLite: the only write connection) must not
// stop reads: ReadDB and the kit's own lookups answer, and see only what committed.
func TestReadDBAnswersWhileAJobHoldsItsTransaction(t *testing.T) {
	t.Parallel()
	holding, release := make(chan struct{}), make(chan struct{})
	app := startDataApp(t, func(app *appbackend.App) {
		appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[holdArgs]) error {
			tx, _ := appbackend.Tx(ctx)
			if _, err := tx.ExecContext(ctx, `INSERT INTO app_job_writes (job_id, attempt) VALUES ($1, $2)`, job.ID, job.Attempt); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		}))
	})
	app.Install(t, "acct_1", false)
	res, err := app.Enqueue(t.Context(), holdArgs{}, nil)
	require.NoError(t, err)
	select {
	case <-holding:
	case <-time.After(appbackendtest.WaitTimeout):
		t.Fatal("the job did not start")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var n int
	require.NoError(t, app.ReadDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM app_job_writes`).Scan(&n),
		"a read waits for no held transaction")
	require.Zero(t, n, "the job's write is not committed yet")
	in, ok := app.Installation(t, "acct_1", false)
	require.True(t, ok, "the kit reads while the job holds its transaction")
	require.Equal(t, appbackend.InstallStatusInstalled, in.Status)
	if !app.Postgres() {
		_, err := app.ReadDB().ExecContext(ctx, `INSERT INTO app_job_writes (job_id, attempt) VALUES (0, 0)`)
		require.Error(t, err, "ReadDB is read-only on SQLite")
	}

	close(release)
	require.Equal(t, "completed", app.WaitForJob(t, res.Job.ID).State)
	require.Equal(t, 1, count(t, app, `SELECT COUNT(*) FROM app_job_writes WHERE job_id = $1`, res.Job.ID))
}

func TestTxInAScheduleRunCommitsWithTheRun(t *testing.T) {
	t.Parallel()
	app := startDataApp(t, func(app *appbackend.App) {
		app.Every("@every 1s", "test.tally", func(ctx context.Context, run appbackend.Run) error {
			tx, ok := appbackend.Tx(ctx)
			if !ok {
				return errors.New("a schedule run has a transaction")
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO app_schedule_writes (slot, attempt) VALUES ($1, $2)`, run.Slot.Unix(), run.Attempt); err != nil {
				return err
			}
			if run.Attempt == 1 {
				return errors.New("the run failed after writing")
			}
			return nil
		})
	})

	require.Eventually(t, func() bool {
		var n int
		err := app.ReadDB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM app_schedule_writes`).Scan(&n)
		return err == nil && n >= 2
	}, appbackendtest.WaitTimeout, 50*time.Millisecond, "the schedule did not run twice")

	require.Zero(t, count(t, app, `SELECT COUNT(*) FROM app_schedule_writes WHERE attempt <> 2`),
		"every slot's failed first attempt rolled back")
	require.Zero(t, count(t, app, `SELECT COUNT(*) FROM (SELECT slot FROM app_schedule_writes GROUP BY slot HAVING COUNT(*) > 1) AS twice`),
		"each slot wrote once")
	// One statement reads both, so that a run committing meanwhile cannot skew them.
	var runs, writes int
	require.NoError(t, app.ReadDB().QueryRowContext(t.Context(), `SELECT
		(SELECT COALESCE(SUM(runs), 0) FROM appbackend_schedules WHERE name = $1),
		(SELECT COUNT(*) FROM app_schedule_writes)`, "test.tally").Scan(&runs, &writes))
	require.Equal(t, runs, writes, "each run counted is a run whose write committed, and no other")
}

func TestEventHandlerTxWriteHappensOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[string]int{}
	app := startDataApp(t, func(app *appbackend.App) {
		app.OnEvent("invoice.paid", func(ctx context.Context, ev appbackend.Event) error {
			tx, ok := appbackend.Tx(ctx)
			if !ok {
				return errors.New("an event handler has a transaction")
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO app_event_writes (event_id) VALUES ($1)`, ev.ID); err != nil {
				return err
			}
			mu.Lock()
			calls[ev.ID]++
			first := calls[ev.ID] == 1
			mu.Unlock()
			if first {
				return errors.New("the handler failed after writing")
			}
			return nil
		})
	})

	ev := appbackendtest.Event{Type: "invoice.paid", Account: acctID, Object: map[string]any{"id": "in_1Paid", "object": "invoice"}}
	ev.ID = app.Deliver(t, ev)
	processed := app.WaitForEvent(t, ev.ID)
	require.Equal(t, 2, processed.Attempts, "the first attempt failed and was retried")
	require.Equal(t, 1, count(t, app, `SELECT COUNT(*) FROM app_event_writes WHERE event_id = $1`, ev.ID),
		"the failed attempt's write rolled back, the retry's committed")

	// Stripe delivers the event again: it is acknowledged and not processed again.
	require.Equal(t, ev.ID, app.Deliver(t, ev))
	other := app.Deliver(t, appbackendtest.Event{Type: "invoice.paid", Account: acctID})
	app.WaitForEvent(t, other)
	require.Equal(t, 1, count(t, app, `SELECT COUNT(*) FROM app_event_writes WHERE event_id = $1`, ev.ID), "a redelivery writes nothing")
	require.Equal(t, processed.Attempts, app.WaitForEvent(t, ev.ID).Attempts)
}

func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
