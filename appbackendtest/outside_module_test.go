package appbackendtest_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/stretchr/testify/require"
)

// kitcheckTest is an app author's test of their own module: a signed Dashboard call,
// and an event that reaches the app's OnEvent handler, which writes to the app's
// table in the event's transaction. It asserts with testify's require, as this
// repository's tests do: the module resolves it (GOFLAGS=-mod=mod below) at the
// version appbackend requires, whose sums are in the go.sum it is given.
const kitcheckTest = `package kitcheck

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
)

func register(app *appbackend.App) {
	app.HandleFunc("POST /api/hello", func(w http.ResponseWriter, r *http.Request) {
		id, _ := appbackend.IdentityFrom(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]string{"account": id.AccountID})
	})
	app.OnEvent("customer.created", func(ctx context.Context, ev appbackend.Event) error {
		tx, _ := appbackend.Tx(ctx)
		_, err := tx.ExecContext(ctx, ` + "`INSERT INTO seen (id) VALUES ($1)`" + `, ev.ID)
		return err
	})
}

func TestKit(t *testing.T) {
	app := appbackendtest.Start(t, register, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.Migrations = fstest.MapFS{"0001_seen.sql": {Data: []byte(` + "`CREATE TABLE seen (id TEXT PRIMARY KEY)`" + `)}}
	}))
	res := app.As("usr_1", "acct_1").Post(t, "/api/hello", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	var out struct{ Account string }
	res.JSON(t, &out)
	require.Equal(t, "acct_1", out.Account)
	id := app.Deliver(t, appbackendtest.Event{Type: "customer.created", Account: "acct_1"})
	app.WaitForEvent(t, id)
	var n int
	require.NoError(t, app.ReadDB().QueryRow(` + "`SELECT COUNT(*) FROM seen WHERE id = $1`" + `, id).Scan(&n))
	require.Equal(t, 1, n, "the handler recorded the event %d times, want once", n)
	t.Logf("database %s, postgres %v", app.Database[:8], app.Postgres())
}
`

// The kit works in an app author's own module, which has none of this repository's
// scripts: a module in a temporary directory, outside the repository, requires this
// one (through a replace) and runs its tests on SQLite, on the PostgreSQL server that
// APPBACKEND_TEST_POSTGRES_URL names, and on a server the kit starts itself.
func TestKitOutsideTheRepository(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			require.FailNow(t, fmt.Sprintf("the go command is needed to test the kit from another module: not on PATH nor in %s", goBin))
		}
	}
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	goSum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	require.NoError(t, err)
	dir := t.TempDir()
	if rel, err := filepath.Rel(repo, dir); err == nil && !strings.HasPrefix(rel, "..") {
		require.FailNow(t, fmt.Sprintf("the temporary directory %s is inside the repository %s", dir, repo))
	}
	goMod := "module example.com/kitcheck\n\ngo 1.26\n\nrequire github.com/appbackend/appbackend v0.0.0\n\n" +
		"replace github.com/appbackend/appbackend => " + repo + "\n"
	for name, content := range map[string][]byte{
		"go.mod":           []byte(goMod),
		"go.sum":           goSum,
		"kitcheck_test.go": []byte(kitcheckTest),
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o644))
	}

	// The environment of the app author's `go test`: ours, without the variables that
	// choose the database, and with the module resolved from go.sum and the module
	// cache (-mod=mod lets go add the indirect requirements to go.mod).
	var base []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "APPBACKEND_TEST_DATABASE", pgtest.EnvURL, "GOFLAGS", "GOWORK", "PWD":
			continue
		}
		base = append(base, kv)
	}
	base = append(base, "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")

	serverURL := pgtest.ServerURL(t) // the test's server, named to the module's tests
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"sqlite", nil},
		{"postgres at APPBACKEND_TEST_POSTGRES_URL", []string{"APPBACKEND_TEST_DATABASE=postgres", pgtest.EnvURL + "=" + serverURL}},
		{"postgres started by the kit", []string{"APPBACKEND_TEST_DATABASE=postgres"}},
	} {
		// One after the other: they share the module's directory and its go.mod.
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), goBin, "test", "-count=1", "-v", "-run", "^TestKit$", ".")
			cmd.Dir = dir
			cmd.Env = append(append([]string{}, base...), tc.env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				require.FailNow(t, fmt.Sprintf("go test in a module outside the repository: %v\n%s", err, out.String()))
			}
			want := "postgres false"
			if tc.env != nil {
				want = "postgres true"
			}
			if !strings.Contains(out.String(), "--- PASS: TestKit") || !strings.Contains(out.String(), want) {
				require.FailNow(t, fmt.Sprintf("go test output shows no passing TestKit with %q:\n%s", want, out.String()))
			}
		})
	}
}
