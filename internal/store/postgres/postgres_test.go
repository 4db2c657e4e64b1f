package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func open(t *testing.T, rawURL string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), rawURL, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgtest.NewDatabase(t))
	})
}

// withQuery returns rawURL with the query parameter key set to value.
func withQuery(t *testing.T, rawURL, key, value string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestPoolSize(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	for _, tc := range []struct {
		name string
		url  string
		opts []postgres.Option
		want int
	}{
		{"default", dbURL, nil, postgres.DefaultPoolSize},
		{"from the URL", withQuery(t, dbURL, "pool_max_conns", "3"), nil, 3},
		{"option overrides the URL", withQuery(t, dbURL, "pool_max_conns", "3"), []postgres.Option{postgres.WithPoolSize(7)}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, tc.url, tc.opts...)
			got := s.DB().Stats().MaxOpenConnections
			require.Equal(t, tc.want, got, "MaxOpenConnections = %d, want %d", got, tc.want)
		})
	}
}

func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	for _, tc := range []struct {
		name string
		url  string
		opts []postgres.Option
		want string
	}{
		{"none by default", dbURL, nil, "0"},
		{"from the URL", withQuery(t, dbURL, "statement_timeout", "150ms"), nil, "150ms"},
		{"option overrides the URL", withQuery(t, dbURL, "statement_timeout", "150ms"), []postgres.Option{postgres.WithStatementTimeout(2 * time.Second)}, "2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, tc.url, tc.opts...)
			var got string
			require.NoError(t, s.DB().QueryRowContext(t.Context(), "SHOW statement_timeout").Scan(&got))
			require.Equal(t, tc.want, got, "statement_timeout = %q, want %q", got, tc.want)
		})
	}

	t.Run("cancels a long statement", func(t *testing.T) {
		t.Parallel()
		s := open(t, dbURL, postgres.WithStatementTimeout(100*time.Millisecond))
		start := time.Now()
		_, err := s.DB().ExecContext(t.Context(), "SELECT pg_sleep(5)")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" { // query_canceled
			require.FailNow(t, fmt.Sprintf("pg_sleep(5) err = %v, want query_canceled", err))
		}
		took := time.Since(start)
		require.LessOrEqual(t, took, 3*time.Second, "cancelled after %v, want about 100ms", took)
	})
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	server, err := url.Parse(pgtest.ServerURL(t))
	require.NoError(t, err)
	const password = "s3cret-pw"
	missingDB := *server
	missingDB.Path = "/appbackend_no_such_database"
	storetest.RunOpenErrors(t, func(ctx context.Context, url string) (io.Closer, error) {
		return postgres.Open(ctx, url)
	}, password, []storetest.OpenErrorCase{
		{Name: "not a postgres URL", Target: "mysql://u:" + password + "@localhost/db", Want: "want a postgres:// URL"},
		{Name: "malformed", Target: "postgres://u:" + password + "@localhost:port/db", Want: "malformed URL"},
		{Name: "no host", Target: "postgres:///db", Want: "no host"},
		{Name: "bad pool size", Target: "postgres://u:" + password + "@127.0.0.1/db?pool_max_conns=0", Want: `pool_max_conns "0" is not a positive number`},
		{Name: "unreachable", Target: "postgres://u:" + password + "@127.0.0.1:1/db?sslmode=disable", Want: "connection refused"},
		{Name: "unknown host", Target: "postgres://u:" + password + "@nonexistent.invalid/db?sslmode=disable&connect_timeout=2", Want: "hostname resolving error"},
		{Name: "missing database", Target: missingDB.String(), Want: `database "appbackend_no_such_database" does not exist`},
	})
}

func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewEmptyDatabase(t)
	// Replicas starting together: each migration is applied once and every one opens.
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, 3)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dbURL) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "replica %d", i)
		defer stores[i].Close()
	}
	var applied int
	require.NoError(t, stores[0].DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM appbackend_migrations").Scan(&applied))
	all, err := postgres.Migrations()
	require.NoError(t, err)
	require.Equal(t, len(all), applied, "%d migration rows, want %d", applied, len(all))
	pending, err := stores[1].PendingMigrations(t.Context())
	require.NoError(t, err, "PendingMigrations = %v, %v; want none", pending, err)
	require.Empty(t, pending, "PendingMigrations = %v, %v; want none", pending, err)
}

func TestWithoutMigrations(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewEmptyDatabase(t)
	s := open(t, dbURL, postgres.WithoutMigrations())
	pending, err := s.PendingMigrations(t.Context())
	require.NoError(t, err)
	all, err := postgres.Migrations()
	require.NoError(t, err)
	require.Len(t, pending, len(all), "PendingMigrations on an empty database = %d, want all %d", len(pending), len(all))
	require.NoError(t, s.Migrate(t.Context()))
	require.NoError(t, s.PutSetting(t.Context(), "k", "v"), "PutSetting after Migrate")
}

// The PostgreSQL migrations are the SQLite ones in another dialect: same versions,
// same names.
func TestMigrationsMatchSQLite(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("../sqlite/migrations")
	require.NoError(t, err)
	var sqlite []string
	for _, e := range entries {
		sqlite = append(sqlite, strings.TrimSuffix(e.Name(), ".sql"))
	}
	all, err := postgres.Migrations()
	require.NoError(t, err)
	var pg []string
	for _, m := range all {
		pg = append(pg, m.Name)
	}
	require.True(t, slices.Equal(pg, sqlite), "PostgreSQL migrations %v, SQLite migrations %v; want the same", pg, sqlite)
}

type wakeArgs struct{}

func (wakeArgs) Kind() string { return "postgres_test.wake" }

type wakeWorker struct {
	river.WorkerDefaults[wakeArgs]
	done chan struct{}
}

func (w *wakeWorker) Work(context.Context, *river.Job[wakeArgs]) error {
	close(w.done)
	return nil
}

// River hears of a new job through LISTEN/NOTIFY: with a poll interval far longer than
// the wait, the job still runs at once.
func TestRiverListensForJobs(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t))
	require.True(t, s.RiverDriver().SupportsListener(), "RiverDriver does not support a listener; River would only poll")
	workers := river.NewWorkers()
	w := &wakeWorker{done: make(chan struct{})}
	river.AddWorker(workers, w)
	client, err := river.NewClient(s.RiverDriver(), &river.Config{
		FetchPollInterval: time.Minute,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
		Workers:           workers,
	})
	require.NoError(t, err)
	require.NoError(t, client.Start(t.Context()))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.Stop(ctx)
	}()
	// Let the client's first fetch pass, so that only a notification can wake it.
	time.Sleep(500 * time.Millisecond)
	if _, err := client.Insert(t.Context(), wakeArgs{}, nil); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the job did not run within 10 s with a one-minute poll interval: River is not listening")
	}
}

// While the server is down, Ping fails within its bound with one line; once it is
// back, Ping and writes succeed again on the same Store.
func TestPingFollowsTheServer(t *testing.T) {
	t.Parallel()
	server := pgtest.StartServer(t)
	s := open(t, server.URL())
	require.NoError(t, s.PutSetting(t.Context(), "before", "1"))
	server.Down(t)
	start := time.Now()
	err := s.Ping(t.Context())
	require.Error(t, err, "Ping succeeded while the server is down")
	took := time.Since(start)
	require.LessOrEqual(t, took, postgres.PingTimeout+time.Second, "Ping took %v while the server is down, want at most %v", took, postgres.PingTimeout)
	msg := err.Error()
	require.NotContains(t, msg, "\n", "Ping error = %q, want one line", msg)
	server.Up(t)
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(t.Context()) != nil {
		if time.Now().After(deadline) {
			require.FailNow(t, fmt.Sprintf("Ping still fails 10 s after the server came back: %v", s.Ping(t.Context())))
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, s.PutSetting(t.Context(), "after", "1"), "PutSetting after the server came back")
}

func TestAppMigrations(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	storetest.RunAppMigrations(t, func(t *testing.T, fsys fs.FS, migrate bool) storetest.MigratingStore {
		opts := []postgres.Option{postgres.WithAppMigrations(fsys)}
		if !migrate {
			opts = append(opts, postgres.WithoutMigrations())
		}
		return open(t, url, opts...)
	})
}
