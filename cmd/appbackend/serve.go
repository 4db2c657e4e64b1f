package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/setup"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	getenv, err := withConfigFile(args, getenv)
	if err != nil {
		return usageError{err.Error()}
	}
	cfg, err := appbackend.ConfigFromEnv(getenv)
	if err != nil {
		return usageError{err.Error()}
	}
	f := newFlags("serve", "appbackend serve [--dev] [flags]", stdout)
	dev := f.Bool("dev", false, "development mode: generate missing secrets, keep them in the database, print them")
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
	f.String("config", getenv("APPBACKEND_CONFIG"), "TOML file of settings and [[schedule]]s; the environment overrides it (APPBACKEND_CONFIG)")
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
	migrations := f.String("migrations", getenv("APPBACKEND_MIGRATIONS"), "folder of the app's own migrations NNNN_name.sql (APPBACKEND_MIGRATIONS)")
	prod := registerProductionFlags(f, &cfg)
	logLevel := f.String("log-level", envOr(getenv, "APPBACKEND_LOG_LEVEL", "info"), "debug, info, warn or error (APPBACKEND_LOG_LEVEL)")
	logFormat := f.String("log-format", envOr(getenv, "APPBACKEND_LOG_FORMAT", "text"), "text or json (APPBACKEND_LOG_FORMAT)")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	cfg.Dev = *dev
	if err := prod.apply(&cfg); err != nil {
		return err
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
		return usagef("--db-pool and --db-statement-timeout must not be negative")
	}
	if *maxBody <= 0 {
		return usagef("--max-body must be a positive number of bytes")
	}
	cfg.MaxBody = *maxBody
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	cfg.Logger = logger

	// The banner goes to stdout once the server listens: the address (port 0 resolves
	// here), and in --dev (printed by the library to DevOut) the secrets and a command
	// that works as is.
	cfg.DevOut = stdout
	cfg.Ready = func(addr net.Addr) { fmt.Fprintf(stdout, "appbackend listening on http://%s\n", addr) }
	app, err := appbackend.New(cfg)
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

// withConfigFile layers the TOML file of --config (or APPBACKEND_CONFIG) under the
// environment, before the flags are defined: their defaults come from it.
func withConfigFile(args []string, getenv func(string) string) (func(string) string, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, errors.New("--config needs a file")
			}
			value = args[i+1]
		}
		env := getenv
		getenv = func(k string) string {
			if k == "APPBACKEND_CONFIG" {
				return value
			}
			return env(k)
		}
		break
	}
	layered, _, err := appbackend.LayerConfigFile(getenv)
	return layered, err
}
