package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
)

const user = "usr_quick"

// start runs the quickstart's routes, jobs and schedules on appbackendtest, with the
// quickstart's own settings in env.
func start(t *testing.T, env map[string]string, opts ...appbackendtest.Option) *appbackendtest.App {
	t.Helper()
	return appbackendtest.Start(t, func(app *appbackend.App) { register(app, func(k string) string { return env[k] }) }, opts...)
}

func TestSecretStuff(t *testing.T) {
	t.Parallel()
	app := start(t, nil)
	caller := app.As(user, "acct_1JSkf6FRwUQjTSJE")

	res := caller.Post(t, "/api/do_secret_stuff", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	require.JSONEq(t, `{"success":true}`, string(res.Body))

	res = caller.Post(t, "/api/do_more_secret_stuff", `{"transaction_id":"ipi_1KRmFUFRwUQjTSJEjRnCCPyV","amount":100,"livemode":false}`)
	require.Equal(t, http.StatusOK, res.Status, res)
	require.JSONEq(t, `{"success":true}`, string(res.Body))
}

func TestDataCreatesCustomerOnTheCallersAccount(t *testing.T) {
	t.Parallel()
	const liveKey = "sk_live_quickstartlive"
	app := start(t, nil, appbackendtest.WithConfig(func(cfg *appbackend.Config) { cfg.SecretKey = liveKey }))

	res := app.As(user, "acct_merchantA").WithLivemode(false).Post(t, "/api/data", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	require.JSONEq(t, `{"data":[]}`, string(res.Body))
	res = app.As(user, "acct_merchantB").WithLivemode(true).Post(t, "/api/data", nil)
	require.Equal(t, http.StatusOK, res.Status, res)

	var creates []appbackendtest.StripeRequest
	for _, r := range app.Fake.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/customers" {
			creates = append(creates, r)
		}
	}
	require.Len(t, creates, 2)
	require.Equal(t, "acct_merchantA", creates[0].Account)
	require.Equal(t, appbackendtest.TestSecretKey, creates[0].Key(), "signed livemode false uses the test key")
	require.Equal(t, "acct_merchantB", creates[1].Account)
	require.Equal(t, liveKey, creates[1].Key())
	require.NotEmpty(t, creates[0].IdempotencyKey, "writes carry an idempotency key")
	customers := app.Fake.List("acct_merchantA", false, "customers")
	require.Len(t, customers, 1, "the customer exists on the caller's account, in test mode")
	require.Equal(t, "My First Test Customer (created for API docs)", customers[0]["description"])
	require.Len(t, app.Fake.List("acct_merchantB", true, "customers"), 1)

	// Two keys, no signed livemode, not installed: the app must say which mode.
	res = app.As(user, "acct_merchantC").Post(t, "/api/data", nil)
	require.Equal(t, http.StatusBadRequest, res.Status, res)
	require.Equal(t, "mode_required", res.ErrorCode())
}

func TestDataWithoutKeyIsAClearError(t *testing.T) {
	t.Parallel()
	app := start(t, nil, appbackendtest.WithConfig(func(cfg *appbackend.Config) { cfg.TestSecretKey = "" }))
	res := app.As(user, "acct_nokey").Post(t, "/api/data", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.Status, res)
	var out struct {
		Error struct{ Message string } `json:"error"`
	}
	res.JSON(t, &out)
	require.Contains(t, out.Error.Message, "STRIPE_")
}

func TestDataAgainstStripeMock(t *testing.T) {
	t.Parallel()
	app := start(t, nil, appbackendtest.WithStripeMock())
	res := app.As(user, "acct_1JSkf6FRwUQjTSJE").Post(t, "/api/data", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	require.JSONEq(t, `{"data":[]}`, string(res.Body))
}

func TestInvalidRefreshSpecStopsTheStart(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STRIPE_APP_SECRETS":       appbackendtest.AppSecret,
		"APPBACKEND_DATABASE":      "sqlite:" + t.TempDir() + "/qs.db",
		"QUICKSTART_REFRESH_EVERY": "every hour",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, func(k string) string { return env[k] })
	require.ErrorIs(t, err, appbackend.ErrConfig)
	require.ErrorContains(t, err, `schedule "quickstart.refresh": invalid schedule spec "every hour"`)
}
