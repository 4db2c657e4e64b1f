package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to look at a PostgreSQL database from outside
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the "sqlite" driver, to look at a database file from outside

	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// TestEveryCommandReadsTheConfigFile: the database a config file names is the one
// `migrate` migrates and the listings read, whether the file comes from
// APPBACKEND_CONFIG or --config; nothing appears in the working directory.
func TestEveryCommandReadsTheConfigFile(t *testing.T) {
	work := t.TempDir()
	t.Chdir(work) // where the default sqlite:appbackend.db would land
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "fromfile.db")
	conf := filepath.Join(dir, "appbackend.toml")
	require.NoError(t, os.WriteFile(conf, []byte("database = \"sqlite:"+dbPath+"\"\nevent_max_attempts = 4\n"), 0o600))

	env := map[string]string{"APPBACKEND_CONFIG": conf}
	code, out, errOut := runCmd(t, env, "migrate")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "up to date")
	require.FileExists(t, dbPath)
	require.NoFileExists(t, filepath.Join(work, "appbackend.db"), "migrate used the default database, not the file's")

	for _, args := range [][]string{{"installations", "--json"}, {"events", "--json"}, {"schedules", "--json"}, {"jobs", "--json"}} {
		code, out, errOut := runCmd(t, env, args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		require.Equal(t, "[]\n", out, args)
		// The same file through --config, the environment empty.
		code, out, errOut = runCmd(t, nil, append(args, "--config", conf)...)
		require.Equal(t, 0, code, "%v --config: %s", args, errOut)
		require.Equal(t, "[]\n", out, args)
	}
	code, _, errOut = runCmd(t, nil, "migrate", "--config="+conf)
	require.Equal(t, 0, code, errOut)
	require.NoFileExists(t, filepath.Join(work, "appbackend.db"))

	// A broken file is one line and exit 2, for every command alike.
	require.NoError(t, os.WriteFile(conf, []byte("databse = \"sqlite:x.db\"\n"), 0o600))
	for _, cmd := range []string{"migrate", "installations", "doctor", "serve"} {
		code, _, errOut := runCmd(t, env, cmd)
		require.Equal(t, 2, code, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		require.Contains(t, errOut, `unknown key "databse"`)
	}
}

// readers are the commands that read or act on an existing database and must never
// create or migrate one.
var readers = [][]string{
	{"installations"},
	{"installations", "--json"},
	{"events"},
	{"events", "replay", "evt_1"},
	{"schedules"},
	{"jobs"},
	{"rotate-key"},
}

// readerEnv is a configuration on database with a folder of the app's migrations,
// empty until addAppMigration.
func readerEnv(t *testing.T, database string) map[string]string {
	return map[string]string{"APPBACKEND_DATABASE": database, "APPBACKEND_ENCRYPTION_KEY": secretbox.NewKey(),
		"APPBACKEND_MIGRATIONS": t.TempDir()}
}

// addAppMigration adds a migration to the app's folder, as a new release of the app
// would: a database migrated before it is then older than the binary.
func addAppMigration(t *testing.T, env map[string]string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(env["APPBACKEND_MIGRATIONS"], "0001_notes.sql"),
		[]byte("CREATE TABLE app_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"), 0o600))
}

// requireNotReady runs every reader on env's database and wants one line that says
// what to do, exit 1.
func requireNotReady(t *testing.T, env map[string]string, want string) {
	t.Helper()
	for _, args := range readers {
		code, out, errOut := runCmd(t, env, args...)
		require.Equal(t, 1, code, "%v: %s%s", args, out, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%v: one line on stderr: %q", args, errOut)
		require.Contains(t, errOut, want, args)
		require.Contains(t, errOut, "run `appbackend migrate`", args)
	}
}

// TestReadersNeverCreateOrMigrateSQLite: on a path with no database, each reader says
// so and leaves no file; on a file without the schema, or one a migration behind, it
// says so and changes nothing; once migrated, it works.
func TestReadersNeverCreateOrMigrateSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing.db")
	env := readerEnv(t, "sqlite:"+path)
	requireNotReady(t, env, "there is no database at "+path)
	require.NoFileExists(t, path)

	// An empty file (a typo'd path someone touched, or a half-made database).
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	requireNotReady(t, env, "has no appbackend schema yet")
	require.Empty(t, sqliteTables(t, path), "a reader created tables")

	code, _, errOut := runCmd(t, env, "migrate")
	require.Equal(t, 0, code, errOut)
	addAppMigration(t, env)
	requireNotReady(t, env, "is older than this appbackend (not applied: 0001_notes)")
	require.NotContains(t, sqliteTables(t, path), "app_notes")

	code, _, errOut = runCmd(t, env, "migrate")
	require.Equal(t, 0, code, errOut)
	code, out, errOut := runCmd(t, env, "installations", "--json")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "[]\n", out)
}

// TestReadersNeverCreateOrMigratePostgres: the same on PostgreSQL, where a database
// without the schema used to be migrated by the first listing.
func TestReadersNeverCreateOrMigratePostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDatabase(t)
	env := readerEnv(t, url)
	requireNotReady(t, env, "has no appbackend schema yet")
	db := sqlOpen(t, "pgx", url)
	var tables int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables))
	require.Zero(t, tables, "a reader created tables")

	code, _, errOut := runCmd(t, env, "migrate")
	require.Equal(t, 0, code, errOut)
	addAppMigration(t, env)
	requireNotReady(t, env, "is older than this appbackend (not applied: 0001_notes)")
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'app_notes'`).Scan(&tables))
	require.Zero(t, tables, "a reader applied the app's migration")

	code, _, errOut = runCmd(t, env, "migrate")
	require.Equal(t, 0, code, errOut)
	code, out, errOut := runCmd(t, env, "installations", "--json")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "[]\n", out)
}

func sqlOpen(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func sqliteTables(t *testing.T, path string) []string {
	t.Helper()
	rows, err := sqlOpen(t, "sqlite", path).Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	return names
}

// TestEventsReplayUsesTheConfiguredAttempts: a replayed event's job gets the attempts
// APPBACKEND_EVENT_MAX_ATTEMPTS says, as the server's jobs do, not the default.
func TestEventsReplayUsesTheConfiguredAttempts(t *testing.T) {
	t.Parallel()
	for kind, database := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "replay.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := database(t)
			st, err := setup.OpenStore(ctx, db, setup.StoreOptions{})
			require.NoError(t, err)
			tx, err := st.DB().BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = st.InsertEventTx(ctx, tx, &store.Event{ID: "evt_replay_attempts", Type: "invoice.paid", AccountID: "acct_1",
				Created: time.Now(), Raw: []byte(`{}`), Status: store.EventDead, ReceivedAt: time.Now()})
			require.NoError(t, err)
			require.NoError(t, tx.Commit())
			require.NoError(t, st.Close())

			env := map[string]string{"APPBACKEND_DATABASE": db, "APPBACKEND_EVENT_MAX_ATTEMPTS": "3"}
			code, out, errOut := runCmd(t, env, "events", "replay", "evt_replay_attempts")
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "queued")

			code, out, errOut = runCmd(t, env, "jobs", "--json", "--kind", events.ProcessEventsArgs{}.Kind())
			require.Equal(t, 0, code, errOut)
			var jobs []struct {
				MaxAttempts int `json:"max_attempts"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &jobs), out)
			require.Len(t, jobs, 1, out)
			require.Equal(t, 3, jobs[0].MaxAttempts)

			env["APPBACKEND_EVENT_MAX_ATTEMPTS"] = "many"
			code, _, errOut = runCmd(t, env, "events", "replay", "evt_replay_attempts")
			require.Equal(t, 2, code, errOut)
			require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
			require.Contains(t, errOut, "APPBACKEND_EVENT_MAX_ATTEMPTS")
		})
	}
}

// TestServeFlagsOfTheJobAndACMESettings: the settings that had no flag have one, which
// overrides the variable.
func TestServeFlagsOfTheJobAndACMESettings(t *testing.T) {
	t.Parallel()
	root := writeCA(t)
	env := map[string]string{"APPBACKEND_EVENT_MAX_ATTEMPTS": "5", "APPBACKEND_EVENT_RETENTION": "1h"}
	cfg, err := serveConfig([]string{"--event-retention", "720h", "--job-rescue-after", "7m", "--event-max-attempts", "3", "--acme-ca-root", root},
		envFunc(env), nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 720*time.Hour, cfg.EventRetention)
	require.Equal(t, 7*time.Minute, cfg.JobRescueAfter)
	require.Equal(t, 3, cfg.EventMaxAttempts)
	require.NotNil(t, cfg.ACMERoots)

	cfg, err = serveConfig(nil, envFunc(env), nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 5, cfg.EventMaxAttempts, "without the flag, the variable")
	require.Nil(t, cfg.ACMERoots)

	for _, bad := range [][]string{
		{"--event-max-attempts", "-1"}, {"--job-rescue-after", "-5m"}, {"--event-retention", "-1h"},
		{"--acme-ca-root", filepath.Join(t.TempDir(), "none.pem")},
	} {
		code, _, errOut := runCmd(t, map[string]string{"STRIPE_APP_SECRETS": "absec_x"}, append([]string{"serve"}, bad...)...)
		require.Equal(t, 2, code, "%v: %s", bad, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		require.Contains(t, errOut, bad[0], "the message names the flag")
	}
}

// writeCA writes a self-signed CA certificate as PEM and returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}

// TestDevFromTheEnvironment: APPBACKEND_DEV is --dev, so an app's main needs no flag of
// its own; neither is accepted with a production setting.
func TestDevFromTheEnvironment(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  string
		args []string
		want bool
	}{
		{"1", nil, true}, {"true", nil, true}, {"0", nil, false}, {"false", nil, false}, {"", nil, false},
		{"", []string{"--dev"}, true}, {"1", []string{"--dev=false"}, false},
	} {
		cfg, err := serveConfig(tt.args, envFunc(map[string]string{"APPBACKEND_DEV": tt.env}), nil, &bytes.Buffer{}, &bytes.Buffer{})
		require.NoError(t, err, tt)
		require.Equal(t, tt.want, cfg.Dev, tt)
	}

	// APPBACKEND_DEV=1 alone starts a server that needs no secret, as --dev does.
	s := startServe(t, map[string]string{"APPBACKEND_DEV": "1", "APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "dev.db")})
	require.Regexp(t, `STRIPE_APP_SECRETS=absec_`, s.devBanner(t))
	require.Equal(t, 0, s.stop(), s.stderr.String())

	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"not a boolean", map[string]string{"APPBACKEND_DEV": "yes please"}, nil, "APPBACKEND_DEV"},
		{"env with a domain", map[string]string{"APPBACKEND_DEV": "1", "APPBACKEND_DOMAIN": "api.example.com"}, nil, "APPBACKEND_DOMAIN"},
		{"flag with a domain", nil, []string{"--dev", "--domain", "api.example.com"}, "unset --dev or --domain"},
		{"env with a live key", map[string]string{"APPBACKEND_DEV": "true", "STRIPE_SECRET_KEY": "sk_live_devlive"}, nil, "STRIPE_SECRET_KEY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "p.db")}
			for k, v := range tt.env {
				env[k] = v
			}
			code, _, errOut := runCmd(t, env, append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...)...)
			require.Equal(t, 2, code, errOut)
			require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
			require.Contains(t, errOut, tt.want)
			require.NotContains(t, errOut, "sk_live_devlive")
		})
	}
}

// TestServeHelpMatchesTheREADME: serve's flags are the README configuration table's
// (both come from the settings table): every row's flag is in serve --help, naming its
// variable, and every flag of serve --help has a row.
func TestServeHelpMatchesTheREADME(t *testing.T) {
	t.Parallel()
	var help bytes.Buffer
	code := run(t.Context(), []string{"serve", "--help"}, envFunc(nil), &help, &bytes.Buffer{})
	require.Equal(t, 0, code)
	// flag.PrintDefaults: "  -name type\n    \tusage".
	usages := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)\b.*\n\s+(.*)$`).FindAllStringSubmatch(help.String(), -1) {
		usages[m[1]] = m[2]
	}
	require.Contains(t, usages, "database")

	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	rows := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| `--([a-z-]+)` \\|").FindAllStringSubmatch(string(readme), -1)
	require.NotEmpty(t, rows, "README's configuration table")
	inREADME := map[string]bool{}
	for _, r := range rows {
		env, flag := r[1], r[2]
		inREADME[flag] = true
		require.NotEmpty(t, usages[flag], "serve has no flag --%s (README's for %s)", flag, env)
		require.Contains(t, usages[flag], env, "serve's --%s help does not name %s: %q", flag, env, usages[flag])
	}
	for flag := range usages {
		require.True(t, inREADME[flag], "serve --%s has no row in README's configuration table", flag)
	}
}

// TestCommandsNameTheSettingAsGiven: every command names a bad setting as the user
// gave it, the file's key included, although the file is read once for the run.
func TestCommandsNameTheSettingAsGiven(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "app.toml")
	require.NoError(t, os.WriteFile(conf, []byte("event_max_attempts = \"many\"\n"), 0o600))
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"APPBACKEND_CONFIG": conf}, []string{"events", "replay", "evt_1"}, conf + `: event_max_attempts "many" is not a positive number`},
		{nil, []string{"migrate", "--config", conf}, conf + `: event_max_attempts "many"`},
		{nil, []string{"serve", "--config", conf}, conf + `: event_max_attempts "many"`},
		{map[string]string{"APPBACKEND_CONFIG": conf, "APPBACKEND_EVENT_MAX_ATTEMPTS": "lots"}, []string{"serve"}, `APPBACKEND_EVENT_MAX_ATTEMPTS "lots"`},
		{map[string]string{"APPBACKEND_CONFIG": conf}, []string{"serve", "--event-max-attempts", "0"}, `--event-max-attempts "0"`},
		{nil, []string{"serve", "--config", filepath.Join(t.TempDir(), "none.toml")}, "--config "},
		{map[string]string{"APPBACKEND_CONFIG": filepath.Join(t.TempDir(), "none.toml")}, []string{"installations"}, "APPBACKEND_CONFIG "},
	} {
		code, _, errOut := runCmd(t, tt.env, tt.args...)
		require.Equal(t, 2, code, "%v: %s", tt.args, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		require.Contains(t, errOut, tt.want, tt.args)
	}
}
