package e2etest

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Secrets every server is started with. Two endpoint secrets, as an app installed in
// live and test mode has one endpoint (and secret) per mode.
const (
	AppSecret         = "absec_e2e_app_secret_0123456789"
	LiveWebhookSecret = "whsec_e2e_live_endpoint_0123456789"
	TestWebhookSecret = "whsec_e2e_test_endpoint_9876543210"
)

// Options choose the program a [Server] runs and its configuration.
type Options struct {
	Program Program
	// Name names the process in the test's log and, for the test server, in its
	// effect rows (E2E_REPLICA). Default "server".
	Name string
	// Database is APPBACKEND_DATABASE; "" is a new SQLite file in a temporary
	// directory. Several servers given one PostgreSQL database are replicas.
	Database string
	// Env adds or overrides environment variables (APPBACKEND_MAX_BODY, E2E_FAIL_TYPE, …).
	Env map[string]string
	// LogLevel is APPBACKEND_LOG_LEVEL (default info: one line per request).
	LogLevel string
}

// Server is one server process on a loopback port; Restart starts a new process on the
// same database. It is stopped when the test that started it ends, and its log is
// shown if that test failed.
type Server struct {
	// Name is Options.Name.
	Name string
	// URL is the server's base URL, http://127.0.0.1:PORT; it changes on Restart.
	URL string
	// Database is the server's APPBACKEND_DATABASE.
	Database string
	// Env is the server's environment, which CLI commands run with.
	Env []string

	t       testing.TB
	bin     string
	args    []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error

	db *sql.DB // a direct connection to the database, opened by DB on first use
}

// Start starts a server and waits until it listens.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "server"
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	dir := t.TempDir()
	if opts.Database == "" {
		opts.Database = "sqlite:" + filepath.Join(dir, "appbackend.db")
	}
	s := &Server{
		Name:     opts.Name,
		Database: opts.Database,
		t:        t,
		bin:      opts.Program.path(t),
		logPath:  filepath.Join(dir, opts.Name+".log"),
	}
	if opts.Program == Serve {
		s.args = []string{"serve"}
	}
	vars := map[string]string{
		"APPBACKEND_ADDR":        "127.0.0.1:0",
		"APPBACKEND_DATABASE":    opts.Database,
		"STRIPE_APP_SECRETS":     AppSecret,
		"STRIPE_WEBHOOK_SECRETS": LiveWebhookSecret + "," + TestWebhookSecret,
		"APPBACKEND_LOG_LEVEL":   opts.LogLevel,
		"E2E_REPLICA":            opts.Name,
	}
	for k, v := range opts.Env {
		vars[k] = v
	}
	s.Env = hermeticEnv(os.Environ(), vars)
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("log of %s (%s):\n%s", s.Name, s.logPath, s.LogTail())
		}
	})
	s.start()
	return s
}

// hermeticEnv is environ without any appbackend, Stripe or test-server setting of the
// machine, plus vars.
func hermeticEnv(environ []string, vars map[string]string) []string {
	var env []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "APPBACKEND_") || strings.HasPrefix(name, "STRIPE_") || strings.HasPrefix(name, "E2E_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// startTimeout bounds how long a server may take to listen: migrations on a busy
// machine, and on PostgreSQL a replica waiting for another's migration.
const startTimeout = 60 * time.Second

// start runs the program and waits for its "appbackend listening on http://ADDR" line.
func (s *Server) start() {
	s.t.Helper()
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	fmt.Fprintf(logFile, "=== start %s %s at %s\n", filepath.Base(s.bin), strings.Join(s.args, " "), time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = s.Env
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, "stdout:", line)
			if addr, ok := strings.CutPrefix(line, "appbackend listening on "); ok {
				select {
				case listening <- strings.TrimSpace(addr):
				default:
				}
			}
		}
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		fmt.Fprintf(logFile, "=== exited: %v\n", err)
		logFile.Close()
		close(exited)
	}()
	select {
	case addr := <-listening:
		s.URL = addr
	case <-exited:
		s.t.Fatalf("%s exited before listening: %v\n%s", s.Name, s.waitErr, s.LogTail())
	case <-time.After(startTimeout):
		s.Kill()
		s.t.Fatalf("%s did not print its listening line within %v\n%s", s.Name, startTimeout, s.LogTail())
	}
}

// Kill ends the process with SIGKILL: no shutdown, no flush, as a crash or the OOM
// killer would. It returns once the process is gone.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Stop asks the process to shut down gracefully (SIGTERM) and kills it if it has not
// exited within 20 s.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		s.t.Errorf("%s did not stop within 20 s of SIGTERM; killing it", s.Name)
		s.Kill()
	}
}

// Restart starts a new process on the same database, after Kill or Stop (it stops a
// running one first).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	exited := s.exited
	s.mu.Unlock()
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// LogTail is the end of the server's log (its stderr and stdout, across restarts).
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(s.logPath)
	const keep = 8000
	if len(b) > keep {
		b = append([]byte("…"), b[len(b)-keep:]...)
	}
	return string(b)
}

// WebhookURL is the server's POST /webhooks/stripe.
func (s *Server) WebhookURL() string { return s.URL + "/webhooks/stripe" }

// DB is a direct connection to the server's database (see [OpenDB]), opened on first
// use and closed when the test ends, for what the CLI does not show: the effect rows
// and River's jobs.
func (s *Server) DB() *sql.DB {
	s.t.Helper()
	s.mu.Lock()
	db := s.db
	s.mu.Unlock()
	if db != nil {
		return db
	}
	db = OpenDB(s.t, s.Database)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil { // else another goroutine opened one meanwhile; OpenDB's cleanup closes db
		s.db = db
	}
	return s.db
}

// Effects counts the test server's effect rows per event id ([EffectCounts]).
func (s *Server) Effects() map[string]int {
	s.t.Helper()
	return EffectCounts(s.t, s.DB())
}
