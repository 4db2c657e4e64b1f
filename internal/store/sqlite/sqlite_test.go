package sqlite_test

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/appbackend/appbackend/internal/store/storetest"
	"github.com/stretchr/testify/require"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return dbtest.SQLite(t) })
}

func TestOpenPragmas(t *testing.T) {
	t.Parallel()
	s := dbtest.SQLite(t)
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"temp_store", "2"}, // MEMORY: statement journals never spill into write(2)
	} {
		var got string
		require.NoError(t, s.DB().QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got), "PRAGMA %s", tc.pragma)
		require.Equal(t, tc.want, got, "PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
	}
}

func TestOpenReopensWithSettings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "appbackend.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.PutSetting(t.Context(), "dev.admin_token", "tok_1"))
	require.NoError(t, s.Close())
	s, err = sqlite.Open(t.Context(), path)
	require.NoError(t, err, "reopen")
	defer s.Close()
	got, ok, err := s.Setting(t.Context(), "dev.admin_token")
	require.False(t, err != nil || !ok || got != "tok_1", "Setting after reopen = %q, %v, %v; want tok_1, true, nil", got, ok, err)
	pending, err := s.PendingMigrations(t.Context())
	require.NoError(t, err, "PendingMigrations = %v, %v; want none", pending, err)
	require.Empty(t, pending, "PendingMigrations = %v, %v; want none", pending, err)
}

func TestOpenBadPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "plain.txt")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	notDB := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 100)), 0o600))
	storetest.RunOpenErrors(t, func(ctx context.Context, path string) (io.Closer, error) {
		return sqlite.Open(ctx, path)
	}, "", []storetest.OpenErrorCase{
		{Name: "empty", Target: "", Want: "no path given"},
		{Name: "directory", Target: dir, Want: "is a directory"},
		{Name: "missing directory", Target: filepath.Join(dir, "nope", "x.db"), Want: "does not exist"},
		{Name: "parent is a file", Target: filepath.Join(file, "x.db"), Want: "is not a directory"},
		{Name: "memory", Target: ":memory:", Want: "plain file path"},
		{Name: "not a database", Target: notDB, Want: "not a database"},
	})
}

func TestAppMigrations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	storetest.RunAppMigrations(t, func(t *testing.T, fsys fs.FS, migrate bool) storetest.MigratingStore {
		opts := []sqlite.Option{sqlite.WithAppMigrations(fsys)}
		if !migrate {
			opts = append(opts, sqlite.WithoutMigrations())
		}
		s, err := sqlite.Open(t.Context(), path, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	})
}
