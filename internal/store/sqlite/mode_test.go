//go:build unix

package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/stretchr/testify/require"
)

// TestFilesPrivate: with the common umask 022 the database and the -wal and -shm
// files SQLite creates beside it are 0600, not 0644: they hold dev secrets and
// certificates' private keys. Not parallel: the umask is the process's, and a
// sequential top-level test runs while no parallel test does.
func TestFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "appbackend.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.PutSetting(t.Context(), "k", "v"))
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		require.NoError(t, err)
		if got := fi.Mode().Perm(); got != 0o600 {
			require.FailNow(t, fmt.Sprintf("%s: mode %v, want 0600", filepath.Base(name), got))
		}
	}
}
