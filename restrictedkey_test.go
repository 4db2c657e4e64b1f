package appbackend_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/secretbox"
)

type rkBundle struct {
	app    *appbackendtest.App
	logs   *syncBuffer
	reauth atomic.Int32
}

// setupRestrictedKeys starts an app with a route that calls Stripe(ctx), its logs kept.
func setupRestrictedKeys(t *testing.T, opts ...func(*appbackend.Config)) *rkBundle {
	t.Helper()
	b := &rkBundle{logs: &syncBuffer{}}
	key := secretbox.NewKey()
	b.app = appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnReauthorizationRequired(func(ctx context.Context, in appbackend.Installation) error {
			b.reauth.Add(1)
			return nil
		})
		app.HandleFunc("POST /api/balance", func(w http.ResponseWriter, r *http.Request) {
			sc, err := app.Stripe(r.Context())
			if err == nil {
				_, err = sc.V1Balance.Retrieve(r.Context(), &stripe.BalanceRetrieveParams{})
			}
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			appbackend.WriteJSON(w, http.StatusOK, map[string]any{})
		})
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.EncryptionKeys = []string{key}
		cfg.Logger = slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		for _, o := range opts {
			o(cfg)
		}
	}))
	return b
}

func (b *rkBundle) paste(t *testing.T, account string, livemode bool, key string) *appbackendtest.Response {
	t.Helper()
	return b.app.As("usr_rk", account).WithLivemode(livemode).Post(t, appbackend.RestrictedKeyRoute, map[string]any{"restricted_key": key})
}

type rkStatus struct {
	AccountID     string `json:"account_id"`
	Livemode      bool   `json:"livemode"`
	RestrictedKey *struct {
		Last4  string `json:"last4"`
		Status string `json:"status"`
	} `json:"restricted_key"`
}

func (b *rkBundle) status(t *testing.T, account string, livemode bool) rkStatus {
	t.Helper()
	res := b.app.As("usr_rk", account).WithLivemode(livemode).Get(t, appbackend.RestrictedKeyRoute)
	require.Equal(t, http.StatusOK, res.Status, res)
	var s rkStatus
	res.JSON(t, &s)
	return s
}

// TestRestrictedKeyCallsWithTheKey: a key Stripe confirms for the signed account and mode
// is stored, and Stripe(ctx) then calls with it and no Stripe-Account, without any
// platform key; the answers and the logs show at most its last 4 characters.
func TestRestrictedKeyCallsWithTheKey(t *testing.T) {
	t.Parallel()
	b := setupRestrictedKeys(t, func(cfg *appbackend.Config) { cfg.TestSecretKey = "" })
	a := b.app
	key := a.Fake.IssueRestrictedKey("acct_rk1", false)

	require.Nil(t, b.status(t, "acct_rk1", false).RestrictedKey)
	res := b.paste(t, "acct_rk1", false, key)
	require.Equal(t, http.StatusOK, res.Status, res)
	require.NotContains(t, res.String(), key)
	var saved rkStatus
	res.JSON(t, &saved)
	require.Equal(t, "acct_rk1", saved.AccountID)
	require.False(t, saved.Livemode)
	require.Equal(t, key[len(key)-4:], saved.RestrictedKey.Last4)
	require.Equal(t, "active", saved.RestrictedKey.Status)
	check := lastRequest(t, a.Fake, "/v1/account")
	require.Equal(t, "Bearer "+key, check.Authorization, "checked with the key itself")
	require.Empty(t, check.Account)

	res = a.As("usr_rk", "acct_rk1").WithLivemode(false).Post(t, "/api/balance", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	last := lastRequest(t, a.Fake, "/v1/balance")
	require.Equal(t, "Bearer "+key, last.Authorization)
	require.Empty(t, last.Account, "no Stripe-Account with the account's own key")
	require.Equal(t, key[len(key)-4:], b.status(t, "acct_rk1", false).RestrictedKey.Last4)

	// The live mode has no key: nothing falls back to the test one.
	res = a.As("usr_rk", "acct_rk1").WithLivemode(true).Post(t, "/api/balance", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.Status, res)
	require.NotContains(t, b.logs.String(), key, "the key is never logged")

	var rows int
	require.NoError(t, a.App.DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM appbackend_restricted_keys WHERE api_key LIKE '%`+key[8:]+`%'`).Scan(&rows))
	require.Zero(t, rows, "the key is stored sealed")
}

// TestRestrictedKeyRefusals: what is not the signed account's key of the signed mode is
// a clear 400 that does not echo the key, and nothing is stored.
func TestRestrictedKeyRefusals(t *testing.T) {
	t.Parallel()
	b := setupRestrictedKeys(t)
	a := b.app
	other := a.Fake.IssueRestrictedKey("acct_someone_else", false)
	live := a.Fake.IssueRestrictedKey("acct_rk2", true)
	revoked := a.Fake.IssueRestrictedKey("acct_rk2", false)
	a.Fake.RevokeRestrictedKey(revoked)
	for _, c := range []struct {
		name, key, want string
	}{
		{"a live secret key", "sk_live_51SecretKeyOfTheMerchantxxxxxxxx", "secret key (sk_"},
		{"a publishable key", "pk_test_51Publishablexxxxxxxxxxxxxxxx", "publishable key"},
		{"not a key", "hello there", "does not look like a restricted key"},
		{"another account's key", other, "another Stripe account"},
		{"a key of the other mode", live, "live-mode key"},
		{"a key Stripe rejects", revoked, "Stripe rejected this restricted key"},
		{"a key Stripe never issued", "rk_test_51NeverIssuedxxxxxxxxxxxxxxxxx", "Stripe rejected this restricted key"},
		{"an empty key", "", "restricted_key is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := b.paste(t, "acct_rk2", false, c.key)
			require.Equal(t, http.StatusBadRequest, res.Status, res)
			require.Equal(t, "bad_request", res.ErrorCode(), res)
			require.Contains(t, res.String(), c.want)
			if c.key != "" {
				require.NotContains(t, res.String(), c.key)
				require.NotContains(t, b.logs.String(), c.key)
			}
			require.Nil(t, b.status(t, "acct_rk2", false).RestrictedKey, "nothing stored")
		})
	}
	t.Run("a key outside the signed payload", func(t *testing.T) {
		key := a.Fake.IssueRestrictedKey("acct_rk2", false)
		res := a.As("usr_rk", "acct_rk2").Post(t, appbackend.RestrictedKeyRoute, nil)
		require.Equal(t, http.StatusBadRequest, res.Status, res)
		require.Contains(t, res.String(), "signed payload")
		require.NotContains(t, res.String(), key)
		require.Nil(t, b.status(t, "acct_rk2", false).RestrictedKey)
	})
	t.Run("a key without permission to read the account", func(t *testing.T) {
		key := a.Fake.IssueRestrictedKey("acct_rk3", false)
		a.Fake.DenyAccountRead(key)
		res := b.paste(t, "acct_rk3", false, key)
		require.Equal(t, http.StatusOK, res.Status, res)
		wrong := a.Fake.IssueRestrictedKey("acct_someone_else", false)
		a.Fake.DenyAccountRead(wrong)
		res = b.paste(t, "acct_rk4", false, wrong)
		require.Equal(t, http.StatusBadRequest, res.Status, res)
		require.Contains(t, res.String(), "another Stripe account")
	})
}

// TestRestrictedKeyRejectedLater: a stored key Stripe refuses (401) marks the
// installation reauthorization_required and runs the hook once, as a refused OAuth
// refresh does; a new key restores it.
func TestRestrictedKeyRejectedLater(t *testing.T) {
	t.Parallel()
	b := setupRestrictedKeys(t)
	a := b.app
	a.Install(t, "acct_rk5", false)
	key := a.Fake.IssueRestrictedKey("acct_rk5", false)
	require.Equal(t, http.StatusOK, b.paste(t, "acct_rk5", false, key).Status)
	a.Fake.RevokeRestrictedKey(key)

	call := func() *appbackendtest.Response {
		return a.As("usr_rk", "acct_rk5").WithLivemode(false).Post(t, "/api/balance", nil)
	}
	res := call()
	require.Equal(t, http.StatusForbidden, res.Status, res)
	require.Contains(t, res.String(), "reauthorization_required")
	require.NotContains(t, res.String(), key)
	in, ok := a.Installation(t, "acct_rk5", false)
	require.True(t, ok)
	require.EqualValues(t, "reauthorization_required", in.Status)
	require.EqualValues(t, 1, b.reauth.Load())
	require.Equal(t, "reauthorization_required", b.status(t, "acct_rk5", false).RestrictedKey.Status)

	// No more calls reach Stripe with the refused key, and the hook ran once.
	before := len(a.Fake.Requests())
	require.Equal(t, http.StatusForbidden, call().Status)
	require.Len(t, a.Fake.Requests(), before)
	require.EqualValues(t, 1, b.reauth.Load())

	fresh := a.Fake.IssueRestrictedKey("acct_rk5", false)
	require.Equal(t, http.StatusOK, b.paste(t, "acct_rk5", false, fresh).Status)
	in, _ = a.Installation(t, "acct_rk5", false)
	require.EqualValues(t, "installed", in.Status)
	require.Equal(t, http.StatusOK, call().Status)
	require.Equal(t, "Bearer "+fresh, lastRequest(t, a.Fake, "/v1/balance").Authorization)
	require.NotContains(t, b.logs.String(), key)
	require.NotContains(t, b.logs.String(), fresh)

	// An uninstall forgets the key: the platform key and Stripe-Account again.
	a.Uninstall(t, "acct_rk5", false)
	a.Install(t, "acct_rk5", false)
	require.Nil(t, b.status(t, "acct_rk5", false).RestrictedKey)
	require.Equal(t, http.StatusOK, call().Status)
	last := lastRequest(t, a.Fake, "/v1/balance")
	require.Equal(t, "Bearer "+appbackendtest.TestSecretKey, last.Authorization)
	require.Equal(t, "acct_rk5", last.Account)
	require.False(t, strings.Contains(b.logs.String(), fresh))
}
