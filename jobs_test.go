package appbackend_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
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
		appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[exportArgs]) error {
			account, mode, _ := stripeclient.AccountFrom(ctx)
			jobID, _ := stripeclient.JobFrom(ctx)
			if job.Attempt == 1 {
				return errors.New("the export service is busy") // retried
			}
			return river.RecordOutput(ctx, map[string]any{"format": job.Args.Format, "account": account, "mode": mode, "bound_job": jobID == job.ID})
		}))
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

// TestRegistrationMistakesPanicAtRegistration: every registration method fails the
// same way, as http.ServeMux does, where the mistake is made, with a message that
// names the method and the mistake.
func TestRegistrationMistakesPanicAtRegistration(t *testing.T) {
	t.Parallel()
	app, err := appbackend.New(appbackend.Config{
		Database: "sqlite:" + filepath.Join(t.TempDir(), "reg.db"), AppSecrets: []string{secretA},
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	noop := func(context.Context, appbackend.Run) error { return nil }
	noWork := river.WorkFunc(func(context.Context, *appbackend.Job[exportArgs]) error { return nil })
	app.Every("@hourly", "report", noop)
	appbackend.AddWorker(app, noWork)

	for _, tc := range []struct {
		name     string
		register func()
		want     string
	}{
		{"bad spec", func() { app.EveryAccount("every hour", "refresh", noop) },
			`appbackend: EveryAccount: schedule "refresh": invalid schedule spec "every hour"`},
		{"duplicate schedule", func() { app.EveryAccount("@daily", "report", noop) },
			`appbackend: EveryAccount: duplicate schedule name: schedule "report" is already registered`},
		{"reserved schedule name", func() { app.Every("@daily", "appbackend.mine", noop) }, "reserved"},
		{"nil schedule handler", func() { app.Every("@daily", "nightly", nil) },
			`appbackend: Every: schedule "nightly": no handler`},
		{"duplicate kind", func() { appbackend.AddWorker(app, noWork) },
			`appbackend: AddWorker: a worker for job kind "test.export" is already registered`},
		{"reserved kind", func() {
			appbackend.AddWorker(app, river.WorkFunc(func(context.Context, *appbackend.Job[reservedArgs]) error { return nil }))
		}, `appbackend: AddWorker: job kind "appbackend.mine": the "appbackend." prefix is reserved for appbackend's own jobs`},
		{"nil worker", func() { appbackend.AddWorker[exportArgs](app, nil) },
			`appbackend: AddWorker for "test.export": nil worker`},
		{"empty event pattern", func() { app.OnEvent("", func(context.Context, appbackend.Event) error { return nil }) },
			`appbackend: OnEvent: empty event pattern (use "*" for every event)`},
		{"event pattern matching nothing", func() { app.OnEvent("*.paid", func(context.Context, appbackend.Event) error { return nil }) },
			`appbackend: OnEvent: event pattern "*.paid": "*" may only end it ("customer.*")`},
		{"nil event handler", func() { app.OnEvent("invoice.paid", nil) }, `appbackend: OnEvent("invoice.paid"): nil handler`},
		{"nil install hook", func() { app.OnInstall(nil) }, "appbackend: OnInstall: nil hook"},
		{"nil uninstall hook", func() { app.OnUninstall(nil) }, "appbackend: OnUninstall: nil hook"},
		{"nil cleanup hook", func() { app.OnCleanup(nil) }, "appbackend: OnCleanup: nil hook"},
		{"nil reauthorization hook", func() { app.OnReauthorizationRequired(nil) }, "appbackend: OnReauthorizationRequired: nil hook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			func() {
				defer func() { got = recover() }()
				tc.register()
			}()
			require.NotNil(t, got, "the mistake did not panic")
			require.Contains(t, got, tc.want)
		})
	}
}

// TestRegistrationAfterRunPanics: once Run read the registries, a late registration
// would go unseen; every method refuses it the same way.
func TestRegistrationAfterRunPanics(t *testing.T) {
	t.Parallel()
	app := appbackendtest.Start(t, nil)
	noop := func(context.Context, appbackend.Run) error { return nil }
	for method, register := range map[string]func(){
		"OnEvent":     func() { app.OnEvent("*", func(context.Context, appbackend.Event) error { return nil }) },
		"OnInstall":   func() { app.OnInstall(func(context.Context, appbackend.Installation) error { return nil }) },
		"OnUninstall": func() { app.OnUninstall(func(context.Context, appbackend.Installation) error { return nil }) },
		"OnCleanup":   func() { app.OnCleanup(func(context.Context, string, bool) error { return nil }) },
		"OnReauthorizationRequired": func() {
			app.OnReauthorizationRequired(func(context.Context, appbackend.Installation) error { return nil })
		},
		"AddWorker": func() {
			appbackend.AddWorker(app.App, river.WorkFunc(func(context.Context, *appbackend.Job[exportArgs]) error { return nil }))
		},
		"Every":        func() { app.Every("@hourly", "late", noop) },
		"EveryAccount": func() { app.EveryAccount("@hourly", "late", noop) },
		"Handle":       func() { app.HandleFunc("GET /api/late", func(http.ResponseWriter, *http.Request) {}) },
	} {
		require.PanicsWithValue(t, "appbackend: "+method+" called after Run", register, method)
	}
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

// TestInstallHooksRunInRegistrationOrder: the app's install and uninstall hooks run in
// the order they were registered, each once per change, in the event's transaction,
// beside appbackend's own hooks (the schedules' runs after them).
func TestInstallHooksRunInRegistrationOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls []string
	record := func(name string) appbackend.InstallHook {
		return func(ctx context.Context, in appbackend.Installation) error {
			_, ok := appbackend.Tx(ctx)
			require.True(t, ok, "%s runs in the event's transaction", name)
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, fmt.Sprintf("%s %s %s", name, in.Status, in.AccountID))
			return nil
		}
	}
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnInstall(record("first"))
		app.OnUninstall(record("first"))
		app.OnInstall(record("second"))
		app.OnUninstall(record("second"))
		app.EveryAccount("@hourly", "order.refresh", func(context.Context, appbackend.Run) error { return nil })
	})
	app.Install(t, "acct_order", false)
	app.Uninstall(t, "acct_order", false)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{
		"first installed acct_order", "second installed acct_order",
		"first uninstalled acct_order", "second uninstalled acct_order",
	}, calls)
}
