package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/setup"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, file *appbackend.ConfigFile, stdout, stderr io.Writer) error {
	cfg, err := serveConfig(args, getenv, file, stdout, stderr)
	if err != nil {
		return err
	}
	a := appOf(ctx) // the app this binary is (cli.App): its migrations and registrations
	a.configure(&cfg)
	app, err := appbackend.New(cfg)
	if err == nil {
		err = a.setup(app, getenv)
	}
	if err != nil {
		if errors.Is(err, appbackend.ErrAdminTokenTooShort) {
			return err // a weak secret, not a slip of the command line: exit 1
		}
		if errors.Is(err, appbackend.ErrConfig) {
			return usageError{err.Error()}
		}
		return err
	}
	err = app.Run(ctx)
	if errors.Is(err, appbackend.ErrConfig) && !errors.Is(err, appbackend.ErrAdminTokenTooShort) {
		return usageError{err.Error()}
	}
	return err
}

// serveConfig is serve's configuration: the layers layerConfig read, then the flags,
// each of which defaults to its variable.
func serveConfig(args []string, getenv func(string) string, file *appbackend.ConfigFile, stdout, stderr io.Writer) (appbackend.Config, error) {
	cfg, err := loadConfig(getenv, file)
	if err != nil {
		return cfg, err
	}
	f := newFlags("serve", "appbackend serve [--dev] [flags]", stdout)
	f.BoolVar(&cfg.Dev, "dev", cfg.Dev, "development mode: generate missing secrets, keep them in the database, print them; not with --domain or a live key (APPBACKEND_DEV=1)")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (APPBACKEND_ADDR; default "+appbackend.DefaultAddr+")")
	f.StringVar(&cfg.Database, "database", cfg.Database, "sqlite:PATH or a postgres:// URL (APPBACKEND_DATABASE; default "+appbackend.DefaultDatabase+")")
	appSecrets := f.String("app-secrets", "", "app signing secrets absec_…, comma-separated (STRIPE_APP_SECRETS)")
	webhookSecrets := f.String("webhook-secrets", "", "webhook endpoint secrets whsec_…, comma-separated (STRIPE_WEBHOOK_SECRETS)")
	f.StringVar(&cfg.SecretKey, "secret-key", cfg.SecretKey, "live API key sk_live_…/rk_live_… (STRIPE_SECRET_KEY)")
	f.StringVar(&cfg.TestSecretKey, "test-secret-key", cfg.TestSecretKey, "test API key sk_test_…/rk_test_… (STRIPE_TEST_SECRET_KEY)")
	f.StringVar(&cfg.APIBase, "api-base", cfg.APIBase, "Stripe API base URL (STRIPE_API_BASE)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "separate listen address for GET /metrics, which the main address then does not serve (APPBACKEND_METRICS_ADDR)")
	f.StringVar(&cfg.AppID, "app-id", cfg.AppID, "the app's id or OAuth client id, for install links (STRIPE_APP_ID)")
	f.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "the backend's public base URL; PUBLIC_URL/install/callback is an allowed_redirect_uri (APPBACKEND_PUBLIC_URL)")
	f.StringVar(&cfg.InstallReturnURL, "install-return-url", cfg.InstallReturnURL, "where the browser goes after an install link (APPBACKEND_INSTALL_RETURN_URL)")
	encryptionKeys := f.String("encryption-key", "", "base64 32-byte keys sealing OAuth tokens, comma-separated, the first encrypts (APPBACKEND_ENCRYPTION_KEY)")
	f.StringVar(&cfg.AdminToken, "admin-token", cfg.AdminToken, "bearer token for /admin (APPBACKEND_ADMIN_TOKEN)")
	f.StringVar(&cfg.AlertURL, "alert-url", cfg.AlertURL, "URL that receives a signed POST when events die, at most one per 5 minutes (APPBACKEND_ALERT_URL)")
	f.StringVar(&cfg.AlertSecret, "alert-secret", cfg.AlertSecret, "Standard Webhooks secret whsec_… signing the alerts; required with --alert-url (APPBACKEND_ALERT_SECRET)")
	f.StringVar(&cfg.Gateway.Upstream, "upstream", cfg.Gateway.Upstream, "gateway mode: base URL of the app's own server (APPBACKEND_UPSTREAM)")
	f.StringVar(&cfg.Gateway.Secret, "upstream-secret", cfg.Gateway.Secret, "Standard Webhooks secret whsec_… signing what goes upstream (APPBACKEND_UPSTREAM_SECRET)")
	f.StringVar(&cfg.Gateway.EventsPath, "upstream-events-path", cfg.Gateway.EventsPath, "upstream path events are POSTed to (APPBACKEND_UPSTREAM_EVENTS_PATH; default "+appbackend.DefaultUpstreamEventsPath+")")
	f.StringVar(&cfg.Gateway.APIAddr, "upstream-api-addr", cfg.Gateway.APIAddr, "listen address of the upstream API (APPBACKEND_UPSTREAM_API_ADDR; default "+appbackend.DefaultUpstreamAPIAddr+")")
	f.DurationVar(&cfg.Gateway.Timeout, "upstream-timeout", cfg.Gateway.Timeout, "bound of each call to the upstream (APPBACKEND_UPSTREAM_TIMEOUT; default 30s)")
	if cfg.MaxBody == 0 {
		cfg.MaxBody = appbackend.DefaultMaxBody
	}
	maxBody := f.Int64("max-body", cfg.MaxBody, "request body limit in bytes (APPBACKEND_MAX_BODY; default 1048576)")
	f.IntVar(&cfg.DBPoolSize, "db-pool", cfg.DBPoolSize, "PostgreSQL connection pool size (APPBACKEND_DB_POOL; default 20)")
	f.DurationVar(&cfg.DBStatementTimeout, "db-statement-timeout", cfg.DBStatementTimeout, "PostgreSQL statement_timeout (APPBACKEND_DB_STATEMENT_TIMEOUT; default none)")
	if cfg.ProcessedRetention == 0 {
		cfg.ProcessedRetention = appbackend.DefaultProcessedRetention
	}
	f.DurationVar(&cfg.ProcessedRetention, "processed-retention", cfg.ProcessedRetention, "how long processed and dead events are kept before they are pruned, at least 1s (APPBACKEND_PROCESSED_RETENTION; default 720h)")
	if cfg.InstallReconcileInterval == 0 {
		cfg.InstallReconcileInterval = appbackend.DefaultInstallReconcileInterval
	}
	f.DurationVar(&cfg.InstallReconcileInterval, "install-reconcile-interval", cfg.InstallReconcileInterval, "how often installations are reconciled with Stripe's list of installs, at least 1m (APPBACKEND_INSTALL_RECONCILE_INTERVAL; default 1h)")
	f.DurationVar(&cfg.EventRetention, "event-retention", cfg.EventRetention, "how long an uninstalled account's events are kept, e.g. 720h (APPBACKEND_EVENT_RETENTION; default forever)")
	f.DurationVar(&cfg.JobRescueAfter, "job-rescue-after", cfg.JobRescueAfter, "how long a job may run before it is taken for lost and run again (APPBACKEND_JOB_RESCUE_AFTER; default 5m)")
	f.IntVar(&cfg.EventMaxAttempts, "event-max-attempts", cfg.EventMaxAttempts, "how often an event is tried before it is dead (APPBACKEND_EVENT_MAX_ATTEMPTS; default 8)")
	migrations := f.String("migrations", getenv("APPBACKEND_MIGRATIONS"), "folder of the app's own migrations NNNN_name.sql (APPBACKEND_MIGRATIONS)")
	prod := registerProductionFlags(f, &cfg, getenv)
	logLevel := f.String("log-level", envOr(getenv, "APPBACKEND_LOG_LEVEL", "info"), "debug, info, warn or error (APPBACKEND_LOG_LEVEL)")
	logFormat := f.String("log-format", envOr(getenv, "APPBACKEND_LOG_FORMAT", "text"), "text or json (APPBACKEND_LOG_FORMAT)")
	rest, err := f.parse(args)
	if err != nil {
		return cfg, err
	}
	if len(rest) > 0 {
		return cfg, usagef("unexpected argument %q", rest[0])
	}
	if err := prod.apply(&cfg); err != nil {
		return cfg, err
	}
	if *migrations != "" {
		cfg.Migrations = os.DirFS(*migrations)
	}
	if *appSecrets != "" {
		cfg.AppSecrets = setup.SplitList(*appSecrets)
	}
	if *webhookSecrets != "" {
		cfg.WebhookSecrets = setup.SplitList(*webhookSecrets)
	}
	if *encryptionKeys != "" {
		cfg.EncryptionKeys = setup.SplitList(*encryptionKeys)
	}
	if cfg.DBPoolSize < 0 || cfg.DBStatementTimeout < 0 {
		return cfg, usagef("--db-pool and --db-statement-timeout must not be negative")
	}
	if cfg.EventRetention < 0 || cfg.JobRescueAfter < 0 || cfg.EventMaxAttempts < 0 {
		return cfg, usagef("--event-retention, --job-rescue-after and --event-max-attempts must not be negative")
	}
	if cfg.InstallReconcileInterval < time.Minute {
		return cfg, usagef("--install-reconcile-interval must be at least 1m")
	}
	if cfg.ProcessedRetention < time.Second {
		return cfg, usagef("--processed-retention must be at least 1s")
	}
	if *maxBody <= 0 {
		return cfg, usagef("--max-body must be a positive number of bytes")
	}
	cfg.MaxBody = *maxBody
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return cfg, err
	}
	cfg.Logger = logger

	// The banner goes to stdout once the server listens: the address (port 0 resolves
	// here), and in --dev (printed by the library to DevOut) the secrets and a command
	// that works as is.
	cfg.DevOut = stdout
	cfg.Ready = func(addr net.Addr) { fmt.Fprintf(stdout, "appbackend listening on http://%s\n", addr) }
	return cfg, nil
}

func envOr(getenv func(string) string, key, fallback string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return fallback
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usagef("--log-format %q: want text or json", format)
	}
}
