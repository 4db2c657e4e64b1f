package e2etest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/stretchr/testify/require"
)

// Program is the program a [Server] runs.
type Program int

const (
	// Serve is `appbackend serve`, the binary as users run it.
	Serve Program = iota
	// TestServer is internal/e2etest/testserver: appbackend embedded in a Go program,
	// with the effect-recording handler and the E2E_* knobs.
	TestServer
)

// programs are the binaries under test, built once per test process by Run.
var programs struct {
	appbackend string // cmd/appbackend
	testserver string // internal/e2etest/testserver
}

// Run builds the programs, runs the tests, and stops the PostgreSQL server that
// pgtest may have started for them. Call it from TestMain.
func Run(m *testing.M) int {
	defer pgtest.Stop()
	dir, err := os.MkdirTemp("", "appbackend-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2etest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildPrograms(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2etest:", err)
		return 1
	}
	return m.Run()
}

// buildPrograms builds the binary and the test server into dir with the go command
// that runs the tests, so that they are built from the working tree under test.
func buildPrograms(dir string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not on PATH; the end-to-end tests build the binary with it: %w", err)
	}
	cmd := exec.Command(goCmd, "build", "-o", dir+string(filepath.Separator),
		"github.com/appbackend/appbackend/cmd/appbackend",
		"github.com/appbackend/appbackend/internal/e2etest/testserver")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	programs.appbackend = filepath.Join(dir, "appbackend")
	programs.testserver = filepath.Join(dir, "testserver")
	return nil
}

// path is the program's binary; it fails the test when Run did not build it.
func (p Program) path(t testing.TB) string {
	t.Helper()
	bin := programs.appbackend
	if p == TestServer {
		bin = programs.testserver
	}
	require.NotEqual(t, "", bin, "e2etest: the programs are not built; call e2etest.Run from TestMain")
	return bin
}
