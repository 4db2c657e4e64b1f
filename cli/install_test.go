package cli

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/secretbox"
)

// TestInstallLinkAndRotateKey: install-link drives an OAuth install against a running
// serve (whose Stripe is a fake that knows the code), and rotate-key re-encrypts the
// stored tokens under a new first key.
func TestInstallLinkAndRotateKey(t *testing.T) {
	t.Parallel()
	fake := appbackendtest.NewStripeFake(t)
	dbPath := filepath.Join(t.TempDir(), "app.db")
	oldKey := secretbox.NewKey()
	env := map[string]string{
		"APPBACKEND_DATABASE":       "sqlite:" + dbPath,
		"STRIPE_APP_SECRETS":        "absec_cli_install",
		"STRIPE_TEST_SECRET_KEY":    "sk_test_cli",
		"STRIPE_API_BASE":           fake.URL,
		"STRIPE_APP_ID":             "ca_cli",
		"APPBACKEND_PUBLIC_URL":     "http://127.0.0.1",
		"APPBACKEND_ENCRYPTION_KEY": oldKey,
	}
	s := startServe(t, env)
	code := fake.IssueOAuthCode("acct_cli1", false)
	exit, out, errOut := runCmd(t, env, "install-link", "--url", s.url, "--account", "acct_cli1", "--test", "--oauth", "--code", code)
	require.Equal(t, 0, exit, errOut)
	require.Contains(t, out, "GET /install/callback → 200")
	require.Equal(t, 1, fake.OAuthStats().Exchanges)

	// A second run with the same code is refused, and says so on one line.
	exit, _, errOut = runCmd(t, env, "install-link", "--url", s.url, "--account", "acct_cli2", "--test", "--oauth", "--code", code)
	require.Equal(t, 1, exit)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	// A wrong secret is refused.
	exit, _, _ = runCmd(t, env, "install-link", "--url", s.url, "--account", "acct_cli3", "--test", "--secret", "absec_wrong")
	require.Equal(t, 1, exit)
	require.Equal(t, 0, s.stop())

	sealedBy := func() string {
		db, err := sql.Open("sqlite", dbPath)
		require.NoError(t, err)
		defer db.Close()
		var access string
		require.NoError(t, db.QueryRow(`SELECT access_token FROM appbackend_oauth_tokens WHERE account_id = 'acct_cli1'`).Scan(&access))
		id, ok := secretbox.KeyID(access)
		require.True(t, ok)
		return id
	}
	old, _ := secretbox.Parse(oldKey)
	require.Equal(t, old.PrimaryID(), sealedBy())

	newKey := secretbox.NewKey()
	env["APPBACKEND_ENCRYPTION_KEY"] = newKey + "," + oldKey
	exit, out, errOut = runCmd(t, env, "rotate-key")
	require.Equal(t, 0, exit, errOut)
	require.Contains(t, out, "re-encrypted 1 token row(s)")
	fresh, _ := secretbox.Parse(newKey)
	require.Equal(t, fresh.PrimaryID(), sealedBy())

	env["APPBACKEND_ENCRYPTION_KEY"] = ""
	exit, _, errOut = runCmd(t, env, "rotate-key")
	require.Equal(t, 2, exit, errOut)
}
