// Package pgtest gives tests PostgreSQL databases of their own: a fresh, migrated
// database per test, created in a few milliseconds from a template, on the server
// that APPBACKEND_TEST_POSTGRES_URL names or, when it is unset, on a throwaway server
// that this test process starts from PostgreSQL's initdb and pg_ctl (on PATH or under
// /usr/lib/postgresql/*/bin), listening on a Unix socket in a temporary directory:
// no TCP port is ever picked. As root, that server runs as the system user postgres
// (initdb refuses root); pgtest installs nothing and creates no user, it fails the
// test with one line saying what to set or install.
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
// Nothing outlives the test process: the template and the databases of a process
// are named after it and dropped, and a server it started is stopped and its
// directory removed, by Stop or, when the process ends without it (a test binary
// that has no TestMain, or was killed), by a small watcher process (see watch.go).
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
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver of the admin connection
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store/postgres"
)

// EnvURL names a running PostgreSQL server for the tests (any database on it; the
// user must be allowed to create databases). `make test` sets it to the server that
// scripts/postgres.sh started (scripts/with-services.sh).
const EnvURL = "APPBACKEND_TEST_POSTGRES_URL"

// processToken is in the name of every database this process creates, so that its
// watcher can drop them all once the process is gone.
var processToken = randomHex(4)

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
		var s *Server
		s, shared.err = startServer()
		if shared.err == nil {
			shared.server, shared.url = s, s.url
		}
	}
	require.NoError(t, shared.err, "PostgreSQL")
	return shared.url
}

// Stop drops the databases and the template this process created and stops the
// server ServerURL started, if any, waiting until they are gone. Call it from
// TestMain after m.Run; without it, the process's watcher does the same once the
// process has exited.
func Stop() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, a := range shared.admins {
		a.db.Close()
		if a.watcher != nil {
			a.watcher.finish()
		}
	}
	shared.admins = nil
	if shared.server != nil {
		_ = shared.server.stop()
		shared.server = nil
		shared.url, shared.err = "", nil
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
	require.NoError(t, err, "PostgreSQL")
	name, err := a.createDatabase(t.Context(), migrated)
	require.NoError(t, err, "PostgreSQL")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := a.db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			require.FailNow(t, fmt.Sprintf("drop test database %s: %v", name, err))
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
		require.FailNow(t, fmt.Sprintf("%s=%q: want sqlite or postgres", EnvDatabase, kind))
		return ""
	}
}

// admin creates and drops databases on one server.
type admin struct {
	base    *url.URL // the server's URL; the path is replaced by each database's name
	db      *sql.DB  // connected to the maintenance database "postgres"
	watcher *watcher // drops this process's databases once the process is gone

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
	// Before the first database, so that none is left behind if the process dies.
	if a.watcher, err = startWatcher(cleanup{URL: a.urlOf("postgres"), Token: processToken}); err != nil {
		db.Close()
		return nil, err
	}
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
	name := databasePrefix + processToken + "_" + randomHex(6)
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

// The names of a process's databases and of its template: the prefix, the process's
// token, and a random part or the schema's fingerprint.
const (
	databasePrefix = "appbackend_t_"
	templatePrefix = "appbackend_tpl_"
)

// ensureTemplate creates this process's template, a database with the current
// migrations applied, named after the process so that it is dropped with the
// process's other databases. A template shared among processes would have to stay
// on the server for whichever process comes next, and be dropped by none.
//
// Measured on a loopback PostgreSQL 15: a copy of the template takes about 60 ms, a
// database migrated from scratch about 180 ms, so the template pays for itself from
// the second database of a process on.
func (a *admin) ensureTemplate(ctx context.Context) (string, error) {
	fingerprint, err := schemaFingerprint()
	if err != nil {
		return "", err
	}
	name := templatePrefix + processToken + "_" + fingerprint
	if _, err := a.db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", fmt.Errorf("build template: %w", err)
	}
	st, err := postgres.Open(ctx, a.urlOf(name), postgres.WithPoolSize(2))
	if err != nil {
		return "", fmt.Errorf("build template: %w", err)
	}
	if err := st.Close(); err != nil {
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
