package appbackendtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// StripeMockVersion is the stripe-mock StripeMockURL installs when none is found.
const StripeMockVersion = "v0.203.0"

// Environment variables StripeMockURL reads.
const (
	// EnvStripeMockURL is the base URL of a running stripe-mock, used as is.
	EnvStripeMockURL = "STRIPE_MOCK_URL"
	// EnvStripeMockDir is a folder holding (or to install) the stripe-mock binary.
	EnvStripeMockDir = "APPBACKEND_STRIPE_MOCK_DIR"
)

// stripeMockStartTimeout bounds how long stripe-mock may take to listen; its first
// start loads the OpenAPI spec it embeds.
const stripeMockStartTimeout = 60 * time.Second

var sharedMock struct {
	mu  sync.Mutex
	url string
	err error
}

var installMu sync.Mutex

// StripeMockURL returns the base URL of a stripe-mock, Stripe's own mock of its API,
// which checks every request against Stripe's OpenAPI specification (but keeps no
// state, ignores Stripe-Account and idempotency keys): for tests that the app's
// requests are well-formed. It is, in this order:
//
//   - STRIPE_MOCK_URL, when set (a stripe-mock started by the test script);
//   - else a stripe-mock it starts on free loopback ports from the binary in
//     APPBACKEND_STRIPE_MOCK_DIR, on PATH, or in the default folder
//     GOMODCACHE/cache/appbackend/stripe-mock-VERSION;
//   - else one it first installs with `go install
//     github.com/stripe/stripe-mock@VERSION` into APPBACKEND_STRIPE_MOCK_DIR or the
//     default folder (once; later runs find it there).
//
// On Linux one stripe-mock serves the whole test process and dies with it; elsewhere
// each test starts its own, stopped when the test ends. If none can be had, the test
// fails with the reason: a missing stripe-mock is a broken set-up, not a skip.
//
// stripe-mock accepts any test key (TestSecretKey) and refuses live keys.
func StripeMockURL(t testing.TB) string {
	t.Helper()
	if u := strings.TrimSpace(os.Getenv(EnvStripeMockURL)); u != "" {
		return strings.TrimRight(u, "/")
	}
	if !mockDiesWithProcess {
		u, stop, err := startStripeMock()
		if err != nil {
			t.Fatalf("appbackendtest: stripe-mock: %v", err)
		}
		t.Cleanup(stop)
		return u
	}
	sharedMock.mu.Lock()
	defer sharedMock.mu.Unlock()
	if sharedMock.url == "" {
		// A failure is not kept: a later test may find what an earlier one lacked.
		u, _, err := startStripeMock()
		if err != nil {
			t.Fatalf("appbackendtest: stripe-mock: %v", err)
		}
		sharedMock.url = u
	}
	return sharedMock.url
}

// startStripeMock finds or installs stripe-mock and starts it.
func startStripeMock() (url string, stop func(), err error) {
	bin, err := stripeMockBinary()
	if err != nil {
		return "", nil, err
	}
	// Empty ports: stripe-mock binds free ones itself and prints them, so there is no
	// window in which another process could take a port picked for it. Both
	// listeners, or it opens HTTPS on every interface.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	dieWithProcess(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	found := make(chan string, 1)
	var logTail bytes.Buffer
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				found <- "http://" + strings.TrimSpace(addr)
				break
			}
			if logTail.Len() < 4096 {
				logTail.WriteString(sc.Text() + "\n")
			}
		}
		close(found)
		_, _ = io.Copy(io.Discard, out) // keep its output flowing until it exits
	}()
	select {
	case u, ok := <-found:
		if !ok {
			stop()
			return "", nil, fmt.Errorf("%s exited without listening:\n%s", bin, logTail.String())
		}
		return u, stop, nil
	case <-time.After(stripeMockStartTimeout):
		stop()
		return "", nil, fmt.Errorf("%s did not listen within %v", bin, stripeMockStartTimeout)
	}
}

// stripeMockBinary returns the path of a stripe-mock binary, installing it if none
// is found.
func stripeMockBinary() (string, error) {
	name := "stripe-mock"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	dir := strings.TrimSpace(os.Getenv(EnvStripeMockDir))
	if dir != "" {
		if bin := filepath.Join(dir, name); isFile(bin) {
			return bin, nil
		}
	}
	if bin, err := exec.LookPath("stripe-mock"); err == nil {
		return bin, nil
	}
	if dir == "" {
		var err error
		if dir, err = defaultStripeMockDir(); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(dir, name)
	installMu.Lock()
	defer installMu.Unlock()
	if isFile(bin) {
		return bin, nil
	}
	if err := installStripeMock(dir); err != nil {
		return "", err
	}
	if !isFile(bin) {
		return "", fmt.Errorf("go install put no %s in %s", name, dir)
	}
	return bin, nil
}

// defaultStripeMockDir is GOMODCACHE/cache/appbackend/stripe-mock-VERSION: beside the
// modules a `go clean -modcache` removes, and shared by every module on the machine.
func defaultStripeMockDir() (string, error) {
	out, err := goCommand(context.Background(), "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	modcache := strings.TrimSpace(string(out))
	if modcache == "" {
		return "", errors.New("go env GOMODCACHE is empty")
	}
	return filepath.Join(modcache, "cache", "appbackend", "stripe-mock-"+StripeMockVersion), nil
}

// installStripeMock runs go install github.com/stripe/stripe-mock@VERSION with GOBIN=dir.
func installStripeMock(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pkg := "github.com/stripe/stripe-mock@" + StripeMockVersion
	cmd := goCommand(ctx, "install", pkg)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	// Outside any module, so that the user's go.mod and go.work play no part.
	cmd.Dir = os.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("stripe-mock is not running (%s), not installed, and go install %s failed: %v\n%s",
			EnvStripeMockURL, pkg, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// goCommand runs the go command of the toolchain on PATH (go test puts its own first).
func goCommand(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "go", args...)
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
