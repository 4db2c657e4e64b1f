package oauth_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/store"
)

// TestRestrictedKeyStorage: a restricted key is stored sealed per account and mode,
// read back, marked reauthorization_required once when the stored key is the one Stripe
// refused (not when a newer one was pasted), re-encrypted by RotateKeys, counted by
// CheckKeys and deleted with the account's tokens, on both databases.
func TestRestrictedKeyStorage(t *testing.T) {
	t.Parallel()
	for _, database := range databases(t) {
		t.Run(database, func(t *testing.T) {
			t.Parallel()
			b := setup(t, database, 2)
			m, other := b.replicas[0], b.replicas[1]
			db := b.stores[0].DB()
			ctx := t.Context()
			save := func(key string) {
				require.NoError(t, store.InTx(ctx, db, func(tx *sql.Tx) error {
					return m.SaveRestrictedKeyTx(ctx, tx, "acct_rk", false, "usr_1", key)
				}))
			}
			const first, second = "rk_test_51FirstKeyxxxxxxxxxxxxxxxx1111", "rk_test_51SecondKeyxxxxxxxxxxxxxxx2222"

			kind, err := m.AuthKind(ctx, "acct_rk", false)
			require.NoError(t, err)
			require.Empty(t, kind)
			save(first)
			kind, err = other.AuthKind(ctx, "acct_rk", false)
			require.NoError(t, err)
			require.Equal(t, oauth.AuthRestrictedKey, kind)
			kind, err = m.AuthKind(ctx, "acct_rk", true)
			require.NoError(t, err)
			require.Empty(t, kind, "per mode")

			var sealed string
			require.NoError(t, db.QueryRowContext(ctx, `SELECT api_key FROM appbackend_restricted_keys`).Scan(&sealed))
			require.NotContains(t, sealed, strings.TrimPrefix(first, "rk_test_"))
			key, err := other.RestrictedAPIKey(ctx, "acct_rk", false, "")
			require.NoError(t, err)
			require.Equal(t, first, key)

			// The merchant pasted a new key while a call with the old one got its 401:
			// the new one is handed out, nothing is marked.
			save(second)
			key, err = other.RestrictedAPIKey(ctx, "acct_rk", false, first)
			require.NoError(t, err)
			require.Equal(t, second, key)
			require.Zero(t, b.reauth.Load())

			_, err = other.RestrictedAPIKey(ctx, "acct_rk", false, second)
			require.ErrorIs(t, err, oauth.ErrRestrictedKeyRejected)
			_, err = m.RestrictedAPIKey(ctx, "acct_rk", false, second)
			require.ErrorIs(t, err, oauth.ErrRestrictedKeyRejected)
			_, err = m.RestrictedAPIKey(ctx, "acct_rk", false, "")
			require.ErrorIs(t, err, oauth.ErrRestrictedKeyRejected, "no call with a refused key")
			require.EqualValues(t, 1, b.reauth.Load(), "the hook ran once")
			st, err := m.RestrictedKeyStatus(ctx, "acct_rk", false)
			require.NoError(t, err)
			require.Equal(t, oauth.StatusReauthorizationRequired, st.Status)
			require.Equal(t, "2222", st.Last4)
			require.Empty(t, st.Key, "the status carries no key")
			save(second)
			st, _ = m.RestrictedKeyStatus(ctx, "acct_rk", false)
			require.Equal(t, oauth.StatusActive, st.Status)

			// Rotation: a new key first re-seals the restricted key; the old one can go.
			newKey := secretbox.NewKey()
			ring, err := secretbox.Parse(newKey + "," + b.key)
			require.NoError(t, err)
			rotator := oauth.New(oauth.Config{DB: db, Postgres: database == "postgres", Keys: ring})
			n, err := rotator.RotateKeys(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			onlyNew, err := secretbox.Parse(newKey)
			require.NoError(t, err)
			after := oauth.New(oauth.Config{DB: db, Postgres: database == "postgres", Keys: onlyNew})
			key, err = after.RestrictedAPIKey(ctx, "acct_rk", false, "")
			require.NoError(t, err)
			require.Equal(t, second, key)
			check, err := m.CheckKeys(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, check.Tokens)
			require.Equal(t, 1, check.Unopened, "the old key alone no longer opens it")
			require.Equal(t, []string{"acct_rk (test, restricted key)"}, check.Accounts)

			require.NoError(t, store.InTx(ctx, db, func(tx *sql.Tx) error { return m.DeleteTx(ctx, tx, "acct_rk", false) }))
			_, err = m.RestrictedKeyStatus(ctx, "acct_rk", false)
			require.ErrorIs(t, err, oauth.ErrNoRestrictedKey)
		})
	}
}
