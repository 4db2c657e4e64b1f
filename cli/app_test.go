package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

// The stamp TestAppBinaryHasTheStockCommands builds with, through the Makefile.
const (
	stampVersion = "v0.0.0-appbinary"
	stampCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// buildWithMake builds the main package pkg with the Makefile's build target and the
// stamp above, and returns the binary.
func buildWithMake(t *testing.T, pkg, dir string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	makeCmd, err := exec.LookPath("make")
	require.NoError(t, err, "make is needed to run the Makefile's build target")
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command(makeCmd, "-C", root, "--no-print-directory", "-s", "build",
		"BUILD_PKG="+pkg, "BIN="+bin, "VERSION="+stampVersion, "COMMIT="+stampCommit)
	cmd.Env = withoutEnv(os.Environ(), "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make build %s: %s", pkg, out)
	return bin
}

// runBin runs a built binary with exactly env as its environment.
func runBin(t *testing.T, bin string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), errOut.String()
	}
	require.NoError(t, err, "run %s %v", bin, args)
	return 0, out.String(), errOut.String()
}

// TestAppBinaryHasTheStockCommands builds examples/invoicetagger and the stock binary
// with `make build` and runs the operator commands on both, each on a database of its
// own: the app binary answers as the stock one does (the same help, flags, one-line
// errors and exit statuses, the Makefile's version stamp), and its migrate creates and
// its doctor and readers check the app's own tables too, on SQLite and PostgreSQL.
func TestAppBinaryHasTheStockCommands(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds two binaries with make")
	}
	dir := t.TempDir()
	var stock, tagger string
	var wg sync.WaitGroup
	wg.Go(func() { stock = buildWithMake(t, "./cmd/appbackend", dir) })
	wg.Go(func() { tagger = buildWithMake(t, "./examples/invoicetagger", dir) })
	wg.Wait()
	if t.Failed() {
		return
	}
	both := func(t *testing.T, envs [2]map[string]string, args ...string) (code int, outs [2]string) {
		t.Helper()
		codeStock, outStock, errStock := runBin(t, stock, envs[0], args...)
		codeApp, outApp, errApp := runBin(t, tagger, envs[1], args...)
		require.Equal(t, codeStock, codeApp, "%v: the stock binary exits %d (%s), the app's %d (%s)", args, codeStock, errStock, codeApp, errApp)
		if codeApp != 0 {
			require.Equal(t, 1, strings.Count(errStock, "\n"), "one line on stderr: %q", errStock)
			require.Equal(t, 1, strings.Count(errApp, "\n"), "one line on stderr: %q", errApp)
		}
		return codeApp, [2]string{outStock + errStock, outApp + errApp}
	}
	none := [2]map[string]string{{}, {}}

	t.Run("version", func(t *testing.T) {
		t.Parallel()
		code, outs := both(t, none, "version")
		require.Equal(t, 0, code)
		for _, out := range outs {
			require.True(t, strings.HasPrefix(out, "appbackend "+stampVersion+" commit "+stampCommit+" go"), out)
		}
	})
	t.Run("help and usage", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"help"}, {"serve", "--help"}, {"migrate", "--help"}, {"events", "replay", "--help"}, {"backup", "--help"}} {
			code, outs := both(t, none, args...)
			require.Equal(t, 0, code, args)
			require.Equal(t, outs[0], outs[1], args)
		}
		code, outs := both(t, none, "jobs", "--bogus")
		require.Equal(t, 2, code)
		require.Equal(t, "appbackend jobs: flag provided but not defined: -bogus\n", outs[1])
		require.Equal(t, outs[0], outs[1])
		for _, args := range [][]string{{"frobnicate"}, {"events", "replay"}, {"restore"}} {
			code, outs := both(t, none, args...)
			require.Equal(t, 2, code, args)
			require.Equal(t, outs[0], outs[1], args)
		}
		// The stock binary prints the usage when called bare; the tagger serves
		// (DefaultArgs), which examples/invoicetagger's tests show.
		code, out, _ := runBin(t, stock, nil)
		require.Equal(t, 2, code)
		require.Empty(t, out)
		// An app binary's migrations are its own: a folder on the command line is refused.
		code, _, errOut := runBin(t, tagger, nil, "migrate", "--migrations", t.TempDir())
		require.Equal(t, 2, code, errOut)
		require.Equal(t, "appbackend migrate: --migrations: this binary applies the migrations embedded in it\n", errOut)
	})

	for kind, newDatabase := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "app.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewEmptyDatabase(t) },
	} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			env := func(database string) map[string]string {
				return map[string]string{"APPBACKEND_DATABASE": database, "STRIPE_APP_SECRETS": "absec_app_binary",
					// The tagger's binary ignores it (its migrations are embedded), as before.
					"APPBACKEND_MIGRATIONS": filepath.Join(t.TempDir(), "nothing-here")}
			}
			stockDB, appDB := newDatabase(t), newDatabase(t)
			envs := [2]map[string]string{env(stockDB), env(appDB)}
			delete(envs[0], "APPBACKEND_MIGRATIONS") // a folder that does not exist fails the stock binary

			// Before migrate, both refuse to list and say what to run.
			code, outs := both(t, envs, "jobs")
			require.Equal(t, 1, code)
			require.Contains(t, outs[1], "appbackend migrate")

			code, outs = both(t, envs, "migrate")
			require.Equal(t, 0, code, outs)
			require.Equal(t, [2]string{"database is up to date\n", "database is up to date\n"}, outs)
			appTables := []string{"tagger_accounts", "invoice_tags", "tag_summaries"}
			require.Subset(t, tables(t, appDB), appTables, "the tagger's migrate creates its tables")
			for _, name := range appTables {
				require.NotContains(t, tables(t, stockDB), name)
			}

			code, outs = both(t, envs, "doctor")
			require.Equal(t, 0, code, outs)
			require.NotContains(t, outs[1], "migration")

			for _, db := range []string{stockDB, appDB} {
				storeEvent(t, db, "evt_app_binary")
			}
			code, outs = both(t, envs, "events", "replay", "evt_app_binary")
			require.Equal(t, 0, code, outs)
			require.Equal(t, "event evt_app_binary queued for processing again\n", outs[1])
			require.Equal(t, outs[0], outs[1])
			code, outs = both(t, envs, "events", "replay", "evt_missing")
			require.Equal(t, 1, code)
			require.Equal(t, outs[0], outs[1])
			code, outs = both(t, envs, "jobs", "--kind", events.ProcessEventsArgs{}.Kind())
			require.Equal(t, 0, code, outs)
			for _, cmd := range [][]string{{"events"}, {"events", "pause"}, {"events", "resume"}, {"schedules"}, {"installations"}} {
				code, outs = both(t, envs, cmd...)
				require.Equal(t, 0, code, cmd, outs)
				require.Equal(t, outs[0], outs[1], cmd)
			}

			// A database the stock binary migrated lacks the tagger's tables: the
			// tagger's doctor counts them and its readers refuse it, naming the
			// migrations, until its migrate has run.
			code, out, errOut := runBin(t, tagger, env(stockDB), "doctor")
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "2 migrations are not applied to the database yet")
			code, _, errOut = runBin(t, tagger, env(stockDB), "events", "replay", "evt_app_binary")
			require.Equal(t, 1, code, errOut)
			require.Contains(t, errOut, "0001_tagger")
			require.Contains(t, errOut, "run `appbackend migrate` first")
			code, _, errOut = runBin(t, tagger, env(stockDB), "migrate")
			require.Equal(t, 0, code, errOut)
			require.Subset(t, tables(t, stockDB), appTables)
			code, _, errOut = runBin(t, tagger, env(stockDB), "events", "replay", "evt_app_binary")
			require.Equal(t, 0, code, errOut)
		})
	}
}

// storeEvent puts a processed event in the inbox of database, as the webhook receiver
// does.
func storeEvent(t *testing.T, database, id string) {
	t.Helper()
	ctx := context.Background()
	st, err := setup.OpenStore(ctx, database, setup.StoreOptions{SkipMigrations: true})
	require.NoError(t, err)
	defer st.Close()
	tx, err := st.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = st.InsertEventTx(ctx, tx, &store.Event{ID: id, Type: "invoice.finalized", AccountID: "acct_1AppBinary",
		Created: time.Now(), Raw: []byte(`{}`), Status: store.EventProcessed, ReceivedAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
}

// tables lists the tables of database.
func tables(t *testing.T, database string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := setup.OpenStore(ctx, database, setup.StoreOptions{SkipMigrations: true})
	require.NoError(t, err)
	defer st.Close()
	query := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	if strings.HasPrefix(database, "sqlite:") {
		query = `SELECT name FROM sqlite_master WHERE type = 'table'`
	}
	rows, err := st.DB().QueryContext(ctx, query)
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		names = append(names, name)
	}
	require.NoError(t, rows.Err())
	return names
}
