package pgtest_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func databaseName(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return strings.TrimPrefix(u.Path, "/")
}

// Each test gets its own migrated database, and it is gone once the test ends.
func TestNewDatabase(t *testing.T) {
	var first, second string
	t.Run("two databases", func(t *testing.T) {
		first, second = pgtest.NewDatabase(t), pgtest.NewDatabase(t)
		require.NotEqual(t, second, first, "NewDatabase returned %s twice", first)
		a, err := postgres.Open(t.Context(), first, postgres.WithoutMigrations())
		require.NoError(t, err)
		defer a.Close()
		if pending, err := a.PendingMigrations(t.Context()); err != nil || len(pending) != 0 {
			require.FailNow(t, fmt.Sprintf("PendingMigrations = %v, %v; want a migrated database", pending, err))
		}
		require.NoError(t, a.PutSetting(t.Context(), "only", "in the first"))
		b, err := postgres.Open(t.Context(), second, postgres.WithoutMigrations())
		require.NoError(t, err)
		defer b.Close()
		if _, ok, err := b.Setting(t.Context(), "only"); err != nil || ok {
			require.FailNow(t, fmt.Sprintf("the second database sees the first's setting (ok %v, err %v), want isolated databases", ok, err))
		}
	})
	admin, err := sql.Open("pgx", pgtest.ServerURL(t))
	require.NoError(t, err)
	defer admin.Close()
	for _, u := range []string{first, second} {
		var exists bool
		require.NoError(t, admin.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, databaseName(t, u)).Scan(&exists))
		if exists {
			require.FailNow(t, fmt.Sprintf("database %s still exists after its test ended", databaseName(t, u)))
		}
	}
}

func TestNewSetting(t *testing.T) {
	for _, tc := range []struct {
		kind, wantPrefix string
	}{
		{"", "sqlite:"},
		{"sqlite", "sqlite:"},
		{"postgres", "postgres://"},
	} {
		t.Run("kind "+tc.kind, func(t *testing.T) {
			t.Setenv(pgtest.EnvDatabase, tc.kind)
			got := pgtest.NewSetting(t)
			require.True(t, strings.HasPrefix(got, tc.wantPrefix), "NewSetting with %s=%q = %q, want a %s setting", pgtest.EnvDatabase, tc.kind, got, tc.wantPrefix)
		})
	}
}

// envHelper makes TestHelperProcess a test process that takes a database and then
// exits at once, as a test binary without pgtest.Stop does.
const envHelper = "PGTEST_HELPER_PROCESS"

func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) == "" {
		t.Skip("run by the tests of what a process leaves behind")
	}
	u := pgtest.NewDatabase(t)
	db, err := sql.Open("pgx", u)
	require.NoError(t, err)
	var mine int
	token := strings.Split(databaseName(t, u), "_")[2]
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM pg_database WHERE datname LIKE '%\_' || $1 || '\_%'`, token).Scan(&mine))
	fmt.Printf("URL %s\nTOKEN %s\nMINE %d\n", u, token, mine)
	os.Exit(0) // no cleanup, no Stop
}

// runHelper runs TestHelperProcess with EnvURL set to serverURL (empty: unset) and
// returns what it printed.
func runHelper(t *testing.T, serverURL string) map[string]string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"=1", pgtest.EnvURL+"="+serverURL)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "helper process: %v\n%s", err, out)
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			got[k] = v
		}
	}
	require.NotEqual(t, "", got["URL"], "helper process printed no URL:\n%s", out)
	return got
}

// waitFor polls cond every 50 ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// A test process that ends without Stop (an app's tests of appbackendtest have no
// TestMain of ours) leaves neither its databases nor its template on the server.
func TestNothingLeftOnTheServerAfterTheProcess(t *testing.T) {
	t.Parallel()
	server := pgtest.ServerURL(t)
	got := runHelper(t, server)
	if got["MINE"] != "2" {
		require.FailNow(t, fmt.Sprintf("the helper process had %s databases of its own, want 2 (its database and its template)", got["MINE"]))
	}
	admin, err := sql.Open("pgx", server)
	require.NoError(t, err)
	defer admin.Close()
	left := func() (names []string) {
		rows, err := admin.QueryContext(t.Context(), `SELECT datname FROM pg_database WHERE datname LIKE '%\_' || $1 || '\_%'`, got["TOKEN"])
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var n string
			_ = rows.Scan(&n)
			names = append(names, n)
		}
		return names
	}
	if !waitFor(30*time.Second, func() bool { return len(left()) == 0 }) {
		require.FailNow(t, fmt.Sprintf("30 s after the test process ended, its databases %v are still on the server", left()))
	}
}

// A server that a test process started for itself is stopped and its directory
// removed once the process ends, even without Stop.
func TestNoServerLeftAfterTheProcess(t *testing.T) {
	t.Parallel()
	got := runHelper(t, "")
	u, err := url.Parse(got["URL"])
	require.NoError(t, err)
	dir := u.Query().Get("host")
	if !strings.HasPrefix(dir, "/") || u.Port() != "" {
		require.FailNow(t, fmt.Sprintf("the helper's own server is at %s, want a Unix socket's directory and no TCP port", got["URL"]))
	}
	require.True(t, waitFor(30*time.Second, func() bool { _, err := os.Stat(dir); return errors.Is(err, os.ErrNotExist) }), "30 s after the test process ended, its server's directory %s is still there", dir)
}

// A server of StartServer comes back at the same address after Down, with its data.
func TestStartServerDownUp(t *testing.T) {
	t.Parallel()
	server := pgtest.StartServer(t)
	before := server.URL()
	db, err := sql.Open("pgx", before)
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxIdleConns(0)
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)`); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	server.Down(t)
	if err := db.PingContext(t.Context()); err == nil {
		require.FailNow(t, "Ping succeeded while the server is down")
	}
	server.Up(t)
	if server.URL() != before {
		require.FailNow(t, fmt.Sprintf("URL after Up = %s, want %s", server.URL(), before))
	}
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT n FROM kept`).Scan(&n); err != nil || n != 7 {
		require.FailNow(t, fmt.Sprintf("after Down and Up: n = %d, %v; want the row written before", n, err))
	}
}
