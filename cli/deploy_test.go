package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUnitFileVerifies runs `systemd-analyze verify` on deploy/appbackend.service, with
// ExecStart pointed at an executable that exists here (the guide installs the binary
// at /usr/local/bin/appbackend). systemd itself need not run.
func TestUnitFileVerifies(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	unit, err := os.ReadFile("../deploy/appbackend.service")
	require.NoError(t, err)
	self, err := os.Executable()
	require.NoError(t, err)
	require.Contains(t, string(unit), "ExecStart=/usr/local/bin/appbackend serve")
	patched := strings.ReplaceAll(string(unit), "/usr/local/bin/appbackend", self)
	path := filepath.Join(t.TempDir(), "appbackend.service")
	require.NoError(t, os.WriteFile(path, []byte(patched), 0o644))
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warned")
}
