package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
)

// `installations` shows the permissions an account has yet to approve, in the table
// and in --json (with the install's id and granted permissions).
func TestInstallationsShowPendingPermissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := "sqlite:" + filepath.Join(t.TempDir(), "cli.db")
	st, err := setup.OpenStore(ctx, db, setup.StoreOptions{})
	require.NoError(t, err)
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	require.NoError(t, store.InTx(ctx, st.DB(), func(tx *sql.Tx) error {
		for _, in := range []store.Installation{
			{AccountID: "acct_pending", Status: store.Installed, InstallID: "appinst_test_1", ApprovalRequired: true,
				PermissionsGranted: []string{"event_read"}, PermissionsPending: []string{"invoice_write", "customer_write"}},
			{AccountID: "acct_plain", Status: store.Installed},
		} {
			in.LastEventCreated, in.LastEventID, in.InstalledAt = at, "evt_"+in.AccountID, at
			if err := st.PutInstallationTx(ctx, tx, in); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, st.Close())
	env := map[string]string{"APPBACKEND_DATABASE": db}

	code, out, errOut := runCmd(t, env, "installations", "--json")
	require.Equal(t, 0, code, errOut)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list, 2)
	require.Equal(t, []any{"invoice_write", "customer_write"}, list[0]["permissions_pending"])
	require.Equal(t, []any{"event_read"}, list[0]["permissions_granted"])
	require.Equal(t, "appinst_test_1", list[0]["install_id"])
	require.Equal(t, true, list[0]["approval_required"])
	require.Equal(t, []any{}, list[1]["permissions_pending"])

	code, out, errOut = runCmd(t, env, "installations")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Contains(t, lines[0], "PENDING PERMISSIONS")
	require.Contains(t, lines[1], "invoice_write,customer_write")
}

// `installations reauthorize ACCOUNT --test` calls Stripe's reauthorize on the
// account with the install id the installation recorded, and stores what Stripe
// answered; bad usage is exit 2, an account that never installed exit 1.
func TestInstallationsReauthorize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := appbackendtest.NewStripeFake(t)
	obj := fake.PutInstall(appbackendtest.AppInstall{Account: "acct_pending", PermissionsPending: []string{"invoice_write"}})
	db := "sqlite:" + filepath.Join(t.TempDir(), "cli.db")
	st, err := setup.OpenStore(ctx, db, setup.StoreOptions{})
	require.NoError(t, err)
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	require.NoError(t, store.InTx(ctx, st.DB(), func(tx *sql.Tx) error {
		return st.PutInstallationTx(ctx, tx, store.Installation{AccountID: "acct_pending", Status: store.Installed,
			InstallID: obj["id"].(string), LastEventCreated: at, LastEventID: "evt_1"})
	}))
	require.NoError(t, st.Close())
	env := map[string]string{"APPBACKEND_DATABASE": db, "STRIPE_TEST_SECRET_KEY": appbackendtest.TestSecretKey, "STRIPE_API_BASE": fake.URL}

	code, out, errOut := runCmd(t, env, "installations", "reauthorize", "acct_pending", "--test")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "reauthorized "+obj["id"].(string)+" on acct_pending (test mode)")
	require.Contains(t, out, "invoice_write")
	reqs := fake.Requests()
	last := reqs[len(reqs)-1]
	require.Equal(t, "/v1/apps/installs/"+obj["id"].(string), last.Path)
	require.Equal(t, "acct_pending", last.Account)

	code, _, errOut = runCmd(t, env, "installations", "--json")
	require.Equal(t, 0, code, errOut)

	code, _, errOut = runCmd(t, env, "installations", "reauthorize", "acct_never", "--test")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "acct_never has not installed the app in test mode")
	code, _, _ = runCmd(t, env, "installations", "reauthorize")
	require.Equal(t, 2, code)
}
