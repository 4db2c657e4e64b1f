package stripetest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables MockURL reads.
const (
	// EnvMockURL is the base URL of a running stripe-mock (scripts/stripe-mock.sh start
	// prints it; make test exports it).
	EnvMockURL = "STRIPE_MOCK_URL"
	// EnvMockBin is the stripe-mock binary to start when EnvMockURL is unset.
	EnvMockBin = "STRIPE_MOCK_BIN"
)

// MockKey is a test-mode key stripe-mock accepts (it refuses live keys).
const MockKey = "sk_test_stripemock"

var mock struct {
	mu   sync.Mutex
	url  string
	err  error
	cmd  *exec.Cmd
	done bool
}

// MockURL returns the base URL of a stripe-mock for request-shape tests: STRIPE_MOCK_URL
// when set, else a stripe-mock this test process starts from the installed binary
// (STRIPE_MOCK_BIN, the repository's .tmp/bin/stripe-mock, or one on PATH) on loopback
// ports, stopped by StopMock or when the process exits. Without either, the test fails:
// stripe-mock is part of the test set-up, not optional.
func MockURL(t testing.TB) string {
	t.Helper()
	if u := strings.TrimSpace(os.Getenv(EnvMockURL)); u != "" {
		return strings.TrimRight(u, "/")
	}
	mock.mu.Lock()
	defer mock.mu.Unlock()
	if !mock.done {
		mock.done = true
		mock.url, mock.err = startMock()
	}
	if mock.err != nil {
		t.Fatalf("stripe-mock: %v", mock.err)
	}
	return mock.url
}

// StopMock stops the stripe-mock MockURL started, if any. Call it from TestMain after
// m.Run.
func StopMock() {
	mock.mu.Lock()
	defer mock.mu.Unlock()
	if mock.cmd != nil && mock.cmd.Process != nil {
		_ = mock.cmd.Process.Kill()
		_ = mock.cmd.Wait()
		mock.cmd = nil
	}
}

const notInstalled = "not running and not installed: run make test (or scripts/stripe-mock.sh start and export " + EnvMockURL + ")"

func startMock() (string, error) {
	bin, err := findMock()
	if err != nil {
		return "", err
	}
	// Empty ports: stripe-mock binds free ones itself and prints them, so there is no
	// window in which another process could take a port picked for it.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	setDeathSignal(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				found <- "http://" + strings.TrimSpace(addr)
				break
			}
		}
		close(found)
		_, _ = io.Copy(io.Discard, out) // keep its output flowing until it exits
	}()
	select {
	case u, ok := <-found:
		if !ok {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return "", fmt.Errorf("%s exited without listening", bin)
		}
		mock.cmd = cmd
		return u, nil
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "", fmt.Errorf("%s did not listen within 60s", bin)
	}
}

func findMock() (string, error) {
	if bin := os.Getenv(EnvMockBin); bin != "" {
		return bin, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				bin := filepath.Join(dir, ".tmp", "bin", "stripe-mock")
				if _, err := os.Stat(bin); err == nil {
					return bin, nil
				}
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if bin, err := exec.LookPath("stripe-mock"); err == nil {
		return bin, nil
	}
	return "", errors.New(notInstalled)
}
