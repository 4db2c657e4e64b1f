// Package pgtest gives tests PostgreSQL databases of their own: a fresh, migrated
// database per test, created in a few milliseconds from a template, on the server
// that APPBACKEND_TEST_POSTGRES_URL names or, when it is unset, on a throwaway server
// that this test process starts with scripts/postgres.sh (and stops in [Stop]).
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pgtest.Stop()
//		os.Exit(code)
//	}
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.NewDatabase(t) // postgres://…/appbackend_t_…, dropped when t ends
//		…
//	}
//
// [NewSetting] returns an APPBACKEND_DATABASE value for a fresh database of the kind
// APPBACKEND_TEST_DATABASE names (sqlite, the default, or postgres). The end-to-end
// tests use internal/e2etest, which runs every test on both databases unless that
// variable picks one.
//
// If no server can be had, the test fails with the reason: PostgreSQL is part of the
// test set-up, never a reason to skip.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver of the admin connection
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/appbackend/appbackend/internal/store/postgres"
)

// EnvURL names a running PostgreSQL server for the tests (any database on it; the
// user must be allowed to create databases). `make test` sets it to the server that
// scripts/postgres.sh started.
const EnvURL = "APPBACKEND_TEST_POSTGRES_URL"

var shared struct {
	mu     sync.Mutex
	url    string
	err    error
	server *Server // started by this process, stopped by Stop
	admins map[string]*admin
}

// ServerURL returns the URL of the server the tests use: EnvURL when set, else the
// URL of a server this process starts. It fails the test if neither can be had.
func ServerURL(t testing.TB) string {
	t.Helper()
	if u := strings.TrimSpace(os.Getenv(EnvURL)); u != "" {
		return u
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.url == "" && shared.err == nil {
		reapAbandoned()
		var s *Server
		s, shared.err = startServer(fmt.Sprint(os.Getpid()))
		if shared.err == nil {
			shared.server, shared.url = s, s.url
		}
	}
	if shared.err != nil {
		t.Fatalf("PostgreSQL: %v (set %s to a server, or make scripts/postgres.sh start work)", shared.err, EnvURL)
	}
	return shared.url
}

// Stop stops the server ServerURL started, if any. Call it from TestMain after m.Run.
func Stop() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, a := range shared.admins {
		a.db.Close()
	}
	shared.admins = nil
	if shared.server != nil {
		_ = shared.server.stop()
		shared.server = nil
	}
}

// NewDatabase creates an empty database with appbackend's and River's migrations
// applied, drops it when the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// NewEmptyDatabase creates a database without any table (for tests of migrating),
// drops it when the test ends, and returns its URL.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	a, err := adminFor(ServerURL(t))
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	name, err := a.createDatabase(t.Context(), migrated)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := a.db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return a.urlOf(name)
}

// EnvDatabase chooses the database of the end-to-end tests that run on either:
// "sqlite" (the default) or "postgres".
const EnvDatabase = "APPBACKEND_TEST_DATABASE"

// NewSetting returns an APPBACKEND_DATABASE value for a fresh database of the kind
// EnvDatabase selects: sqlite:PATH in a temporary directory (no file yet), or the URL
// of a new, migrated PostgreSQL database dropped when the test ends. An unknown kind
// fails the test.
func NewSetting(t testing.TB) string {
	t.Helper()
	switch kind := strings.TrimSpace(os.Getenv(EnvDatabase)); kind {
	case "", "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "appbackend.db")
	case "postgres":
		return NewDatabase(t)
	default:
		t.Fatalf("%s=%q: want sqlite or postgres", EnvDatabase, kind)
		return ""
	}
}

// admin creates and drops databases on one server.
type admin struct {
	base *url.URL // the server's URL; the path is replaced by each database's name
	db   *sql.DB  // connected to the maintenance database "postgres"

	once     sync.Once
	template string
	err      error
}

func adminFor(serverURL string) (*admin, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if a := shared.admins[serverURL]; a != nil {
		return a, nil
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL", EnvURL)
	}
	a := &admin{base: u}
	db, err := sql.Open("pgx", a.urlOf("postgres"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	a.db = db
	if shared.admins == nil {
		shared.admins = map[string]*admin{}
	}
	shared.admins[serverURL] = a
	return a, nil
}

func (a *admin) urlOf(database string) string {
	u := *a.base
	u.Path = "/" + database
	return u.String()
}

// createDatabase creates a new database, a copy of the migrated template or an empty
// one, and returns its name.
func (a *admin) createDatabase(ctx context.Context, migrated bool) (string, error) {
	name := "appbackend_t_" + randomHex(8)
	create := `CREATE DATABASE ` + name
	if migrated {
		a.once.Do(func() {
			// Not the first test's context: the template outlives that test.
			buildCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			a.template, a.err = a.ensureTemplate(buildCtx)
		})
		if a.err != nil {
			return "", a.err
		}
		create += ` TEMPLATE ` + a.template
	}
	if _, err := a.db.ExecContext(ctx, create); err != nil {
		return "", fmt.Errorf("create test database: %w", err)
	}
	return name, nil
}

// templateLockKey serializes the building of templates among test processes.
const templateLockKey int64 = 0x617070626d74706c // "appbmtpl"

// ensureTemplate returns the name of a database with the current migrations applied,
// building it once per schema: its name carries a hash of appbackend's and River's
// migrations, so test processes (and runs, on a long-lived server) share it until the
// schema changes.
func (a *admin) ensureTemplate(ctx context.Context) (string, error) {
	fingerprint, err := schemaFingerprint()
	if err != nil {
		return "", err
	}
	name := "appbackend_tpl_" + fingerprint
	conn, err := a.db.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", a.base.Redacted(), err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, templateLockKey); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, templateLockKey)
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Built under another name and renamed when complete, so that a process that died
	// mid-way leaves no half-migrated template behind.
	building := name + "_building"
	for _, stmt := range []string{
		`DROP DATABASE IF EXISTS ` + building + ` WITH (FORCE)`,
		`CREATE DATABASE ` + building,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return "", fmt.Errorf("build template: %w", err)
		}
	}
	st, err := postgres.Open(ctx, a.urlOf(building), postgres.WithPoolSize(2))
	if err != nil {
		return "", fmt.Errorf("build template: %w", err)
	}
	if err := st.Close(); err != nil {
		return "", fmt.Errorf("build template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `ALTER DATABASE `+building+` RENAME TO `+name); err != nil {
		return "", fmt.Errorf("build template: %w", err)
	}
	return name, nil
}

// schemaFingerprint hashes appbackend's and River's migrations.
func schemaFingerprint() (string, error) {
	ours, err := postgres.Migrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range ours {
		fmt.Fprintf(h, "%d %s\n%s\n", m.Version, m.Name, m.SQL)
	}
	migrator, err := rivermigrate.New(riverdatabasesql.New(nil), nil)
	if err != nil {
		return "", err
	}
	for _, m := range migrator.AllVersions() {
		fmt.Fprintf(h, "river %d\n%s\n", m.Version, m.SQLUp)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Server is a PostgreSQL server of scripts/postgres.sh, with its own data directory.
type Server struct {
	dir string // APPBACKEND_PG_DIR
	url string
}

// StartServer starts a server for this test alone — for tests that take the database
// away ([Server.Down]) and bring it back — and stops it when the test ends. Its URL
// names the database appbackend_test, empty and unmigrated.
func StartServer(t testing.TB) *Server {
	t.Helper()
	reapOnce.Do(reapAbandoned)
	s, err := startServer(fmt.Sprintf("%d-%s", os.Getpid(), randomHex(4)))
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return s
}

// URL is the server's URL (database appbackend_test).
func (s *Server) URL() string { return s.url }

// Down stops the server, keeping its data, as an outage would.
func (s *Server) Down(t testing.TB) {
	t.Helper()
	if _, err := s.script("down"); err != nil {
		t.Fatalf("PostgreSQL down: %v", err)
	}
}

// Up starts the server again after Down, on the same port.
func (s *Server) Up(t testing.TB) {
	t.Helper()
	u, err := s.script("start")
	if err != nil {
		t.Fatalf("PostgreSQL up: %v", err)
	}
	if u != s.url {
		t.Fatalf("PostgreSQL came back at %s, want %s (its port was taken meanwhile)", u, s.url)
	}
}

// Freeze stops every process of the server with SIGSTOP: connections are accepted
// by the kernel but never answered, as across a network partition.
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	if err := s.signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("PostgreSQL freeze: %v", err)
	}
}

// Thaw resumes a server after Freeze.
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	if err := s.signal(syscall.SIGCONT); err != nil {
		t.Fatalf("PostgreSQL thaw: %v", err)
	}
}

// signal sends sig to the postmaster and its children.
func (s *Server) signal(sig syscall.Signal) error {
	// scripts/postgres.sh keeps the server's files in STATE/pg, or where STATE/pgdir says.
	pgdir := filepath.Join(s.dir, "pg")
	if b, err := os.ReadFile(filepath.Join(s.dir, "pgdir")); err == nil {
		pgdir = strings.TrimSpace(string(b))
	}
	pidFile, err := os.ReadFile(filepath.Join(pgdir, "data", "postmaster.pid"))
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(pidFile), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	pids := []int{postmaster}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may contain spaces, so read after the last ')'.
		_, rest, ok := strings.Cut(string(stat[bytes.LastIndexByte(stat, ')')+1:]), " ")
		fields := strings.Fields(rest)
		if !ok || len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == postmaster {
			pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/stat"))
			pids = append(pids, pid)
		}
	}
	// The postmaster first, so that it forks no new backend meanwhile.
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	return nil
}

var reapOnce sync.Once

// stateRoot is where the servers of test processes keep their state.
func stateRoot() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".tmp", "pgtest"), nil
}

func startServer(name string) (*Server, error) {
	root, err := stateRoot()
	if err != nil {
		return nil, err
	}
	s := &Server{dir: filepath.Join(root, name)}
	if s.url, err = s.script("start"); err != nil {
		_ = s.stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) stop() error {
	_, err := s.script("stop")
	return err
}

// script runs scripts/postgres.sh with the server's state directory and returns the
// last line it printed.
func (s *Server) script(command string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(s.dir), 0o755); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "postgres.sh"), command)
	cmd.Env = append(os.Environ(), "APPBACKEND_PG_DIR="+s.dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("scripts/postgres.sh %s: %s", command, msg)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// reapAbandoned stops the servers of test processes that died without Stop (a test
// binary killed by its timeout, say), found by the process id their directory names.
func reapAbandoned() {
	root, err := stateRoot()
	if err != nil {
		return
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		pidText, _, _ := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = (&Server{dir: filepath.Join(root, e.Name())}).stop()
		}
	}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "postgres.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/postgres.sh not found above the test's directory")
		}
		dir = parent
	}
}
