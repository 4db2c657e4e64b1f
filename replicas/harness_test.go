package replicas

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
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

	_ "github.com/jackc/pgx/v5/stdlib" // reads the replicas' database directly

	"github.com/appbackend/appbackend/store/postgres/pgtest"
	"github.com/appbackend/appbackend/webhook/webhooktest"
)

// Secrets every replica is configured with.
const (
	appSecret     = "absec_replicas_app_secret_0123456789"
	webhookSecret = "whsec_replicas_endpoint_0123456789"
)

// bins are the programs under test, built once per run by TestMain.
var bins struct {
	appbackend string // cmd/appbackend
	testserver string // replicas/testserver
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer pgtest.Stop()
	dir, err := os.MkdirTemp("", "appbackend-replicas-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "replicas:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "replicas: the go command is not on PATH; the tests build the replicas with it")
		return 1
	}
	cmd := exec.Command(goCmd, "build", "-o", dir+string(filepath.Separator),
		"github.com/appbackend/appbackend/cmd/appbackend",
		"github.com/appbackend/appbackend/replicas/testserver")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "replicas: go build: %v\n%s", err, out)
		return 1
	}
	bins.appbackend = filepath.Join(dir, "appbackend")
	bins.testserver = filepath.Join(dir, "testserver")
	return m.Run()
}

// replica is one server process on a loopback port.
type replica struct {
	t       testing.TB
	name    string
	bin     string
	args    []string
	env     []string
	logPath string
	url     string // http://127.0.0.1:PORT

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// startReplica starts bin (with args) on the database, named name; it is stopped when
// the test ends and its log is shown if the test failed.
func startReplica(t testing.TB, name, database string, bin string, args []string, vars map[string]string) *replica {
	t.Helper()
	r := &replica{t: t, name: name, bin: bin, args: args, logPath: filepath.Join(t.TempDir(), name+".log")}
	all := map[string]string{
		"APPBACKEND_ADDR":        "127.0.0.1:0",
		"APPBACKEND_DATABASE":    database,
		"STRIPE_APP_SECRETS":     appSecret,
		"STRIPE_WEBHOOK_SECRETS": webhookSecret,
		"APPBACKEND_LOG_LEVEL":   "warn",
		"REPLICA_NAME":           name,
	}
	for k, v := range vars {
		all[k] = v
	}
	r.env = hermeticEnv(all)
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("log of %s (%s):\n%s", r.name, r.logPath, r.logTail())
		}
	})
	r.start()
	return r
}

// hermeticEnv is the test process's environment without any appbackend or Stripe
// setting of the machine, plus vars.
func hermeticEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "APPBACKEND_") || strings.HasPrefix(name, "STRIPE_") || strings.HasPrefix(name, "REPLICA_") {
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
func (r *replica) start() {
	r.t.Helper()
	logFile, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, r.args...)
	cmd.Env = r.env
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", r.bin, err)
	}
	exited := make(chan struct{})
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()

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
		r.mu.Lock()
		r.waitErr = err
		r.mu.Unlock()
		fmt.Fprintf(logFile, "=== exited: %v\n", err)
		logFile.Close()
		close(exited)
	}()
	select {
	case addr := <-listening:
		r.url = addr
	case <-exited:
		r.t.Fatalf("%s exited before listening: %v\n%s", r.name, r.waitErr, r.logTail())
	case <-time.After(60 * time.Second):
		r.kill()
		r.t.Fatalf("%s did not listen within 60 s\n%s", r.name, r.logTail())
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would, and returns
// once it is gone.
func (r *replica) kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop shuts the process down with SIGTERM, killing it after 20 s.
func (r *replica) stop() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
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
		r.t.Errorf("%s did not stop within 20 s of SIGTERM; killing it", r.name)
		r.kill()
	}
}

// running reports whether the process is still alive.
func (r *replica) running() bool {
	r.mu.Lock()
	exited := r.exited
	r.mu.Unlock()
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

func (r *replica) logTail() string {
	b, _ := os.ReadFile(r.logPath)
	const keep = 8000
	if len(b) > keep {
		b = append([]byte("…"), b[len(b)-keep:]...)
	}
	return string(b)
}

// httpClient is shared by the senders; requests are bounded so a hung replica shows.
var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
}

// signedEvent is an event body and a Stripe-Signature over it.
type signedEvent struct {
	id     string
	body   []byte
	header string
}

func newSignedEvent(eventType string, opts ...webhooktest.Option) signedEvent {
	id := webhooktest.NewID("evt_")
	body := webhooktest.Event(eventType, append([]webhooktest.Option{webhooktest.ID(id)}, opts...)...)
	return signedEvent{id: id, body: body, header: webhooktest.Sign(body, webhookSecret, time.Now())}
}

// post sends ev to the replica's webhook endpoint and returns the status, or 0 and the
// error when no answer came (a refused connection, a killed replica).
func post(ctx context.Context, baseURL string, ev signedEvent) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/webhooks/stripe", bytes.NewReader(ev.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", ev.header)
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

// get returns the status of GET url, or 0 when no answer came.
func get(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// openDB opens the replicas' database directly, for what the HTTP API does not show.
func openDB(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return db
}

// waitFor polls cond every 100 ms until it holds or the timeout passes, and reports
// whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// queryInt runs a query returning one integer.
func queryInt(t testing.TB, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
