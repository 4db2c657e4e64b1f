package appbackend_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/stripeclient"
	"github.com/appbackend/appbackend/stripeclient/stripetest"
)

// exportArgs is the app's long job in these tests.
type exportArgs struct {
	Format string `json:"format"`
}

func (exportArgs) Kind() string { return "test.export" }

type jobsBundle struct {
	app     *appbackend.App
	baseURL string
}

// startJobsApp runs an App with a test key on a fake Stripe, after register added its
// routes, workers and schedules.
func startJobsApp(t *testing.T, register func(app *appbackend.App)) *jobsBundle {
	t.Helper()
	fake := stripetest.NewFake(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ready := make(chan struct{})
	app, err := appbackend.New(appbackend.Config{
		Database:      "sqlite:" + filepath.Join(t.TempDir(), "jobs.db"),
		AppSecrets:    []string{secretA},
		TestSecretKey: "sk_test_jobs",
		APIBase:       fake.URL,
		Listener:      ln,
		Logger:        slog.New(slog.DiscardHandler),
		Ready:         func(net.Addr) { close(ready) },
	})
	require.NoError(t, err)
	register(app)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return &jobsBundle{app: app, baseURL: "http://" + ln.Addr().String()}
}

// call sends a request signed for account, over the default payload: in the body for
// a POST, in the query string for a GET.
func (b *jobsBundle) call(t *testing.T, method, path, account string) (int, map[string]any) {
	t.Helper()
	header, body, err := appauth.Sign([]string{secretA}, time.Now(), userID, account, nil)
	require.NoError(t, err)
	var rd io.Reader
	if method == http.MethodGet {
		path += "?" + url.Values{"user_id": {userID}, "account_id": {account}}.Encode()
	} else {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequest(method, b.baseURL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", header)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out
}

func TestJobStatusIsTheCallersOnly(t *testing.T) {
	t.Parallel()
	const owner, stranger = "acct_1Owner", "acct_2Stranger"
	var platformJob int64
	b := startJobsApp(t, func(app *appbackend.App) {
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
			platformJob = res.Job.ID
			_, _ = w.Write([]byte(`{}`))
		})
	})

	status, out := b.call(t, http.MethodPost, "/api/export", owner)
	require.Equal(t, http.StatusOK, status, out)
	id := strconv.FormatInt(int64(out["job_id"].(float64)), 10)

	var job map[string]any
	require.Eventually(t, func() bool {
		status, job = b.call(t, http.MethodGet, "/api/jobs/"+id, owner)
		return status == http.StatusOK && job["state"] == "completed"
	}, 20*time.Second, 50*time.Millisecond, "job %s never completed: %v", id, job)
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
		status, out := b.call(t, http.MethodGet, tc.path, tc.account)
		require.Equal(t, http.StatusNotFound, status, "%s: %v", tc.name, out)
		require.Equal(t, "not_found", out["error"].(map[string]any)["code"], tc.name)
	}
	status, _ = b.call(t, http.MethodPost, "/api/enqueue_platform_job", owner)
	require.Equal(t, http.StatusOK, status)
	status, _ = b.call(t, http.MethodGet, "/api/jobs/"+strconv.FormatInt(platformJob, 10), owner)
	require.Equal(t, http.StatusNotFound, status, "a job enqueued for no account is nobody's")
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
