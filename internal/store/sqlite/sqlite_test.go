package sqlite_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/appbackend/appbackend/internal/store/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return dbtest.SQLite(t) })
}

func TestOpenPragmas(t *testing.T) {
	t.Parallel()
	s := dbtest.SQLite(t)
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"temp_store", "2"}, // MEMORY: statement journals never spill into write(2)
	} {
		var got string
		if err := s.DB().QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
}

func TestOpenReopensWithSettings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "appbackend.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSetting(t.Context(), "dev.admin_token", "tok_1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, ok, err := s.Setting(t.Context(), "dev.admin_token")
	if err != nil || !ok || got != "tok_1" {
		t.Errorf("Setting after reopen = %q, %v, %v; want tok_1, true, nil", got, ok, err)
	}
	pending, err := s.PendingMigrations(t.Context())
	if err != nil || len(pending) != 0 {
		t.Errorf("PendingMigrations = %v, %v; want none", pending, err)
	}
}

func TestOpenBadPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"empty", "", "no path given"},
		{"directory", dir, "is a directory"},
		{"missing directory", filepath.Join(dir, "nope", "x.db"), "does not exist"},
		{"parent is a file", filepath.Join(file, "x.db"), "is not a directory"},
		{"memory", ":memory:", "plain file path"},
		{"not a database", notDB, "not a database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := sqlite.Open(t.Context(), tc.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error containing %q", tc.path, tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("Open(%q) error = %q, want one line containing %q", tc.path, msg, tc.want)
			}
		})
	}
}

func TestAppMigrations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	storetest.RunAppMigrations(t, func(t *testing.T, fsys fs.FS, migrate bool) storetest.MigratingStore {
		opts := []sqlite.Option{sqlite.WithAppMigrations(fsys)}
		if !migrate {
			opts = append(opts, sqlite.WithoutMigrations())
		}
		s, err := sqlite.Open(t.Context(), path, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
