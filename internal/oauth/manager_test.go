package oauth_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// clock is a stubbable time shared by every replica of a test.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

type testBundle struct {
	fake     *appbackendtest.StripeFake
	clock    *clock
	keys     *secretbox.Keyring
	key      string
	replicas []*oauth.Manager
	stores   []store.Store
	reauth   atomic.Int32
}

// setup opens n replicas (each its own store and pool) on one fresh database.
func setup(t *testing.T, database string, n int) *testBundle {
	t.Helper()
	b := &testBundle{fake: appbackendtest.NewStripeFake(t), clock: &clock{}}
	var err error
	b.key = secretbox.NewKey()
	b.keys, err = secretbox.Parse(b.key)
	require.NoError(t, err)
	var dir, pgURL string
	switch database {
	case "sqlite":
		dir = t.TempDir()
	case "postgres":
		pgURL = pgtest.NewDatabase(t)
	}
	for range n {
		var st store.Store
		if database == "sqlite" {
			st, err = sqlite.Open(t.Context(), filepath.Join(dir, "app.db"))
		} else {
			st, err = postgres.Open(t.Context(), pgURL)
		}
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		b.stores = append(b.stores, st)
		b.replicas = append(b.replicas, oauth.New(oauth.Config{
			DB:       st.DB(),
			Postgres: database == "postgres",
			Keys:     b.keys,
			Endpoint: &oauth.Endpoint{APIBase: b.fake.URL, Key: func(live bool) string {
				if live {
					return "sk_live_platform"
				}
				return "sk_test_platform"
			}},
			Archetype: &baseservice.Archetype{Now: b.clock.Now},
			OnReauthorizationRequired: func(context.Context, *sql.Tx, string, bool) error {
				b.reauth.Add(1)
				return nil
			},
		}))
	}
	return b
}

// install exchanges a fresh code for account and stores the tokens.
func (b *testBundle) install(t *testing.T, account string) oauth.Token {
	t.Helper()
	m := b.replicas[0]
	code := b.fake.IssueOAuthCode(account, false)
	tok, err := (&oauth.Endpoint{APIBase: b.fake.URL, Key: func(bool) string { return "sk_test_platform" }}).Exchange(t.Context(), false, code)
	require.NoError(t, err)
	require.NoError(t, store.InTx(t.Context(), b.stores[0].DB(), func(tx *sql.Tx) error {
		return m.SaveTx(t.Context(), tx, account, false, "usr_1", tok)
	}))
	return tok
}

func databases(t *testing.T) []string {
	dbs := []string{"sqlite"}
	if testing.Short() && os.Getenv(pgtest.EnvURL) == "" {
		return dbs
	}
	return append(dbs, "postgres")
}

// TestRefreshOnceAcrossReplicas: 50 concurrent calls for one merchant, spread over two
// replicas, at the moment the access token expires → exactly one refresh at the
// token endpoint (which rotates refresh tokens and revokes the old one on use), no
// invalid_grant, no revoked refresh token ever presented, and every call gets the
// one new access token.
func TestRefreshOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, database := range databases(t) {
		t.Run(database, func(t *testing.T) {
			t.Parallel()
			b := setup(t, database, 2)
			first := b.install(t, "acct_race")
			b.clock.Advance(time.Hour + time.Second) // the access token has just expired

			const calls = 50
			var wg sync.WaitGroup
			start := make(chan struct{})
			got := make([]string, calls)
			errs := make([]error, calls)
			for i := range calls {
				wg.Go(func() {
					<-start
					got[i], errs[i] = b.replicas[i%2].AccessToken(t.Context(), "acct_race", false, "")
				})
			}
			close(start)
			wg.Wait()
			for i := range calls {
				require.NoError(t, errs[i], "call %d", i)
				require.NotEqual(t, first.AccessToken, got[i], "call %d used the expired token", i)
				require.Equal(t, got[0], got[i], "call %d", i)
			}
			stats := b.fake.OAuthStats()
			require.Equal(t, 1, stats.Refreshes, "refreshes at Stripe")
			require.Zero(t, stats.InvalidGrants)
			require.Zero(t, stats.RevokedRefreshUses)
			require.Equal(t, 1, b.replicas[0].Counts().Refreshes+b.replicas[1].Counts().Refreshes)

			// The rotated refresh token was stored: the next expiry refreshes again
			// with it, from the other replica.
			b.clock.Advance(time.Hour + time.Second)
			next, err := b.replicas[1].AccessToken(t.Context(), "acct_race", false, "")
			require.NoError(t, err)
			require.NotEqual(t, got[0], next)
			require.Equal(t, 2, b.fake.OAuthStats().Refreshes)
			require.Zero(t, b.fake.OAuthStats().RevokedRefreshUses)
		})
	}
}

func TestInvalidGrantNeedsReauthorization(t *testing.T) {
	t.Parallel()
	for _, database := range databases(t) {
		t.Run(database, func(t *testing.T) {
			t.Parallel()
			b := setup(t, database, 1)
			b.install(t, "acct_gone")
			b.fake.RevokeOAuth("acct_gone")
			b.clock.Advance(2 * time.Hour)
			m := b.replicas[0]
			_, err := m.AccessToken(t.Context(), "acct_gone", false, "")
			require.ErrorIs(t, err, oauth.ErrReauthorizationRequired)
			require.EqualValues(t, 1, b.reauth.Load(), "the hook runs once")
			status, err := m.Status(t.Context(), "acct_gone", false)
			require.NoError(t, err)
			require.Equal(t, oauth.StatusReauthorizationRequired, status)
			// No retry forever: later calls fail at once, without asking Stripe.
			_, err = m.AccessToken(t.Context(), "acct_gone", false, "")
			require.ErrorIs(t, err, oauth.ErrReauthorizationRequired)
			require.Equal(t, 1, b.fake.OAuthStats().InvalidGrants)
		})
	}
}

func TestStaleTokenAfter401(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", 2)
	first := b.install(t, "acct_401")
	got, err := b.replicas[0].AccessToken(t.Context(), "acct_401", false, "")
	require.NoError(t, err)
	require.Equal(t, first.AccessToken, got)
	// Stripe answered 401 for the token: it is refreshed although not expired.
	again, err := b.replicas[0].AccessToken(t.Context(), "acct_401", false, got)
	require.NoError(t, err)
	require.NotEqual(t, got, again)
	// Another replica that saw the same 401 takes the new token without refreshing.
	other, err := b.replicas[1].AccessToken(t.Context(), "acct_401", false, got)
	require.NoError(t, err)
	require.Equal(t, again, other)
	require.Equal(t, 1, b.fake.OAuthStats().Refreshes)
}

func TestRefreshDue(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", 1)
	b.install(t, "acct_a")
	b.install(t, "acct_b")
	m := b.replicas[0]
	n, err := m.RefreshDue(t.Context(), 10*time.Minute)
	require.NoError(t, err)
	require.Zero(t, n, "nothing expires within 10 minutes")
	b.clock.Advance(55 * time.Minute)
	n, err = m.RefreshDue(t.Context(), 10*time.Minute)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, 2, b.fake.OAuthStats().Refreshes)
}

// TestAtRest: a dump of the database holds no token in clear, and rotating the key
// re-encrypts every row so that the old key can go.
func TestAtRestAndRotation(t *testing.T) {
	t.Parallel()
	for _, database := range databases(t) {
		t.Run(database, func(t *testing.T) {
			t.Parallel()
			b := setup(t, database, 1)
			tok := b.install(t, "acct_rest")
			dump := dumpTokens(t, b.stores[0].DB())
			require.NotContains(t, dump, tok.AccessToken)
			require.NotContains(t, dump, tok.RefreshToken)
			require.NotContains(t, dump, strings.TrimPrefix(tok.AccessToken, "oat_"))

			newKey := secretbox.NewKey()
			rotated, err := secretbox.Parse(newKey + "," + b.key)
			require.NoError(t, err)
			m := oauth.New(oauth.Config{DB: b.stores[0].DB(), Postgres: database == "postgres", Keys: rotated})
			n, err := m.RotateKeys(t.Context())
			require.NoError(t, err)
			require.Equal(t, 1, n)
			n, err = m.RotateKeys(t.Context())
			require.NoError(t, err)
			require.Zero(t, n, "nothing left under the old key")

			onlyNew, err := secretbox.Parse(newKey)
			require.NoError(t, err)
			rec, err := oauth.New(oauth.Config{DB: b.stores[0].DB(), Postgres: database == "postgres", Keys: onlyNew}).Get(t.Context(), "acct_rest", false)
			require.NoError(t, err)
			require.Equal(t, tok.RefreshToken, rec.RefreshToken)
			_, err = b.replicas[0].Get(t.Context(), "acct_rest", false)
			require.True(t, errors.Is(err, secretbox.ErrUnknownKey), "the old key alone no longer opens: %v", err)
		})
	}
}

func dumpTokens(t *testing.T, db *sql.DB) string {
	rows, err := db.QueryContext(t.Context(), `SELECT account_id, access_token, refresh_token, scope, user_id, status FROM appbackend_oauth_tokens`)
	require.NoError(t, err)
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var a, b, c, d, e, f string
		require.NoError(t, rows.Scan(&a, &b, &c, &d, &e, &f))
		sb.WriteString(strings.Join([]string{a, b, c, d, e, f}, "|") + "\n")
	}
	return sb.String()
}
