package appbackend

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/telemetry"
)

// Defaults of the public contract.
const (
	DefaultAddr     = "127.0.0.1:3000"
	DefaultDatabase = "sqlite:appbackend.db"
	DefaultMaxBody  = 1 << 20
)

// Config is everything appbackend needs to run. LoadConfig fills it from flags, the
// environment and the config file, ConfigFromEnv from the last two (the settings table,
// settings.go, says which field each setting sets); a Go program may build it directly.
type Config struct {
	// Addr is the listen address, host:port.
	Addr string
	// Database is "sqlite:PATH" or a postgres:// URL.
	Database string
	// Migrations are the app's own schema migrations: numbered files NNNN_name.sql,
	// each run once, in order, in its own transaction, after appbackend's and under the
	// same lock (replicas starting together take turns). Files in a sqlite/ or
	// postgres/ folder replace the root file of the same version on that database, for
	// where the dialects differ. Run applies them before serving; so does `appbackend
	// migrate` with APPBACKEND_MIGRATIONS. Typically an embed.FS or os.DirFS.
	Migrations fs.FS
	// AppSecrets are the app's signing secrets (absec_…). Two are live while one is
	// being expired; a request verifies against any of them.
	AppSecrets []string
	// WebhookSecrets are the webhook endpoints' signing secrets (whsec_…), typically one
	// for the live endpoint and one for the test endpoint, more during rotation.
	WebhookSecrets []string
	// SecretKey and TestSecretKey are the platform's live and test API keys
	// (sk_… or rk_…).
	SecretKey     string
	TestSecretKey string
	// APIBase overrides Stripe's API base URL (stripe-mock or a fake in tests).
	APIBase string
	// AdminToken enables /admin with this bearer token.
	AdminToken string
	// MaxBody limits request bodies, in bytes.
	MaxBody int64
	// Dev generates any missing secret, keeps it in the database across restarts and
	// prints it, once the server listens, to DevOut with a command that calls the
	// server (App.DevSecrets returns them too). ConfigFromEnv sets it from
	// APPBACKEND_DEV ("1" or "true"), the same as `serve --dev`. Never use it in
	// production: New refuses it with Domains or a live SecretKey.
	Dev bool
	// DevOut is where Dev prints the secrets; nil is os.Stderr.
	DevOut io.Writer
	// ShutdownTimeout is how long, on SIGINT/SIGTERM or context end, requests in
	// flight get to finish (default 15s). Connections still busy then (a client that
	// stalls in the middle of its body, or does not read the answer) are closed: an
	// event is acknowledged only once stored, so Stripe retries what was cut short.
	ShutdownTimeout time.Duration
	// EventShutdownTimeout is how long, after HTTP, the event queue gets to commit
	// what was accepted and let running jobs finish (default 15s); it has its own
	// budget, whatever HTTP used.
	EventShutdownTimeout time.Duration
	// Logger receives structured logs; nil means a logger on stderr of LogLevel (the
	// zero value is info) and LogFormat ("text", the default, or "json"), as
	// APPBACKEND_LOG_LEVEL and APPBACKEND_LOG_FORMAT set them.
	Logger    *slog.Logger
	LogLevel  slog.Level
	LogFormat string
	// EventRetention is how long an uninstalled account's events are kept after the
	// uninstall; zero keeps them.
	EventRetention time.Duration
	// ProcessedRetention is how long processed events (and dead ones, counted from
	// their arrival) stay in the inbox before they are pruned, in small batches; their
	// ids stay duplicates for max(30 days, the retention) after Stripe's created.
	// Zero means DefaultProcessedRetention; less than a second is refused.
	ProcessedRetention time.Duration
	// InstallReconcileInterval is how often the installations are reconciled with
	// Stripe's list of installs (GET /v1/apps/installs for AppID, in every mode with a
	// key), besides once at start. Zero means DefaultInstallReconcileInterval; less
	// than a minute is refused.
	InstallReconcileInterval time.Duration
	// EventMaxAttempts is how often an event is tried before it is dead (default 8).
	EventMaxAttempts int
	// AlertURL, when set, receives a POST signed with AlertSecret (Standard Webhooks)
	// when events die, at most one per kind every 5 minutes (internal/alert).
	// AlertSecret is required with it: whsec_ and the base64 of at least 24 bytes.
	AlertURL, AlertSecret string
	// EventRetryPolicy decides when a failed event is retried; nil is River's
	// exponential backoff. Tests use a short fixed delay.
	EventRetryPolicy river.ClientRetryPolicy
	// JobRescueAfter is how long a job may stay running before it is taken for lost
	// (its process died) and run again; it must exceed every job's timeout. On
	// PostgreSQL it bounds how long a killed replica's jobs wait. Default 5m.
	JobRescueAfter time.Duration
	// DBPoolSize caps a PostgreSQL connection pool (default 20); DBStatementTimeout is
	// PostgreSQL's statement_timeout (default none).
	DBPoolSize         int
	DBStatementTimeout time.Duration
	// Listener, when set, is served instead of listening on Addr (tests use port 0).
	Listener net.Listener
	// MetricsAddr, when set, is a separate listen address (host:port) that serves GET
	// /metrics, and only it; the main listener then answers 404 for /metrics, so the
	// metrics can stay on a private interface (APPBACKEND_METRICS_ADDR).
	MetricsAddr string
	// MetricsListener, when set, is served instead of listening on MetricsAddr.
	MetricsListener net.Listener
	// Ready, when set, is called once the server accepts connections.
	Ready func(addr net.Addr)
	// Tracing exports OpenTelemetry traces (README "Traces"); nil: off. ConfigFromEnv
	// sets it from the standard OTEL_* variables (TracingFromEnv).
	Tracing *telemetry.Settings

	// Install links and OAuth (GET /install, GET /install/callback). AppID is the app's
	// id or OAuth client id (STRIPE_APP_ID); PublicURL is where Stripe sends the browser
	// back, PublicURL + "/install/callback", which must be one of the manifest's
	// allowed_redirect_uris (APPBACKEND_PUBLIC_URL); InstallReturnURL is where the
	// browser goes after a recorded install (APPBACKEND_INSTALL_RETURN_URL; empty: a
	// plain "installed" page). EncryptionKeys seal OAuth tokens at rest, AES-256-GCM,
	// base64 32-byte keys, the first encrypts and all decrypt
	// (APPBACKEND_ENCRYPTION_KEY, comma-separated). InstallURL replaces Stripe's
	// install page (tests); InstallStateTTL is a state's lifetime (default 15m).
	AppID            string
	PublicURL        string
	InstallReturnURL string
	EncryptionKeys   []string
	InstallURL       string
	InstallStateTTL  time.Duration
	// Gateway mode (APPBACKEND_UPSTREAM…): see gateway.go.
	Gateway GatewayConfig
	// Production: automatic HTTPS, scheduled backups, trusted proxies (production.go).
	Production

	// origins are where the loader found each setting, for messages that name it as
	// the user gave it; a Config built in Go has none.
	origins map[string]origin
}

// ErrConfig marks an invalid configuration: the server did not start.
var ErrConfig = setup.ErrConfig

// MinAdminTokenLength is the shortest admin token New accepts: the sign-in is
// throttled, but a short token is still within reach of a patient guesser.
const MinAdminTokenLength = 16

// ErrAdminTokenTooShort (in a *ConfigError that names the setting) refuses an admin
// token shorter than MinAdminTokenLength.
var ErrAdminTokenTooShort = fmt.Errorf("is shorter than %d characters", MinAdminTokenLength)

func checkAdminToken(token string) error {
	if token != "" && len(token) < MinAdminTokenLength {
		return fmt.Errorf("%w: use a long random value, e.g. the output of `openssl rand -hex 24`", ErrAdminTokenTooShort)
	}
	return nil
}

// ConfigFromEnv reads the settings from the environment through getenv, over the TOML
// file APPBACKEND_CONFIG names, if any (the environment wins): LoadConfig without flags.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return loadConfig(nil, getenv, nil)
}

// ConfigFromLayers is ConfigFromEnv for a getenv that LayerConfigFile already layered
// over its file, with the file it returned (nil: none): the file is not read again, so
// a program that needs the layered variables itself (the CLI's flag defaults) reads
// the file once. Errors still name a value the file gave by its key in the file.
func ConfigFromLayers(getenv func(string) string, file *ConfigFile) (Config, error) {
	return loadConfig(nil, getenv, file)
}

// TracingFromEnv reads the standard OTEL_* variables (README "Traces") into
// Config.Tracing: nil when traces are off, an error wrapping ErrConfig for a value
// that does not parse.
func TracingFromEnv(getenv func(string) string) (*telemetry.Settings, error) {
	s, err := telemetry.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

// ParseDev reads APPBACKEND_DEV: "1" or "true" turn development mode on, "", "0" or
// "false" leave it off (as strconv.ParseBool spells them).
func ParseDev(v string) (bool, error) {
	on, err := parseBool(v)
	if err != nil {
		return false, &ConfigError{Setting: "APPBACKEND_DEV", Source: SourceEnv, Name: "APPBACKEND_DEV", Err: err}
	}
	return on, nil
}

// DefaultProcessedRetention is how long processed events are kept by default.
const DefaultProcessedRetention = 720 * time.Hour

// DefaultInstallReconcileInterval is how often installations are reconciled with
// Stripe's list of installs by default.
const DefaultInstallReconcileInterval = time.Hour

// withDefaults fills the contract's defaults.
func (c Config) withDefaults() Config {
	if c.ProcessedRetention == 0 {
		c.ProcessedRetention = DefaultProcessedRetention
	}
	if c.InstallReconcileInterval == 0 {
		c.InstallReconcileInterval = DefaultInstallReconcileInterval
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
		if len(c.Domains) > 0 {
			c.Addr = DefaultHTTPAddrWithDomain
		}
	}
	c.Production = c.Production.withDefaults()
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.EventShutdownTimeout == 0 {
		c.EventShutdownTimeout = 15 * time.Second
	}
	c.Gateway = c.Gateway.withDefaults()
	return c
}

// Validate checks the configuration as New would, without opening anything: the
// first problem, as a *ConfigError that names the setting as it was given (the flag,
// the variable or the file's key; a field set in Go by its variable). Defaults are
// applied first, as New applies them.
func (c Config) Validate() error {
	return c.withDefaults().validate()
}

// Problems are the settings whose value is invalid by itself, every one (Validate
// stops at the first, and also checks the rules between settings); doctor lists them.
func (c Config) Problems() []*ConfigError {
	c = c.withDefaults()
	var out []*ConfigError
	for _, s := range settings() {
		if s.check == nil {
			continue
		}
		if err := s.check(c); err != nil {
			out = append(out, c.settingError(s.env, err))
		}
	}
	return out
}

// validate is Validate on a Config with its defaults. Secrets are never repeated in a
// message: only their position and the expected prefix.
func (c Config) validate() error {
	if problems := c.Problems(); len(problems) > 0 {
		return problems[0]
	}
	if len(c.AppSecrets) == 0 && !c.Dev {
		return c.crossError("STRIPE_APP_SECRETS", errRequired, "%s is required (comma-separated absec_… secrets), or run with --dev", "STRIPE_APP_SECRETS")
	}
	if err := c.checkDev(); err != nil {
		return err
	}
	switch {
	case c.AlertURL == "" && c.AlertSecret != "":
		return c.crossError("APPBACKEND_ALERT_SECRET", errRequired, "%s is set without %s, the endpoint that receives the alerts", "APPBACKEND_ALERT_SECRET", "APPBACKEND_ALERT_URL")
	case c.AlertURL != "" && c.AlertSecret == "":
		return c.crossError("APPBACKEND_ALERT_SECRET", errRequired, "%s needs %s, the whsec_… secret its alerts are signed with (Standard Webhooks; make one with `echo whsec_$(openssl rand -base64 32)`)", "APPBACKEND_ALERT_URL", "APPBACKEND_ALERT_SECRET")
	}
	return c.Gateway.validate(c)
}

// errRequired is the Err of a ConfigError about a setting that another one requires.
var errRequired = errors.New("is required")

// ErrDevInProduction (wrapped with ErrConfig) refuses development mode together with a
// production setting: an environment left with APPBACKEND_DEV=1 would otherwise serve
// the public with generated secrets and print them.
var ErrDevInProduction = errors.New("development mode (--dev, APPBACKEND_DEV) is not for production")

// checkDev refuses Dev with the settings only a production server has: a public
// domain with automatic HTTPS, or a live-mode API key.
func (c Config) checkDev() error {
	if !c.Dev {
		return nil
	}
	switch {
	case len(c.Domains) > 0:
		return c.crossError("APPBACKEND_DOMAIN", ErrDevInProduction, ErrDevInProduction.Error()+": unset %s or %s", "APPBACKEND_DEV", "APPBACKEND_DOMAIN")
	case c.SecretKey != "":
		return c.crossError("STRIPE_SECRET_KEY", ErrDevInProduction, ErrDevInProduction.Error()+": unset %s or %s (the live key; develop with STRIPE_TEST_SECRET_KEY)", "APPBACKEND_DEV", "STRIPE_SECRET_KEY")
	}
	return nil
}
