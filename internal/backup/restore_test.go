package backup_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

// hasEvents opens the SQLite file at path as it is and reports which of ids it holds.
func hasEvents(t *testing.T, path string, ids ...string) map[string]bool {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.WithoutMigrations())
	require.NoError(t, err)
	defer st.Close()
	out := map[string]bool{}
	for _, id := range ids {
		_, err := st.Event(t.Context(), id)
		if err == nil {
			out[id] = true
		} else {
			require.ErrorIs(t, err, store.ErrNotFound)
		}
	}
	return out
}

// TestRestoreTwiceKeepsEveryReplacedDatabase: `restore a.db && restore b.db` within
// one second keeps the original database and A, each under its own name (the kept
// copy's name has one-second precision, and a rename used to overwrite the first).
func TestRestoreTwiceKeepsEveryReplacedDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	require.NoError(t, insertEvent(ctx, b.st, "evt_0"))
	a := filepath.Join(b.dir, "a.db")
	_, err := backup.Copy(ctx, b.dbPath, a)
	require.NoError(t, err)
	require.NoError(t, insertEvent(ctx, b.st, "evt_1"))
	bb := filepath.Join(b.dir, "b.db")
	_, err = backup.Copy(ctx, b.dbPath, bb)
	require.NoError(t, err)
	require.NoError(t, insertEvent(ctx, b.st, "evt_original"))
	require.NoError(t, b.st.Close())

	first, err := backup.Restore(ctx, b.dbPath, a)
	require.NoError(t, err)
	second, err := backup.Restore(ctx, b.dbPath, bb)
	require.NoError(t, err)
	third, err := backup.Restore(ctx, b.dbPath, a)
	require.NoError(t, err)
	require.NotEqual(t, first.Previous, second.Previous)
	require.NotEqual(t, second.Previous, third.Previous)
	require.NotEqual(t, first.Previous, third.Previous)

	ids := []string{"evt_0", "evt_1", "evt_original"}
	require.Equal(t, map[string]bool{"evt_0": true, "evt_1": true, "evt_original": true}, hasEvents(t, first.Previous, ids...), "the original database is kept")
	require.Equal(t, map[string]bool{"evt_0": true}, hasEvents(t, second.Previous, ids...), "A, replaced by B, is kept")
	require.Equal(t, map[string]bool{"evt_0": true, "evt_1": true}, hasEvents(t, third.Previous, ids...), "B, replaced by A, is kept")
}

// TestRestoreOverCorruptDatabase: restore is needed most when the database is corrupt;
// it goes through, and the corrupt file is kept aside as it was.
func TestRestoreOverCorruptDatabase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		corrupt func(data []byte) []byte
	}{
		{"not a database", func(data []byte) []byte {
			for i := range data {
				data[i] = 0x5A
			}
			return data
		}},
		{"damaged pages", func(data []byte) []byte {
			// The header (page 1) stays, the pages after it are garbage.
			for i := 4096; i < len(data); i++ {
				data[i] = 0xA5
			}
			return data
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := t.Context()
			require.NoError(t, insertEvent(ctx, b.st, "evt_saved"))
			saved := filepath.Join(b.dir, "saved.db")
			_, err := backup.Copy(ctx, b.dbPath, saved)
			require.NoError(t, err)
			require.NoError(t, b.st.Close())
			data, err := os.ReadFile(b.dbPath)
			require.NoError(t, err)
			bad := tc.corrupt(data)
			require.NoError(t, os.WriteFile(b.dbPath, bad, 0o600))

			res, err := backup.Restore(ctx, b.dbPath, saved)
			require.NoError(t, err)
			require.NotEmpty(t, res.PreviousUnreadable)
			kept, err := os.ReadFile(res.Previous)
			require.NoError(t, err)
			require.Equal(t, bad, kept, "the corrupt database is kept aside unchanged")
			require.True(t, hasEvents(t, b.dbPath, "evt_saved")["evt_saved"])
			st, err := sqlite.Open(ctx, b.dbPath) // what serve does
			require.NoError(t, err)
			require.NoError(t, st.Close())
		})
	}
}

// TestRestoreRefusesForeignDatabase: a SQLite file that merely has an
// appbackend_events table, or an appbackend database of a schema newer than this
// binary knows, is refused, and the database is left as it was (it used to restore,
// and then serve failed).
func TestRestoreRefusesForeignDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	require.NoError(t, insertEvent(ctx, b.st, "evt_current"))
	require.NoError(t, b.st.Close())

	foreign := filepath.Join(b.dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE appbackend_events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = backup.Restore(ctx, b.dbPath, foreign)
	require.ErrorContains(t, err, "not an appbackend database")

	newer := filepath.Join(b.dir, "newer.db")
	_, err = backup.Copy(ctx, b.dbPath, newer)
	require.NoError(t, err)
	db, err = sql.Open("sqlite", newer)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO appbackend_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = backup.Restore(ctx, b.dbPath, newer)
	require.ErrorContains(t, err, "schema version 9999, newer than this appbackend knows")

	matches, err := filepath.Glob(b.dbPath + ".before-restore-*")
	require.NoError(t, err)
	require.Empty(t, matches, "a refused restore replaces nothing")
	require.True(t, hasEvents(t, b.dbPath, "evt_current")["evt_current"])
}
