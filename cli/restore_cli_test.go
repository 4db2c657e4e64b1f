package cli

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store/sqlite"
)

// TestRestoreCLIOverCorruptAndForeign: `appbackend restore` replaces a corrupt
// database (saying so, and keeping it), and refuses, on one line with exit 1, a SQLite
// file that is not an appbackend database.
func TestRestoreCLIOverCorruptAndForeign(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	st, err := sqlite.Open(t.Context(), dbPath)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	env := map[string]string{"APPBACKEND_DATABASE": "sqlite:" + dbPath}
	saved := filepath.Join(dir, "saved.db")
	exit, _, errOut := runCmd(t, env, "backup", saved)
	require.Equal(t, 0, exit, errOut)

	require.NoError(t, os.WriteFile(dbPath, []byte(strings.Repeat("garbage!", 1024)), 0o600))
	exit, out, errOut := runCmd(t, env, "restore", saved)
	require.Equal(t, 0, exit, errOut)
	require.Contains(t, out, "the replaced database could not be read")
	exit, out, errOut = runCmd(t, env, "restore", saved)
	require.Equal(t, 0, exit, errOut)
	kept, err := filepath.Glob(dbPath + ".before-restore-*")
	require.NoError(t, err)
	require.Len(t, kept, 2, "both replaced databases are kept: %s", out)

	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE appbackend_events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	exit, _, errOut = runCmd(t, env, "restore", foreign)
	require.Equal(t, 1, exit)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	require.Contains(t, errOut, "not an appbackend database")
}
