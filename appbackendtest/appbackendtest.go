package appbackendtest

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

// The secrets and key every App is started with. Requests (App.As) and events
// (App.Deliver) are signed with them; a test that signs by other means (a UI
// extension test's fixtures, `appbackend sign`) can use them too.
const (
	// AppSecret is the app's signing secret (Config.AppSecrets).
	AppSecret = "absec_appbackendtest_0123456789abcdef"
	// LiveWebhookSecret and TestWebhookSecret are the signing secrets of the live and
	// the test webhook endpoint (Config.WebhookSecrets); Deliver signs an event with
	// the one of its mode.
	LiveWebhookSecret = "whsec_appbackendtest_live_0123456789"
	TestWebhookSecret = "whsec_appbackendtest_test_0123456789"
	// TestSecretKey is the platform's test-mode API key (Config.TestSecretKey). No
	// live key is configured, so that app.Stripe(ctx) works in test mode without a
	// signed livemode; set Config.SecretKey with WithConfig to test both modes.
	TestSecretKey = "sk_test_appbackendtest"
)

// Environment variables Start reads to choose the database.
const (
	// EnvDatabase chooses the database: "sqlite" (the default) or "postgres".
	EnvDatabase = "APPBACKEND_TEST_DATABASE"
	// EnvPostgresURL names the PostgreSQL server for EnvDatabase=postgres: any
	// database on it, as a user allowed to create databases. Each App gets a new
	// database there, dropped when its test ends. Unset, the kit starts a throwaway
	// server of its own from PostgreSQL's initdb and pg_ctl (on PATH or under
	// /usr/lib/postgresql/*/bin), on a Unix socket, stopped when the test binary ends.
	EnvPostgresURL = "APPBACKEND_TEST_POSTGRES_URL"
)

// WaitTimeout bounds every wait of the kit (start, events, jobs). It is long, for
// busy CI machines: a wait ends as soon as its condition holds, and the timeout only
// decides how long a broken test takes to fail.
const WaitTimeout = 60 * time.Second

// pollInterval is how often a wait looks again.
const pollInterval = 20 * time.Millisecond

// retryDelay is how soon a failed event or job is retried in tests.
const retryDelay = 50 * time.Millisecond

// App is an appbackend.App running for one test on a loopback port, with the
// helpers that test it from outside: signed Dashboard calls (As), signed webhook
// events (Deliver, Install, Uninstall) and waits for their effects. Its embedded
// *appbackend.App is the running app: DB, InTx, Enqueue, Stripe, Replay and the
// rest work on it as in production.
type App struct {
	*appbackend.App

	// URL is the app's base URL, http://127.0.0.1:PORT.
	URL string
	// Database is its Config.Database: "sqlite:PATH" or a postgres:// URL.
	Database string
	// Fake is the StripeFake the app calls (Config.APIBase); nil when the test chose
	// stripe-mock (WithStripeMock) or its own API base (WithConfig).
	Fake *StripeFake

	kind string // "sqlite" or "postgres"
	logs *logBuffer

	riverOnce sync.Once
	river     *river.Client[*sql.Tx]
	riverErr  error
}

// Option adjusts how Start builds an App.
type Option func(*options)

type options struct {
	configure  []func(*appbackend.Config)
	stripeMock bool
}

// WithConfig lets fn adjust the test configuration before the app is built:
// Migrations, a live SecretKey, MaxBody, EventMaxAttempts, a Logger that shows the
// logs as they come, or anything else. Listener and Ready are the kit's. Options
// apply in order.
func WithConfig(fn func(cfg *appbackend.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, fn) }
}

// WithStripeMock points the app at stripe-mock (StripeMockURL) instead of a
// StripeFake: for tests that check that the app's Stripe requests are well-formed.
func WithStripeMock() Option {
	return func(o *options) { o.stripeMock = true }
}

// Start builds an App with a test configuration, lets register add its routes,
// handlers, hooks, workers and schedules (as the app's main does), and runs it until
// the test ends. register may be nil.
//
// The configuration: AppSecret; LiveWebhookSecret and TestWebhookSecret; the test key
// TestSecretKey on a new StripeFake (or stripe-mock with WithStripeMock); a database
// of its own, new and empty (see below); failed events and jobs retried after 50 ms
// instead of River's backoff (Config.EventRetryPolicy); a 127.0.0.1 port of the
// system's choosing; and logs kept in memory, shown only if the test fails. Options
// change any of it.
//
// The database is a SQLite file in t.TempDir(), or, when APPBACKEND_TEST_DATABASE is
// "postgres", a new database on the PostgreSQL server APPBACKEND_TEST_POSTGRES_URL
// names (or, unset, on a server the kit starts from initdb and pg_ctl), dropped when
// the test ends: the same suite runs on either. The kit installs nothing: what it
// cannot find fails the test with one line saying what to set or install. Config.Migrations
// (WithConfig) are applied at start, as in production.
//
// Start fails the test if the app does not start. When the test ends, the app is
// shut down, and the test fails if Run returned an error.
func Start(t testing.TB, register func(app *appbackend.App), opts ...Option) *App {
	t.Helper()
	a, cfg := newTestApp(t, opts)
	logs := a.logs

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("appbackendtest: listen: %v", err)
	}
	ready := make(chan struct{})
	cfg.Listener = ln
	cfg.Ready = func(net.Addr) { close(ready) }
	app, err := appbackend.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("appbackendtest: %v", err)
	}
	if register != nil {
		register(app)
	}
	a.App = app
	a.URL = "http://" + ln.Addr().String()

	// Not t.Context(): that ends before the test's cleanups, which may still call
	// the app; this one ends in the cleanup below, registered before theirs.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	started := false
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && started {
			t.Errorf("appbackendtest: Run returned an error at shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("appbackendtest: logs of the app:\n%s", logs.tail(64<<10))
		}
	})
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("appbackendtest: the app did not start: %v\n%s", err, logs.tail(16<<10))
	case <-time.After(WaitTimeout):
		t.Fatalf("appbackendtest: the app did not start within %v\n%s", WaitTimeout, logs.tail(16<<10))
	}
	started = true
	return a
}

// newTestApp builds the test configuration of Start and NewWorker (a new database,
// the kit's secrets, the StripeFake, then the test's options) and the App that will
// carry it.
func newTestApp(t testing.TB, opts []Option) (*App, appbackend.Config) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	setting := newDatabase(t)
	logs := &logBuffer{}
	cfg := appbackend.Config{
		Database:         setting,
		AppSecrets:       []string{AppSecret},
		WebhookSecrets:   []string{LiveWebhookSecret, TestWebhookSecret},
		TestSecretKey:    TestSecretKey,
		Logger:           slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		EventRetryPolicy: fixedRetry{retryDelay},
		ShutdownTimeout:  WaitTimeout / 2,
	}
	for _, fn := range o.configure {
		fn(&cfg)
	}
	a := &App{Database: cfg.Database, logs: logs}
	if cfg.APIBase == "" {
		if o.stripeMock {
			cfg.APIBase = StripeMockURL(t)
		} else {
			a.Fake = NewStripeFake(t)
			cfg.APIBase = a.Fake.URL
		}
	}
	kind, _, err := setup.ParseDatabase(cfg.Database)
	if err != nil {
		t.Fatalf("appbackendtest: %v", err)
	}
	a.kind = kind
	return a, cfg
}

// newDatabase returns the Config.Database of a new database of the kind EnvDatabase
// chooses.
func newDatabase(t testing.TB) string {
	t.Helper()
	switch kind := strings.TrimSpace(os.Getenv(EnvDatabase)); kind {
	case "", "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "appbackend.db")
	case "postgres":
		return pgtest.NewDatabase(t)
	default:
		t.Fatalf("appbackendtest: %s=%q: want sqlite or postgres", EnvDatabase, kind)
		return ""
	}
}

// Postgres reports whether the app runs on PostgreSQL (else SQLite), for the few
// statements a test writes differently on each.
func (a *App) Postgres() bool { return a.kind == "postgres" }

// Installation returns the app's installation on account in a mode, and false if
// the account never installed it in that mode; it fails the test on a read error. (The
// app's own appbackend.App.Installation, with a context and an error, is
// a.App.Installation.)
func (a *App) Installation(t testing.TB, account string, livemode bool) (appbackend.Installation, bool) {
	t.Helper()
	in, ok, err := a.App.Installation(context.Background(), account, livemode)
	if err != nil {
		t.Fatalf("appbackendtest: installation of %s: %v", account, err)
	}
	return in, ok
}

// WaitForJob waits until the job with id is finalized — completed, cancelled, or
// discarded after its last attempt — and returns its status (State, Attempts,
// Errors, Output), as GET /api/jobs/{id} shows it. It fails the test if the job does
// not exist or is not finalized within WaitTimeout.
func (a *App) WaitForJob(t testing.TB, id int64) appbackend.JobStatus {
	t.Helper()
	client := a.riverClient(t)
	deadline := time.Now().Add(WaitTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
		job, err := client.JobGet(ctx, id)
		cancel()
		if err != nil {
			t.Fatalf("appbackendtest: job %d: %v", id, err)
		}
		status := appbackend.JobStatusOf(job)
		if status.FinalizedAt != nil {
			return status
		}
		if time.Now().After(deadline) {
			t.Fatalf("appbackendtest: job %d (%s) is still %s after %v, attempt %d; errors: %v",
				id, job.Kind, job.State, WaitTimeout, job.Attempt, status.Errors)
		}
		time.Sleep(pollInterval)
	}
}

// riverClient is an insert-only River client on the app's database, for reading jobs.
func (a *App) riverClient(t testing.TB) *river.Client[*sql.Tx] {
	t.Helper()
	a.riverOnce.Do(func() {
		cfg := &river.Config{Logger: slog.New(slog.DiscardHandler)}
		if a.kind == "postgres" {
			a.river, a.riverErr = river.NewClient(riverdatabasesql.New(a.DB()), cfg)
		} else {
			a.river, a.riverErr = river.NewClient(riversqlite.New(a.DB()), cfg)
		}
	})
	if a.riverErr != nil {
		t.Fatalf("appbackendtest: River client: %v", a.riverErr)
	}
	return a.river
}

// fixedRetry retries failed events and jobs after a fixed delay.
type fixedRetry struct{ delay time.Duration }

func (r fixedRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(r.delay) }

// logBuffer keeps the app's logs, the newest megabyte of them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxLogs = 1 << 20

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - maxLogs; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

// tail returns the last n bytes of the logs.
func (b *logBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	if s == "" {
		return "(no logs)"
	}
	return s
}
