package e2etest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // reads a PostgreSQL server database directly
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // reads a SQLite server database directly

	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

// Database is a kind of database a server runs on.
type Database string

// The databases appbackend runs on.
const (
	SQLite     Database = "sqlite"
	PostgreSQL Database = "postgres"
)

// Databases returns the databases the end-to-end tests that are not specific to one
// run on: SQLite and PostgreSQL, or only the one APPBACKEND_TEST_DATABASE
// (pgtest.EnvDatabase) names, for a quicker run. Another value fails the test.
func Databases(t testing.TB) []Database {
	t.Helper()
	dbs, err := databasesFrom(os.Getenv(pgtest.EnvDatabase))
	require.NoError(t, err)
	return dbs
}

func databasesFrom(setting string) ([]Database, error) {
	switch kind := Database(strings.TrimSpace(setting)); kind {
	case "":
		return []Database{SQLite, PostgreSQL}, nil
	case SQLite, PostgreSQL:
		return []Database{kind}, nil
	default:
		return nil, errors.New(pgtest.EnvDatabase + "=" + setting + ": want sqlite or postgres, or unset for both")
	}
}

// NewSetting returns an APPBACKEND_DATABASE value for a new database of this kind:
// sqlite:PATH in a temporary directory (no file yet), or the URL of a new, migrated
// PostgreSQL database dropped when the test ends.
func (d Database) NewSetting(t testing.TB) string {
	t.Helper()
	switch d {
	case SQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "appbackend.db")
	case PostgreSQL:
		return pgtest.NewDatabase(t)
	}
	require.FailNow(t, fmt.Sprintf("e2etest: unknown database %q", d))
	return ""
}

// OpenDB opens the database of an APPBACKEND_DATABASE setting directly, and closes it
// when the test ends. Queries with arguments use the database's placeholders (? or $1).
func OpenDB(t testing.TB, setting string) *sql.DB {
	t.Helper()
	kind, dsn, err := setup.ParseDatabase(setting)
	require.NoError(t, err)
	driver := "pgx"
	if kind == "sqlite" {
		// Servers hold SQLite's write lock now and then: wait for it, as they do.
		driver = "sqlite"
		dsn = "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(dsn) + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return db
}

// QueryInt runs a query returning one integer (0 for no row).
func QueryInt(t testing.TB, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	err := db.QueryRowContext(context.Background(), query, args...).Scan(&n)
	require.False(t, err != nil && !errors.Is(err, sql.ErrNoRows), "%s: %v", query, err)
	return n
}

// CountBy runs a query returning (key, count) rows and collects them.
func CountBy(t testing.TB, db *sql.DB, query string, args ...any) map[string]int {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query, args...)
	require.NoError(t, err, "%s", query)
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var (
			key string
			n   int
		)
		require.NoError(t, rows.Scan(&key, &n), "%s", query)
		counts[key] = n
	}
	require.NoError(t, rows.Err(), "%s", query)
	return counts
}

// StatusCounts counts the inbox's events by status.
func StatusCounts(t testing.TB, db *sql.DB) map[string]int {
	t.Helper()
	return CountBy(t, db, `SELECT status, COUNT(*) FROM appbackend_events GROUP BY status`)
}

// EffectCounts counts the test server's effect rows (e2e_effects) per event id: 1 for
// an event applied once, more for one applied twice.
func EffectCounts(t testing.TB, db *sql.DB) map[string]int {
	t.Helper()
	return CountBy(t, db, `SELECT event_id, COUNT(*) FROM e2e_effects GROUP BY event_id`)
}

// EventStatuses maps every stored event's id to its status.
func EventStatuses(t testing.TB, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT id, status FROM appbackend_events`)
	require.NoError(t, err, "list events")
	defer rows.Close()
	statuses := map[string]string{}
	for rows.Next() {
		var id, status string
		require.NoError(t, rows.Scan(&id, &status))
		statuses[id] = status
	}
	require.NoError(t, rows.Err(), "list events")
	return statuses
}

// WaitFor polls cond every 100 ms until it holds or the timeout passes, and reports
// whether it held.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
