// Package dbtest opens fresh, migrated stores for tests, on SQLite and on PostgreSQL,
// so that a package's tests of behaviour that depends on the database run on both
// with one helper instead of a copy each.
//
//	for name, open := range dbtest.Stores {
//		t.Run(name, func(t *testing.T) {
//			st := open(t)
//			…
//		})
//	}
//
// PostgreSQL comes from pgtest (APPBACKEND_TEST_POSTGRES_URL, or a throwaway server
// started from initdb/pg_ctl): a package that uses it calls pgtest.Stop in its
// TestMain. The store adapters' own tests may import this package from their external
// test packages (sqlite_test, postgres_test); the adapters themselves must not.
package dbtest

import (
	"path/filepath"
	"testing"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/stretchr/testify/require"
)

// Stores opens a fresh, migrated store of each database, closed when the test ends.
var Stores = map[string]func(t testing.TB) store.Store{
	"sqlite":   func(t testing.TB) store.Store { return SQLite(t) },
	"postgres": func(t testing.TB) store.Store { return Postgres(t) },
}

// SQLite opens a fresh, migrated SQLite store in a file of the test's temporary
// directory and closes it when the test ends.
func SQLite(t testing.TB, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "appbackend.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// Postgres opens a store on a fresh, migrated PostgreSQL database (pgtest.NewDatabase)
// and closes it when the test ends.
func Postgres(t testing.TB, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), pgtest.NewDatabase(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}
