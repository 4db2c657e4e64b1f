//go:build unix

package backup_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/backup"
)

// TestFilesPrivate: with the common umask 022, a backup (`appbackend backup` and the
// scheduler's) and a restored database are 0600: they hold what the database holds.
// Not parallel: the umask is the process's, and a sequential top-level test runs
// while no parallel test does.
func TestFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	b := setup(t)
	ctx := t.Context()
	require.NoError(t, insertEvent(ctx, b.st, "evt_1"))
	out := filepath.Join(b.dir, "out.db")
	_, err := backup.Copy(ctx, b.dbPath, out)
	require.NoError(t, err)
	s := &backup.Scheduler{DBPath: b.dbPath, Dir: filepath.Join(b.dir, "backups")}
	scheduled, err := s.Once(ctx)
	require.NoError(t, err)
	require.NoError(t, b.st.Close())
	_, err = backup.Restore(ctx, b.dbPath, out)
	require.NoError(t, err)
	for _, path := range []string{out, scheduled.Path, b.dbPath} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), path)
	}
}
