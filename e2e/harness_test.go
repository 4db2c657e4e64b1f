package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // reads the server's database directly
)

// Secrets every test server is configured with. Two endpoint secrets, as an app
// installed in live and test mode has one endpoint (and secret) per mode.
const (
	appSecret         = "absec_e2e_app_secret_0123456789"
	liveWebhookSecret = "whsec_e2e_live_endpoint_0123456789"
	testWebhookSecret = "whsec_e2e_test_endpoint_9876543210"
)

// serverOptions choose the program and its configuration.
type serverOptions struct {
	// testServer runs e2e/testserver (the library with the effect-recording handler)
	// instead of `appbackend serve`.
	testServer bool
	// env adds or overrides environment variables (APPBACKEND_MAX_BODY, E2E_FAIL_TYPE, …).
	env map[string]string
	// logLevel is APPBACKEND_LOG_LEVEL (default info: one line per request).
	logLevel string
}

// server is one appbackend process on a loopback port and its SQLite file; restart
// starts a new process on the same file.
type server struct {
	t       testing.TB
	bin     string
	args    []string
	env     []string // the server's environment, which the CLI commands share
	dbPath  string
	logPath string
	url     string // http://127.0.0.1:PORT

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error

	db *sql.DB // a direct connection to the database, opened on first use
}

// startServer starts a server with a new database in a temporary directory; it is
// stopped when the test ends.
func startServer(t testing.TB, opts serverOptions) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dbPath: filepath.Join(dir, "appbackend.db"), logPath: filepath.Join(dir, "server.log")}
	if opts.logLevel == "" {
		opts.logLevel = "info"
	}
	vars := map[string]string{
		"APPBACKEND_ADDR":        "127.0.0.1:0",
		"APPBACKEND_DATABASE":    "sqlite:" + s.dbPath,
		"STRIPE_APP_SECRETS":     appSecret,
		"STRIPE_WEBHOOK_SECRETS": liveWebhookSecret + "," + testWebhookSecret,
		"APPBACKEND_LOG_LEVEL":   opts.logLevel,
	}
	for k, v := range opts.env {
		vars[k] = v
	}
	s.env = hermeticEnv(vars)
	if opts.testServer {
		s.bin = bins.testserver
	} else {
		s.bin, s.args = bins.appbackend, []string{"serve"}
	}
	t.Cleanup(func() {
		s.stop()
		if s.db != nil {
			s.db.Close()
		}
		if t.Failed() {
			s.dumpLog()
		}
	})
	s.start()
	return s
}

// hermeticEnv is the test process's environment without any appbackend or Stripe
// setting of the machine, plus vars.
func hermeticEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
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

// start runs the program and waits for its "appbackend listening on http://ADDR" line.
func (s *server) start() {
	s.t.Helper()
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	fmt.Fprintf(logFile, "=== start %s %s at %s\n", filepath.Base(s.bin), strings.Join(s.args, " "), time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = s.env
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
				case listening <- addr:
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
		s.url = strings.TrimSpace(addr)
	case <-exited:
		s.t.Fatalf("%s exited before listening: %v\n%s", filepath.Base(s.bin), s.waitErr, s.logTail())
	case <-time.After(30 * time.Second):
		s.kill()
		s.t.Fatalf("%s did not print its listening line within 30 s\n%s", filepath.Base(s.bin), s.logTail())
	}
}

// kill ends the process with SIGKILL: no shutdown, no flush, as a crash or the OOM
// killer would. It returns once the process is gone.
func (s *server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop asks the process to shut down gracefully (SIGTERM) and kills it if it has not
// exited within 20 s.
func (s *server) stop() {
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
		s.t.Errorf("%s did not stop within 20 s of SIGTERM; killing it", filepath.Base(s.bin))
		s.kill()
	}
}

// restart starts a new process on the same database, after kill or stop.
func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	const keep = 6000
	if len(b) > keep {
		b = append([]byte("…"), b[len(b)-keep:]...)
	}
	return string(b)
}

func (s *server) dumpLog() {
	s.t.Logf("server log (%s):\n%s", s.logPath, s.logTail())
}

// webhookURL is the server's POST /webhooks/stripe.
func (s *server) webhookURL() string { return s.url + "/webhooks/stripe" }

// cliResult is what a CLI command printed and its exit status.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs `appbackend ARGS…` with the server's environment (so the database and the
// secrets are the server's) and returns what it printed.
func (s *server) cli(args ...string) cliResult {
	s.t.Helper()
	return runCLI(s.t, s.env, args...)
}

func runCLI(t testing.TB, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.appbackend, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("appbackend %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// mustCLI runs a command that must succeed.
func (s *server) mustCLI(args ...string) string {
	s.t.Helper()
	res := s.cli(args...)
	if res.code != 0 {
		s.t.Fatalf("appbackend %s: exit %d, stderr: %s", strings.Join(args, " "), res.code, res.stderr)
	}
	return res.stdout
}

// eventRow is an element of `appbackend events --json`.
type eventRow struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	AccountID    *string `json:"account_id"`
	Livemode     bool    `json:"livemode"`
	Status       string  `json:"status"`
	Attempts     int     `json:"attempts"`
	ReceivedAt   string  `json:"received_at"`
	ProcessedAt  *string `json:"processed_at"`
	APIVersion   *string `json:"api_version"`
	LastError    *string `json:"last_error"`
	NotInstalled bool    `json:"not_installed"`
}

// installationRow is an element of `appbackend installations --json` and a mode of
// GET /api/installation.
type installationRow struct {
	AccountID     string  `json:"account_id"`
	Livemode      bool    `json:"livemode"`
	Status        string  `json:"status"`
	InstalledAt   *string `json:"installed_at"`
	UninstalledAt *string `json:"uninstalled_at"`
	ApplicationID *string `json:"application_id"`
}

// events lists the inbox through `appbackend events --json ARGS…`.
func (s *server) events(args ...string) []eventRow {
	s.t.Helper()
	var rows []eventRow
	out := s.mustCLI(append([]string{"events", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		s.t.Fatalf("events --json printed %q: %v", out, err)
	}
	return rows
}

// event returns the inbox's event id, if stored.
func (s *server) event(id string) (eventRow, bool) {
	s.t.Helper()
	for _, ev := range s.events() {
		if ev.ID == id {
			return ev, true
		}
	}
	return eventRow{}, false
}

// waitEvent polls `events --json` until the event has the status, and returns it.
func (s *server) waitEvent(id, status string) eventRow {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev, ok := s.event(id)
		if ok && ev.Status == status {
			return ev
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("event %s: %+v (stored %v) after 30 s, want status %s", id, ev, ok, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// installations lists `appbackend installations --json`.
func (s *server) installations() []installationRow {
	s.t.Helper()
	var rows []installationRow
	out := s.mustCLI("installations", "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		s.t.Fatalf("installations --json printed %q: %v", out, err)
	}
	return rows
}

// installationState is the body of GET /api/installation.
type installationState struct {
	AccountID string           `json:"account_id"`
	Live      *installationRow `json:"live"`
	Test      *installationRow `json:"test"`
}

// installationAPI asks GET /api/installation as a Dashboard user of account, signed
// with the header `appbackend sign` prints.
func (s *server) installationAPI(account string) installationState {
	s.t.Helper()
	lines := strings.Split(strings.TrimSpace(s.mustCLI("sign", "--secret", appSecret, "--user", "usr_e2e", "--account", account)), "\n")
	req, err := http.NewRequest(http.MethodGet, s.url+"/api/installation?user_id=usr_e2e&account_id="+account, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Stripe-Signature", lines[0])
	resp, err := httpClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET /api/installation: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /api/installation = %d %s, want 200", resp.StatusCode, body)
	}
	var state installationState
	if err := json.Unmarshal(body, &state); err != nil {
		s.t.Fatalf("GET /api/installation body %s: %v", body, err)
	}
	return state
}

// database opens the server's SQLite file directly (once), for what the CLI does not
// show: the effect rows and River's jobs.
func (s *server) database() *sql.DB {
	s.t.Helper()
	if s.db == nil {
		db, err := sql.Open("sqlite", s.dbPath)
		if err != nil {
			s.t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		if _, err := db.Exec("PRAGMA busy_timeout = 10000"); err != nil {
			s.t.Fatal(err)
		}
		s.db = db
	}
	return s.db
}

// effects counts the test server's effect rows per event id.
func (s *server) effects() map[string]int {
	s.t.Helper()
	rows, err := s.database().Query(`SELECT event_id, COUNT(*) FROM e2e_effects GROUP BY event_id`)
	if err != nil {
		s.t.Fatalf("count effects: %v", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var (
			id string
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			s.t.Fatal(err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return counts
}

// httpClient is shared by every test; loopback calls are quick, the timeout only
// bounds a hung server.
var httpClient = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     30 * time.Second,
	},
}

// delivery is the server's answer to one webhook POST.
type delivery struct {
	status int
	body   []byte
}

// received reports a 200 {"received":true} and whether it was a duplicate.
func (d delivery) received() (ok, duplicate bool) {
	var b struct {
		Received  bool `json:"received"`
		Duplicate bool `json:"duplicate"`
	}
	if d.status != http.StatusOK || json.Unmarshal(d.body, &b) != nil {
		return false, false
	}
	return b.Received, b.Duplicate
}

// errorCode is the contract's error code in a 4xx/5xx body.
func (d delivery) errorCode() string {
	var b struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(d.body, &b)
	return b.Error.Code
}

// postWebhook posts body with the given Stripe-Signature ("" sends none).
func postWebhook(t testing.TB, url string, body []byte, signature string) delivery {
	t.Helper()
	d, err := tryPostWebhook(context.Background(), url, body, signature)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return d
}

func tryPostWebhook(ctx context.Context, url string, body []byte, signature string) (delivery, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return delivery{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return delivery{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return delivery{}, err
	}
	return delivery{status: resp.StatusCode, body: b}, nil
}
