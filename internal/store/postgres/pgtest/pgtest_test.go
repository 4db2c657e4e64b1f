package pgtest_test

import (
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func databaseName(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// Each test gets its own migrated database, and it is gone once the test ends.
func TestNewDatabase(t *testing.T) {
	var first, second string
	t.Run("two databases", func(t *testing.T) {
		first, second = pgtest.NewDatabase(t), pgtest.NewDatabase(t)
		if first == second {
			t.Fatalf("NewDatabase returned %s twice", first)
		}
		a, err := postgres.Open(t.Context(), first, postgres.WithoutMigrations())
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if pending, err := a.PendingMigrations(t.Context()); err != nil || len(pending) != 0 {
			t.Fatalf("PendingMigrations = %v, %v; want a migrated database", pending, err)
		}
		if err := a.PutSetting(t.Context(), "only", "in the first"); err != nil {
			t.Fatal(err)
		}
		b, err := postgres.Open(t.Context(), second, postgres.WithoutMigrations())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, ok, err := b.Setting(t.Context(), "only"); err != nil || ok {
			t.Errorf("the second database sees the first's setting (ok %v, err %v), want isolated databases", ok, err)
		}
	})
	admin, err := sql.Open("pgx", pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, u := range []string{first, second} {
		var exists bool
		if err := admin.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, databaseName(t, u)).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", databaseName(t, u))
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
			if got := pgtest.NewSetting(t); !strings.HasPrefix(got, tc.wantPrefix) {
				t.Errorf("NewSetting with %s=%q = %q, want a %s setting", pgtest.EnvDatabase, tc.kind, got, tc.wantPrefix)
			}
		})
	}
}
