package appbackend_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/secretbox"
)

// TestWrongEncryptionKeySaysSo: a server started with another APPBACKEND_ENCRYPTION_KEY
// than the one that sealed an account's OAuth tokens cannot call Stripe for it. The
// answer says that (503 naming the variable), not "could not reach the Stripe API"
// (502 stripe_error), which sent operators looking at the network.
func TestWrongEncryptionKeySaysSo(t *testing.T) {
	t.Parallel()
	b := setupInstall(t, func(cfg *appbackend.Config) { cfg.InstallReturnURL = "" })
	b.app.InstallLink(t, "acct_sealed1", true)
	require.Equal(t, http.StatusOK, b.app.As("usr_1", "acct_sealed1").Post(t, "/api/balance", nil).Status)

	// A second server on the same database, with another key.
	other := setupInstall(t, func(cfg *appbackend.Config) {
		cfg.InstallReturnURL = ""
		cfg.Database = b.app.Database
		cfg.APIBase = b.app.Fake.URL
		cfg.EncryptionKeys = []string{secretbox.NewKey()}
	})
	res := other.app.As("usr_1", "acct_sealed1").Post(t, "/api/balance", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.Status, res)
	require.Equal(t, "unavailable", res.ErrorCode(), res)
	require.Contains(t, res.String(), "APPBACKEND_ENCRYPTION_KEY does not hold the key they were sealed with")
	require.Contains(t, res.String(), "acct_sealed1")
	require.NotContains(t, res.String(), "could not reach")
}
