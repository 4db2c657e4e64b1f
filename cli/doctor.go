package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/appbackend/appbackend/internal/doctor"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/appbackend/appbackend/stripeclient"
)

// errFindings makes doctor exit 1 after printing its findings (already on stdout).
var errFindings = errors.New("the configuration has errors (see above)")

func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("doctor", "appbackend doctor [--json] [--database URL]", stdout)
	var d dbFlags
	d.register(f, getenv)
	asJSON := f.Bool("json", false, "print the findings as a JSON array")
	quiet := f.Duration("quiet-after", 0, "warn when installed accounts sent no event for this long (default 72h)")
	if rest, err := f.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	cfg, err := loadConfig(getenv, nil)
	if err != nil {
		return err
	}
	in := doctor.Input{
		Config: doctor.Config{
			AppSecrets:     cfg.AppSecrets,
			WebhookSecrets: cfg.WebhookSecrets,
			SecretKey:      cfg.SecretKey,
			TestSecretKey:  cfg.TestSecretKey,
			AdminToken:     cfg.AdminToken,
		},
		QuietAfter: *quiet,
	}
	cfg.Database = d.database // --database, as doctor opens it
	for _, p := range cfg.Problems() {
		in.Settings = append(in.Settings, doctor.NewSettingProblem(p.Setting, p))
	}

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, openErr := openForDoctor(ctx, d.database)
	if openErr != nil {
		in.PingDatabase = func(context.Context) error { return openErr }
	} else {
		defer st.Close()
		in.Store = st
		in.PingDatabase = func(ctx context.Context) error {
			return setup.RedactDatabaseError(st.Ping(ctx), d.database)
		}
		in.PendingMigrations = pendingMigrations(st, d.database)
		fillDevSecrets(ctx, st, &in.Config)
		addProductionChecks(&in, cfg, st)
		in.OAuthKeys = doctor.OAuthKeyCheck(st.DB(), d.database, cfg.EncryptionKeys)
		in.EventsPaused = func(ctx context.Context) (time.Time, bool, error) { return events.PauseState(ctx, st) }
	}
	if clients, err := stripeclient.New(stripeclient.Config{
		Keys:    stripeclient.Keys{Live: cfg.SecretKey, Test: cfg.TestSecretKey},
		APIBase: cfg.APIBase,
		Timeout: 10 * time.Second,
	}); err == nil && len(clients.Modes()) > 0 {
		in.PingStripe = clients.Ping
	}

	findings := doctor.Run(ctx, in)
	if *asJSON {
		if err := writeJSONArray(stdout, findings); err != nil {
			return err
		}
	} else if len(findings) == 0 {
		fmt.Fprintln(stdout, "ok: no problems found")
	} else {
		for _, fd := range findings {
			fmt.Fprintf(stdout, "%s: %s\n", fd.Severity, fd.Message)
		}
	}
	for _, fd := range findings {
		if fd.Severity == doctor.Error {
			return errFindings
		}
	}
	return nil
}

// openForDoctor opens the database without creating or migrating it: doctor only looks.
func openForDoctor(ctx context.Context, database string) (store.Store, error) {
	kind, path, err := setup.ParseDatabase(database)
	if err != nil {
		return nil, err
	}
	if kind == "sqlite" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("there is no database at %s yet (appbackend serve or migrate creates it)", path)
		}
	}
	// An app binary counts its own migrations among the pending ones.
	return setup.OpenStore(ctx, database, setup.StoreOptions{SkipMigrations: true, Migrations: appOf(ctx).Migrations})
}

// pendingMigrations counts the migrations a store has not applied yet; each adapter
// names its migrations with its own type.
func pendingMigrations(st store.Store, database string) func(context.Context) (int, error) {
	switch st := st.(type) {
	case *sqlite.Store:
		return func(ctx context.Context) (int, error) {
			m, err := st.PendingMigrations(ctx)
			return len(m), err
		}
	case *postgres.Store:
		return func(ctx context.Context) (int, error) {
			m, err := st.PendingMigrations(ctx)
			return len(m), setup.RedactDatabaseError(err, database)
		}
	}
	return nil
}

// fillDevSecrets takes the secrets `serve --dev` generated for what the environment
// leaves unset, so a development setup is judged as it runs.
func fillDevSecrets(ctx context.Context, st store.Settings, c *doctor.Config) {
	fill := func(dst *[]string, key string) {
		if len(*dst) == 0 {
			if v, ok, err := st.Setting(ctx, key); err == nil && ok {
				*dst = []string{v}
			}
		}
	}
	fill(&c.AppSecrets, "dev.app_secret")
	fill(&c.WebhookSecrets, "dev.webhook_secret")
	if c.AdminToken == "" {
		if v, ok, err := st.Setting(ctx, "dev.admin_token"); err == nil && ok {
			c.AdminToken = v
		}
	}
}
