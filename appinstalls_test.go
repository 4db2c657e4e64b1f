package appbackend_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/stripeclient"
)

// onEachDatabase runs fn on SQLite and on PostgreSQL (the kit's throwaway server, or
// APPBACKEND_TEST_POSTGRES_URL's).
func onEachDatabase(t *testing.T, fn func(t *testing.T)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Setenv(appbackendtest.EnvDatabase, kind)
			fn(t)
		})
	}
}

// hookCounts counts the lifecycle hooks per account.
type hookCounts struct {
	mu                            sync.Mutex
	installs, uninstalls, cleanup map[string]int
}

func (h *hookCounts) add(m map[string]int, account string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m[account]++
}

func (h *hookCounts) snapshot() (installs, uninstalls, cleanup map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := map[string]int{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(h.installs), cp(h.uninstalls), cp(h.cleanup)
}

func startCounting(t *testing.T, opts ...func(*appbackend.Config)) (*appbackendtest.App, *hookCounts) {
	t.Helper()
	h := &hookCounts{installs: map[string]int{}, uninstalls: map[string]int{}, cleanup: map[string]int{}}
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnInstall(func(ctx context.Context, in appbackend.Installation) error {
			h.add(h.installs, in.AccountID)
			return nil
		})
		app.OnUninstall(func(ctx context.Context, in appbackend.Installation) error {
			h.add(h.uninstalls, in.AccountID)
			return nil
		})
		app.OnCleanup(func(ctx context.Context, account string, livemode bool) error {
			h.add(h.cleanup, account)
			return nil
		})
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.AppID = appbackendtest.FakeAppID
		cfg.EncryptionKeys = []string{secretbox.NewKey()}
		// The built-in schedule runs on the multiples of its interval: a day keeps
		// its slot away from the test, which runs the reconciliation itself.
		cfg.InstallReconcileInterval = 24 * time.Hour
		for _, o := range opts {
			o(cfg)
		}
	}))
	// The start-up reconciliation saw an empty fake; wait for it before seeding.
	app.WaitForInstallReconciles(t)
	return app, h
}

func accounts(list []appbackend.Installation) []string {
	var out []string
	for _, in := range list {
		out = append(out, in.AccountID)
	}
	return out
}

// The reconciliation repairs exactly an install whose event never arrived and an
// uninstall whose event never arrived, each running its hooks once; a consistent
// installation is left alone, a second run changes nothing, and the events arriving
// late (older than the repair) run no hook again.
func TestReconcileInstallsRepairsMissedInstallAndUninstall(t *testing.T) {
	onEachDatabase(t, func(t *testing.T) {
		app, hooks := startCounting(t)
		hourAgo := time.Now().Add(-time.Hour)

		// Consistent: installed here and listed.
		app.InstallCreated(t, appbackendtest.AppInstall{Account: "acct_ok", Created: hourAgo})
		// Installed here an hour ago; uninstalled since, the event lost.
		gone := app.InstallCreated(t, appbackendtest.AppInstall{Account: "acct_gone", Created: hourAgo})
		app.Fake.DeleteInstall(false, gone.InstallID)
		// Installed on Stripe, the event lost.
		fresh := app.Fake.PutInstall(appbackendtest.AppInstall{Account: "acct_new",
			PermissionsGranted: []string{"event_read"}, PermissionsPending: []string{"invoice_write"}})

		res := app.ReconcileInstalls(t)
		require.Equal(t, []string{"acct_new"}, accounts(res.Installed))
		require.Equal(t, []string{"acct_gone"}, accounts(res.Uninstalled))
		require.Equal(t, 2, res.Listed)

		installs, uninstalls, cleanup := hooks.snapshot()
		require.Equal(t, map[string]int{"acct_ok": 1, "acct_gone": 1, "acct_new": 1}, installs)
		require.Equal(t, map[string]int{"acct_gone": 1}, uninstalls)
		require.Equal(t, map[string]int{"acct_gone": 1}, cleanup)

		in, ok := app.Installation(t, "acct_new", false)
		require.True(t, ok)
		require.EqualValues(t, "installed", in.Status)
		require.Equal(t, fresh["id"], in.InstallID)
		require.Equal(t, []string{"invoice_write"}, in.PermissionsPending)
		require.True(t, in.ApprovalRequired)
		require.True(t, strings.HasPrefix(in.LastEventID, "ab_reconcile_"), in.LastEventID)
		in, _ = app.Installation(t, "acct_gone", false)
		require.EqualValues(t, "uninstalled", in.Status)

		// Converged: nothing more to do.
		res = app.ReconcileInstalls(t)
		require.Empty(t, res.Installed)
		require.Empty(t, res.Uninstalled)

		// The lost events turn up after all: older than the repairs, they change nothing.
		obj, _ := app.Fake.GetInstall(false, fresh["id"].(string))
		late := app.Deliver(t, appbackendtest.Event{Type: "apps.install.created", Account: "acct_new", Created: hourAgo, Object: obj})
		app.WaitForEvent(t, late)
		late = app.Deliver(t, appbackendtest.Event{Type: "apps.install.deleted", Account: "acct_gone",
			Created: hourAgo.Add(time.Minute), Object: map[string]any{"id": gone.InstallID, "object": "apps.install", "account": "acct_gone", "status": "uninstalled"}})
		app.WaitForEvent(t, late)
		installs2, uninstalls2, cleanup2 := hooks.snapshot()
		require.Equal(t, installs, installs2)
		require.Equal(t, uninstalls, uninstalls2)
		require.Equal(t, cleanup, cleanup2)
	})
}

// account.application.* and apps.install.* events that report the same change, in
// either order, run the hooks once.
func TestInstallEventsAndApplicationEventsRunHooksOnce(t *testing.T) {
	onEachDatabase(t, func(t *testing.T) {
		app, hooks := startCounting(t)
		at := time.Now().Add(-time.Minute).Truncate(time.Second)
		obj := app.Fake.PutInstall(appbackendtest.AppInstall{Account: "acct_1", PermissionsPending: []string{"invoice_write"}})
		deliver := func(typ, account string, created time.Time, object map[string]any) {
			t.Helper()
			app.WaitForEvent(t, app.Deliver(t, appbackendtest.Event{Type: typ, Account: account, Created: created, Object: object}))
		}
		deliver("account.application.authorized", "acct_1", at, nil)
		deliver("apps.install.created", "acct_1", at, obj)
		obj2 := app.Fake.PutInstall(appbackendtest.AppInstall{Account: "acct_2"})
		deliver("apps.install.created", "acct_2", at, obj2)
		deliver("account.application.authorized", "acct_2", at, nil)

		in, _ := app.Installation(t, "acct_1", false)
		require.Equal(t, []string{"invoice_write"}, in.PermissionsPending, "the apps.install event's access is kept")

		gone := map[string]any{"id": obj["id"], "object": "apps.install", "account": "acct_1", "status": "uninstalled"}
		deliver("apps.install.deleted", "acct_1", at.Add(10*time.Second), gone)
		deliver("account.application.deauthorized", "acct_1", at.Add(10*time.Second), nil)
		deliver("account.application.deauthorized", "acct_2", at.Add(10*time.Second), nil)
		gone2 := map[string]any{"id": obj2["id"], "object": "apps.install", "account": "acct_2", "status": "uninstalled"}
		deliver("apps.install.deleted", "acct_2", at.Add(10*time.Second), gone2)

		installs, uninstalls, _ := hooks.snapshot()
		require.Equal(t, map[string]int{"acct_1": 1, "acct_2": 1}, installs)
		require.Equal(t, map[string]int{"acct_1": 1, "acct_2": 1}, uninstalls)
	})
}

// An OAuth app's install carries auth_code: the apps.install.created event trades it
// once, with the token endpoint the install-link callback uses; a redelivery does not.
func TestInstallAuthCodeIsExchangedOnce(t *testing.T) {
	app, _ := startCounting(t)
	in := app.InstallCreated(t, appbackendtest.AppInstall{Account: "acct_oauth", OAuth: true})
	require.Equal(t, 1, app.Fake.OAuthStats().Exchanges)
	obj, _ := app.Fake.GetInstall(false, in.InstallID)
	id := app.Deliver(t, appbackendtest.Event{Type: "apps.install.updated", Account: "acct_oauth", Object: obj})
	app.WaitForEvent(t, id)
	require.Equal(t, 1, app.Fake.OAuthStats().Exchanges)
	require.Zero(t, app.Fake.OAuthStats().ReusedCodes)

	// The tokens are the account's: its calls go with the access token, no Stripe-Account.
	sc, err := app.Stripe(stripeclient.Bind(context.Background(), "acct_oauth", false, 0))
	require.NoError(t, err)
	_, err = sc.V1Balance.Retrieve(context.Background(), nil)
	require.NoError(t, err)
	last := lastRequest(t, app.Fake, "/v1/balance")
	require.Empty(t, last.Account)
	require.NotContains(t, last.Authorization, "sk_test_")
}

// Pending permissions show on the installation; ReauthorizeInstall calls Stripe's
// reauthorize on the account with the Installs API version, and the merchant's
// approval (apps.install.updated) clears them.
func TestReauthorizeInstall(t *testing.T) {
	app, _ := startCounting(t)
	in := app.InstallCreated(t, appbackendtest.AppInstall{Account: "acct_p", PermissionsPending: []string{"invoice_write"}})
	require.Equal(t, []string{"invoice_write"}, in.PermissionsPending)

	got, err := app.ReauthorizeInstall(context.Background(), "acct_p", false)
	require.NoError(t, err)
	require.Equal(t, in.InstallID, got.InstallID)
	last := lastRequest(t, app.Fake, "/v1/apps/installs/"+in.InstallID)
	require.Equal(t, http.MethodPost, last.Method)
	require.Equal(t, "acct_p", last.Account)
	require.Equal(t, stripeclient.InstallsAPIVersion, last.Header.Get("Stripe-Version"))
	require.NotEmpty(t, last.IdempotencyKey)

	_, err = app.ReauthorizeInstall(context.Background(), "acct_never", false)
	require.ErrorContains(t, err, "has not installed the app")

	app.Fake.ApproveInstall(false, in.InstallID)
	in = app.InstallUpdated(t, false, in.InstallID)
	require.Empty(t, in.PermissionsPending)
	require.Equal(t, []string{"event_read", "invoice_write"}, in.PermissionsGranted)
	require.False(t, in.ApprovalRequired)
}
