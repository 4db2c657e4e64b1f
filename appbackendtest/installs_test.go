package appbackendtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/stripeclient"
)

// The fake's GET /v1/apps/installs pages as Stripe's lists do, and stripeclient's
// raw-request listing follows the pages to the end, with the Installs API version.
func TestFakeListsInstallsInPages(t *testing.T) {
	fake := appbackendtest.NewStripeFake(t)
	for i := range 250 {
		fake.PutInstall(appbackendtest.AppInstall{Account: fmt.Sprintf("acct_%03d", i)})
	}
	fake.PutInstall(appbackendtest.AppInstall{Account: "acct_other_app", App: "app_other"})
	fake.PutInstall(appbackendtest.AppInstall{Account: "acct_live", Livemode: true})
	clients, err := stripeclient.New(stripeclient.Config{Keys: stripeclient.Keys{Test: appbackendtest.TestSecretKey}, APIBase: fake.URL})
	require.NoError(t, err)

	seen := map[string]bool{}
	for in, err := range clients.ListInstalls(context.Background(), stripeclient.Test, stripeclient.InstallListParams{App: appbackendtest.FakeAppID}) {
		require.NoError(t, err)
		require.Equal(t, "apps.install", in.Object)
		require.Equal(t, "installed", in.Status)
		require.False(t, in.Livemode)
		require.False(t, seen[in.Account], "listed twice: %s", in.Account)
		seen[in.Account] = true
	}
	require.Len(t, seen, 250)
	pages := 0
	for _, r := range fake.Requests() {
		if r.Path == "/v1/apps/installs" {
			pages++
			require.Equal(t, stripeclient.InstallsAPIVersion, r.Header.Get("Stripe-Version"))
			require.Empty(t, r.Account)
			require.Equal(t, appbackendtest.FakeAppID, r.Query.Get("app"))
		}
	}
	require.Equal(t, 3, pages)

	// The raw shape: a list with url and has_more; without app the platform's key sees
	// the installs on its own account (none).
	status, page := stripeGet(t, fake, url.Values{"app": {appbackendtest.FakeAppID}, "limit": {"2"}})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "list", page["object"])
	require.Equal(t, "/v1/apps/installs", page["url"])
	require.Equal(t, true, page["has_more"])
	first := page["data"].([]any)[0].(map[string]any)
	for _, field := range []string{"id", "object", "account", "app", "approval_required", "auth_code", "channel",
		"content_security_policy_granted", "content_security_policy_pending", "created", "created_by",
		"endpoints_granted", "endpoints_pending", "livemode", "permissions_granted", "permissions_pending", "status"} {
		require.Contains(t, first, field)
	}
	_, page = stripeGet(t, fake, nil)
	require.Empty(t, page["data"])

	// Retrieve, reauthorize and uninstall (the last two on the installing account).
	id := first["id"].(string)
	got, err := clients.RetrieveInstall(context.Background(), stripeclient.Test, id)
	require.NoError(t, err)
	require.Equal(t, id, got.ID)
	sc, err := clients.Client(got.Account, stripeclient.Test)
	require.NoError(t, err)
	_, err = sc.ReauthorizeInstall(context.Background(), id)
	require.NoError(t, err)
	gone, err := sc.UninstallInstall(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, "uninstalling", gone.Status)
	other, err := clients.Client("acct_other_app", stripeclient.Test)
	require.NoError(t, err)
	_, err = other.UninstallInstall(context.Background(), id)
	require.True(t, stripeclient.IsNotFound(err), "another account's install: %v", err)
	_, err = clients.RetrieveInstall(context.Background(), stripeclient.Test, "cus_1")
	require.ErrorContains(t, err, "not an app install id")
}

func stripeGet(t *testing.T, fake *appbackendtest.StripeFake, q url.Values) (int, map[string]any) {
	t.Helper()
	return stripeCall(t, fake, appbackendtest.TestSecretKey, "", http.MethodGet, "/v1/apps/installs", q)
}
