package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bins are the programs under test, built once per run by TestMain.
var bins struct {
	appbackend string // cmd/appbackend
	testserver string // e2e/testserver
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "appbackend-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildPrograms(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer nodeSigner.close()
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
		"github.com/appbackend/appbackend/e2e/testserver")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	bins.appbackend = filepath.Join(dir, "appbackend")
	bins.testserver = filepath.Join(dir, "testserver")
	return nil
}
