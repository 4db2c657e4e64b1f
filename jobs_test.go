package appbackend_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/stripeclient"
)

// exportArgs is the app's long job in these tests.
type exportArgs struct {
	Format string `json:"format"`
}

func (exportArgs) Kind() string { return "test.export" }

func TestJobStatusIsTheCallersOnly(t *testing.T) {
	t.Parallel()
	const owner, stranger = "acct_1Owner", "acct_2Stranger"
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		require.NoError(t, appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[exportArgs]) error {
			account, mode, _ := stripeclient.AccountFrom(ctx)
			jobID, _ := stripeclient.JobFrom(ctx)
			if job.Attempt == 1 {
				return errors.New("the export service is busy") // retried
			}
			return river.RecordOutput(ctx, map[string]any{"format": job.Args.Format, "account": account, "mode": mode, "bound_job": jobID == job.ID})
		})))
		app.HandleFunc("POST /api/export", func(w http.ResponseWriter, r *http.Request) {
			res, err := app.Enqueue(r.Context(), exportArgs{Format: "csv"}, &appbackend.InsertOpts{MaxAttempts: 3})
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"job_id": res.Job.ID})
		})
		app.HandleFunc("POST /api/enqueue_platform_job", func(w http.ResponseWriter, r *http.Request) {
			// Enqueued outside the request's identity: nobody's job.
			res, err := app.Enqueue(context.WithoutCancel(context.Background()), exportArgs{Format: "platform"}, nil)
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"job_id": res.Job.ID})
		})
	})

	caller := app.As(userID, owner)
	var created struct {
		JobID int64 `json:"job_id"`
	}
	res := caller.Post(t, "/api/export", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	res.JSON(t, &created)
	id := strconv.FormatInt(created.JobID, 10)

	status := app.WaitForJob(t, created.JobID)
	require.Equal(t, "completed", status.State, "errors: %v", status.Errors)
	res = caller.Get(t, "/api/jobs/"+id)
	require.Equal(t, http.StatusOK, res.Status, res)
	var job map[string]any
	res.JSON(t, &job)
	require.Equal(t, "completed", job["state"])
	require.Equal(t, "test.export", job["kind"])
	require.Equal(t, owner, job["account_id"])
	require.EqualValues(t, 2, job["attempts"])
	require.NotNil(t, job["finalized_at"])
	errs := job["errors"].([]any)
	require.Len(t, errs, 1)
	require.Equal(t, "the export service is busy", errs[0].(map[string]any)["error"])
	require.Equal(t, map[string]any{"format": "csv", "account": owner, "mode": "test", "bound_job": true}, job["output"],
		"the worker's context is bound to the caller's account, the mode and the job")

	for _, tc := range []struct{ name, path, account string }{
		{"another account's job", "/api/jobs/" + id, stranger},
		{"an unknown job", "/api/jobs/999999", owner},
		{"not a job id", "/api/jobs/export", owner},
		{"a negative id", "/api/jobs/-1", owner},
	} {
		res := app.As(userID, tc.account).Get(t, tc.path)
		require.Equal(t, http.StatusNotFound, res.Status, "%s: %s", tc.name, res)
		require.Equal(t, "not_found", res.ErrorCode(), tc.name)
	}
	res = caller.Post(t, "/api/enqueue_platform_job", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	var platform struct {
		JobID int64 `json:"job_id"`
	}
	res.JSON(t, &platform)
	res = caller.Get(t, "/api/jobs/"+strconv.FormatInt(platform.JobID, 10))
	require.Equal(t, http.StatusNotFound, res.Status, "a job enqueued for no account is nobody's: %s", res)
}

func TestRegistrationErrors(t *testing.T) {
	t.Parallel()
	app, err := appbackend.New(appbackend.Config{
		Database: "sqlite:" + filepath.Join(t.TempDir(), "reg.db"), AppSecrets: []string{secretA},
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	noop := func(context.Context, appbackend.Run) error { return nil }
	require.NoError(t, app.Every("@hourly", "report", noop))

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"bad spec", app.EveryAccount("every hour", "refresh", noop), `schedule "refresh": invalid schedule spec "every hour"`},
		{"duplicate", app.EveryAccount("@daily", "report", noop), `schedule "report" is already registered`},
		{"reserved name", app.Every("@daily", "appbackend.mine", noop), "reserved"},
		{"duplicate kind", func() error {
			require.NoError(t, appbackend.AddWorker(app, river.WorkFunc(func(context.Context, *appbackend.Job[exportArgs]) error { return nil })))
			return appbackend.AddWorker(app, river.WorkFunc(func(context.Context, *appbackend.Job[exportArgs]) error { return nil }))
		}(), `"test.export" is already registered`},
		{"reserved kind", appbackend.AddWorker(app, river.WorkFunc(func(context.Context, *appbackend.Job[reservedArgs]) error { return nil })), "reserved"},
	} {
		require.ErrorContains(t, tc.err, tc.want, tc.name)
	}

	// Run refuses to start without them rather than run without a schedule.
	err = app.Run(t.Context())
	require.ErrorIs(t, err, appbackend.ErrConfig)
	require.ErrorContains(t, err, `invalid schedule spec "every hour"`)
}

type reservedArgs struct{}

func (reservedArgs) Kind() string { return "appbackend.mine" }

func TestEnqueueBeforeRun(t *testing.T) {
	t.Parallel()
	app, err := appbackend.New(appbackend.Config{Database: "sqlite:" + filepath.Join(t.TempDir(), "e.db"), AppSecrets: []string{secretA}})
	require.NoError(t, err)
	_, err = app.Enqueue(t.Context(), exportArgs{}, nil)
	require.ErrorContains(t, err, "before Run")
}
