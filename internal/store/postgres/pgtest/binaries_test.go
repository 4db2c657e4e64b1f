package pgtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Without PostgreSQL's programs, the test fails with one line saying what to set or
// install; nothing is installed.
func TestNoBinariesSaysWhatToDo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	old := binDirs
	binDirs = t.TempDir() + "/*/bin"
	defer func() { binDirs = old }()
	_, err := startServer()
	require.Error(t, err, "startServer succeeded without initdb")
	msg := err.Error()
	require.False(t, strings.Contains(msg, "\n") || !strings.Contains(msg, EnvURL) || !strings.Contains(msg, "initdb and pg_ctl"), "error = %q, want one line naming %s and initdb/pg_ctl", msg, EnvURL)
}
