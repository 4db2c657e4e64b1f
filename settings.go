package appbackend

//go:generate go test -run TestREADMEConfigurationTable -update-readme .

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appbackend/appbackend/internal/alert"
	"github.com/appbackend/appbackend/internal/forwarded"
	"github.com/appbackend/appbackend/internal/gateway"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/stripeclient"
)

// setting is one row of the configuration schema. Everything that names a setting
// comes from this table: the environment reader, serve's flags and their help, the
// config file's keys, the README's configuration table (go generate), Validate's
// per-setting rules and the doctor's per-setting findings.
type setting struct {
	// env is the environment variable, which is also the setting's identity
	// (ConfigError.Setting). The file key is derived from it (fileKey).
	env string
	// flag is serve's flag, without the dashes.
	flag string
	// kind is how the value is written: it picks the flag's type in --help and is
	// shown in the README.
	kind settingKind
	// def is the default as the README and --help show it ("" when there is none to
	// print: the help then says nothing).
	def string
	// help is the meaning, in the README's Markdown; --help shows it as plain text.
	help string
	// secret: the value is never repeated in a message.
	secret bool
	// noFile: the setting cannot come from the config file (APPBACKEND_CONFIG itself).
	noFile bool
	// set parses a non-empty raw value into c; the error is worded to follow the
	// setting's name ("\"x\" is not a positive number"). Only the rules that reading
	// always enforced are here, so that doctor and the listings can still read a
	// configuration that Validate refuses.
	set func(c *Config, raw string) error
	// check is Validate's rule for the value in c, however it was set (nil: none),
	// worded like set's errors.
	check func(c Config) error
}

type settingKind string

const (
	kindString   settingKind = "string"
	kindList     settingKind = "list"
	kindBool     settingKind = "bool"
	kindInt      settingKind = "int"
	kindDuration settingKind = "duration"
	kindBytes    settingKind = "bytes"
)

// fileKey is the setting's key in the config file: the variable in lower case without
// APPBACKEND_ (ConfigFileVariable is its inverse).
func (s setting) fileKey() string {
	if s.noFile {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(s.env, "APPBACKEND_"))
}

// settings is the configuration schema, in the README's order.
var settings = sync.OnceValue(func() []setting {
	return []setting{
		{env: "APPBACKEND_CONFIG", flag: "config", kind: kindString, noFile: true, def: "none",
			help: "a TOML file of these settings (and gateway `[[schedule]]`s); the environment overrides it, flags override both",
			set:  func(*Config, string) error { return nil }}, // read by the loader itself
		{env: "APPBACKEND_DEV", flag: "dev", kind: kindBool, def: "off",
			help: "`1` or `true`: development mode (generated secrets kept in the database and printed); refused with `APPBACKEND_DOMAIN` or `STRIPE_SECRET_KEY`",
			set: func(c *Config, raw string) (err error) {
				c.Dev, err = parseBool(raw)
				return err
			}},
		{env: "APPBACKEND_ADDR", flag: "addr", kind: kindString, def: "`" + DefaultAddr + "` (`" + DefaultHTTPAddrWithDomain + "` with `APPBACKEND_DOMAIN`)",
			help: "listen address", set: setString(func(c *Config) *string { return &c.Addr })},
		{env: "APPBACKEND_DATABASE", flag: "database", kind: kindString, def: "`" + DefaultDatabase + "`",
			help: "`sqlite:PATH` or a `postgres://` URL", set: setString(func(c *Config) *string { return &c.Database }),
			check: func(c Config) error {
				_, _, err := setup.ParseDatabase(c.Database)
				return reasonOf(err, "APPBACKEND_DATABASE")
			}},
		{env: "APPBACKEND_DB_POOL", flag: "db-pool", kind: kindInt, def: "`20`", help: "PostgreSQL connection pool size",
			set:   setInt(func(c *Config) *int { return &c.DBPoolSize }, "is not a positive number of connections"),
			check: checkInt(func(c Config) int { return c.DBPoolSize }, "is not a positive number of connections")},
		{env: "APPBACKEND_DB_STATEMENT_TIMEOUT", flag: "db-statement-timeout", kind: kindDuration, def: "none",
			help:  "PostgreSQL `statement_timeout`",
			set:   setDuration(func(c *Config) *time.Duration { return &c.DBStatementTimeout }, positive, "30s"),
			check: checkDuration(func(c Config) time.Duration { return c.DBStatementTimeout }, positive, "30s")},
		{env: "APPBACKEND_MIGRATIONS", flag: "migrations", kind: kindString, def: "none",
			help: "a folder of the app's own migrations `NNNN_name.sql` (optional `sqlite/`, `postgres/`), applied after appbackend's",
			set: func(c *Config, raw string) error {
				c.Migrations = os.DirFS(strings.TrimSpace(raw))
				return nil
			}},
		{env: "STRIPE_APP_SECRETS", flag: "app-secrets", kind: kindList, secret: true, def: "required unless `--dev`",
			help: "app signing secrets `absec_…`, comma-separated (two while one is being expired)",
			set:  setList(func(c *Config) *[]string { return &c.AppSecrets }),
			check: func(c Config) error {
				return checkPrefixes(c.AppSecrets, "absec_", "whsec_", "STRIPE_WEBHOOK_SECRETS",
					"use the signing secret from the app's page in the Stripe Dashboard")
			}},
		{env: "STRIPE_WEBHOOK_SECRETS", flag: "webhook-secrets", kind: kindList, secret: true, def: "none",
			help: "endpoint signing secrets `whsec_…`, comma-separated",
			set:  setList(func(c *Config) *[]string { return &c.WebhookSecrets }),
			check: func(c Config) error {
				return checkPrefixes(c.WebhookSecrets, "whsec_", "absec_", "STRIPE_APP_SECRETS",
					"use the signing secret shown on the webhook endpoint's page in the Stripe Dashboard")
			}},
		{env: "STRIPE_SECRET_KEY", flag: "secret-key", kind: kindString, secret: true, def: "none",
			help: "live API key `sk_live_…` or `rk_live_…`", set: setString(func(c *Config) *string { return &c.SecretKey }),
			check: func(c Config) error {
				return reasonOf(stripeclient.Keys{Live: c.SecretKey}.Validate(), stripeclient.EnvSecretKey)
			}},
		{env: "STRIPE_TEST_SECRET_KEY", flag: "test-secret-key", kind: kindString, secret: true, def: "none",
			help: "test API key `sk_test_…` or `rk_test_…`", set: setString(func(c *Config) *string { return &c.TestSecretKey }),
			check: func(c Config) error {
				return reasonOf(stripeclient.Keys{Test: c.TestSecretKey}.Validate(), stripeclient.EnvTestSecretKey)
			}},
		{env: "STRIPE_API_BASE", flag: "api-base", kind: kindString, def: "Stripe's",
			help: "Stripe API base URL (stripe-mock or a fake in tests)", set: setString(func(c *Config) *string { return &c.APIBase }),
			check: func(c Config) error {
				_, err := stripeclient.ParseAPIBase(c.APIBase)
				return reasonOf(err, stripeclient.EnvAPIBase)
			}},
		{env: "APPBACKEND_ADMIN_TOKEN", flag: "admin-token", kind: kindString, secret: true, def: "none",
			help: fmt.Sprintf("bearer token for `/admin`, at least %d characters (a shorter one: `serve` refuses to start)", MinAdminTokenLength),
			// Not trimmed: a token is compared as given.
			set:   func(c *Config, raw string) error { c.AdminToken = raw; return nil },
			check: func(c Config) error { return checkAdminToken(c.AdminToken) }},
		{env: "APPBACKEND_METRICS_ADDR", flag: "metrics-addr", kind: kindString, def: "none: on the main address",
			help: "a separate listen address for `GET /metrics`; the main address then answers `404` there",
			set:  setString(func(c *Config) *string { return &c.MetricsAddr })},
		{env: "STRIPE_APP_ID", flag: "app-id", kind: kindString, def: "none",
			help: "the app's id (or OAuth client id), for install links", set: setString(func(c *Config) *string { return &c.AppID })},
		{env: "APPBACKEND_PUBLIC_URL", flag: "public-url", kind: kindString, def: "none",
			help: "the backend's public base URL (install-link redirects; `PUBLIC_URL/install/callback` is an `allowed_redirect_uri`)",
			set:  setString(func(c *Config) *string { return &c.PublicURL }), check: checkHTTPURL(func(c Config) string { return c.PublicURL })},
		{env: "APPBACKEND_INSTALL_RETURN_URL", flag: "install-return-url", kind: kindString, def: "a plain \"installed\" page",
			help: "where `/install/callback` sends the browser afterwards",
			set:  setString(func(c *Config) *string { return &c.InstallReturnURL }), check: checkHTTPURL(func(c Config) string { return c.InstallReturnURL })},
		{env: "APPBACKEND_ENCRYPTION_KEY", flag: "encryption-key", kind: kindList, secret: true, def: "none",
			help: "base64 32-byte keys sealing OAuth tokens and TLS/ACME private keys, comma-separated (the first encrypts)",
			set:  setList(func(c *Config) *[]string { return &c.EncryptionKeys }),
			check: func(c Config) error {
				if _, err := secretbox.Parse(strings.Join(c.EncryptionKeys, ",")); err != nil {
					return fmt.Errorf("is not a list of keys: %w", err)
				}
				return nil
			}},
		{env: "APPBACKEND_DOMAIN", flag: "domain", kind: kindList, def: "none: plain HTTP",
			help: "serve HTTPS for these domains (comma-separated), with certificates obtained and renewed over ACME and kept in the database (replicas share them; a restart reuses them; their private keys sealed with `APPBACKEND_ENCRYPTION_KEY` when it is set); `APPBACKEND_ADDR` then defaults to `:80`, answers ACME HTTP-01 challenges, `/healthz` and `/readyz`, and redirects everything else to HTTPS (308) for those domains only (another `Host`: `404`)",
			set:  setList(func(c *Config) *[]string { return &c.Domains }),
			check: func(c Config) error {
				for _, d := range c.Domains {
					if strings.ContainsAny(d, "/:@ ") || !strings.Contains(d, ".") && d != "localhost" {
						return fmt.Errorf("%q is not a domain name such as api.example.com", d)
					}
				}
				return nil
			}},
		{env: "APPBACKEND_HTTPS_ADDR", flag: "https-addr", kind: kindString, def: "`" + DefaultHTTPSAddr + "`",
			help: "HTTPS listen address (TLS 1.2+, HTTP/2) with `APPBACKEND_DOMAIN`", set: setString(func(c *Config) *string { return &c.HTTPSAddr })},
		{env: "APPBACKEND_ACME_EMAIL", flag: "acme-email", kind: kindString, def: "none",
			help: "the ACME account's contact", set: setString(func(c *Config) *string { return &c.ACMEEmail })},
		{env: "APPBACKEND_ACME_DIRECTORY", flag: "acme-directory", kind: kindString, def: "Let's Encrypt",
			help: "any RFC 8555 directory; Let's Encrypt staging is `https://acme-staging-v02.api.letsencrypt.org/directory`",
			set:  setString(func(c *Config) *string { return &c.ACMEDirectory })},
		{env: "APPBACKEND_ACME_CA_ROOT", flag: "acme-ca-root", kind: kindString, def: "the system's",
			help: "PEM roots trusted for the ACME server's own HTTPS (a private CA)",
			set: func(c *Config, raw string) error {
				pool, err := LoadRoots(strings.TrimSpace(raw))
				if err != nil {
					return fmt.Errorf("cannot be read: %v", err)
				}
				c.ACMERoots = pool
				return nil
			}},
		{env: "APPBACKEND_TRUSTED_PROXIES", flag: "trusted-proxies", kind: kindList, def: "none",
			help: "CIDRs of proxies and load balancers whose `X-Forwarded-For` (client address: sign-in throttle, logs) and `X-Forwarded-Proto` (Secure cookie) are believed; from any other peer both are ignored",
			set:  setList(func(c *Config) *[]string { return &c.TrustedProxies }),
			check: func(c Config) error {
				_, err := forwarded.Parse(c.TrustedProxies)
				return err // "\"x\" is not a CIDR such as …"
			}},
		{env: "APPBACKEND_BACKUP_DIR", flag: "backup-dir", kind: kindString, def: "none: off",
			help: "write scheduled backups of the SQLite database here (`appbackend-<UTC time>.db`)",
			set:  setString(func(c *Config) *string { return &c.BackupDir }),
			check: func(c Config) error {
				if c.BackupDir == "" {
					return nil
				}
				if kind, _, _ := setup.ParseDatabase(c.Database); kind != "sqlite" {
					return fmt.Errorf("backs up a SQLite database; back PostgreSQL up with pg_dump or your provider's snapshots")
				}
				return nil
			}},
		{env: "APPBACKEND_BACKUP_EVERY", flag: "backup-every", kind: kindDuration, def: "`24h`", help: "interval of scheduled backups",
			set:   setDuration(func(c *Config) *time.Duration { return &c.BackupEvery }, positive, "24h"),
			check: checkDuration(func(c Config) time.Duration { return c.BackupEvery }, positive, "24h")},
		{env: "APPBACKEND_BACKUP_KEEP", flag: "backup-keep", kind: kindInt, def: "`7`", help: "scheduled backups kept",
			set:   setInt(func(c *Config) *int { return &c.BackupKeep }, "is not a positive number of backups"),
			check: checkInt(func(c Config) int { return c.BackupKeep }, "is not a positive number of backups")},
		{env: "APPBACKEND_MAX_BODY", flag: "max-body", kind: kindBytes, def: "`1048576`", help: "request body limit, bytes",
			set: func(c *Config, raw string) (err error) {
				c.MaxBody, err = setup.ParseByteSize(raw)
				return err
			},
			check: func(c Config) error {
				if c.MaxBody < 0 {
					return fmt.Errorf("%q is not a positive number of bytes", strconv.FormatInt(c.MaxBody, 10))
				}
				return nil
			}},
		{env: "APPBACKEND_PROCESSED_RETENTION", flag: "processed-retention", kind: kindDuration, def: "`720h`",
			help:  "how long processed events, and dead ones (from when they died, unless replayed), are kept before they are pruned in small batches; pending and failed events are never pruned, and a pruned event's id stays a duplicate for max(30 days, the retention) after its `created` (at least `1s`; see [Retention](#retention))",
			set:   setDuration(func(c *Config) *time.Duration { return &c.ProcessedRetention }, time.Second, "720h"),
			check: checkDuration(func(c Config) time.Duration { return c.ProcessedRetention }, time.Second, "720h")},
		{env: "APPBACKEND_INSTALL_RECONCILE_INTERVAL", flag: "install-reconcile-interval", kind: kindDuration, def: "`1h`",
			help:  "how often installations are reconciled with Stripe's list of installs (`GET /v1/apps/installs` for `STRIPE_APP_ID`), besides once at start (at least `1m`)",
			set:   setDuration(func(c *Config) *time.Duration { return &c.InstallReconcileInterval }, time.Minute, "1h"),
			check: checkDuration(func(c Config) time.Duration { return c.InstallReconcileInterval }, time.Minute, "1h")},
		{env: "APPBACKEND_EVENT_RETENTION", flag: "event-retention", kind: kindDuration, def: "forever",
			help:  "how long an uninstalled account's events are kept (`720h`)",
			set:   setDuration(func(c *Config) *time.Duration { return &c.EventRetention }, 0, "720h"),
			check: checkDuration(func(c Config) time.Duration { return c.EventRetention }, 0, "720h")},
		{env: "APPBACKEND_JOB_RESCUE_AFTER", flag: "job-rescue-after", kind: kindDuration, def: "`5m`",
			help:  "how long a job may run before River takes it for lost and runs it again (jobs that are safe to repeat are handed back sooner, on a stale heartbeat)",
			set:   setDuration(func(c *Config) *time.Duration { return &c.JobRescueAfter }, positive, "5m"),
			check: checkDuration(func(c Config) time.Duration { return c.JobRescueAfter }, positive, "5m")},
		{env: "APPBACKEND_EVENT_MAX_ATTEMPTS", flag: "event-max-attempts", kind: kindInt, def: "`8`",
			help:  "how often an event is tried before it is `dead` (also for `events replay`)",
			set:   setInt(func(c *Config) *int { return &c.EventMaxAttempts }, "is not a positive number"),
			check: checkInt(func(c Config) int { return c.EventMaxAttempts }, "is not a positive number")},
		{env: "APPBACKEND_ALERT_URL", flag: "alert-url", kind: kindString, def: "none: no alerts",
			help: "receives a [signed POST when events die](#operations-for-mass-failures), at most one per 5 minutes, retried",
			set:  setString(func(c *Config) *string { return &c.AlertURL }),
			check: func(c Config) error {
				if c.AlertURL == "" {
					return nil
				}
				if err := (alert.Config{URL: c.AlertURL, Secret: validAlertSecret}).Validate(); err != nil {
					return reasonOf(err, "APPBACKEND_ALERT_URL")
				}
				return nil
			}},
		{env: "APPBACKEND_ALERT_SECRET", flag: "alert-secret", kind: kindString, secret: true, def: "none",
			help: "Standard Webhooks secret `whsec_…` the alerts are signed with; required with `APPBACKEND_ALERT_URL`",
			set:  setString(func(c *Config) *string { return &c.AlertSecret }), check: checkWebhooksSecret(func(c Config) string { return c.AlertSecret })},
		{env: "APPBACKEND_UPSTREAM", flag: "upstream", kind: kindString, def: "none: off",
			help: "gateway mode: the base URL of the app's own server ([Gateway mode](#gateway-mode-a-backend-in-any-language))",
			set:  setString(func(c *Config) *string { return &c.Gateway.Upstream }),
			check: func(c Config) error {
				if c.Gateway.Upstream == "" {
					return nil
				}
				if _, err := gateway.ParseUpstream(c.Gateway.Upstream); err != nil {
					return fmt.Errorf("is %v", err)
				}
				return nil
			}},
		{env: "APPBACKEND_UPSTREAM_SECRET", flag: "upstream-secret", kind: kindString, secret: true, def: "required with `APPBACKEND_UPSTREAM` unless `--dev`",
			help: "Standard Webhooks secret `whsec_…` signing every call to the upstream",
			set:  setString(func(c *Config) *string { return &c.Gateway.Secret }), check: checkWebhooksSecret(func(c Config) string { return c.Gateway.Secret })},
		{env: "APPBACKEND_UPSTREAM_EVENTS_PATH", flag: "upstream-events-path", kind: kindString, def: "`" + DefaultUpstreamEventsPath + "`",
			help: "upstream path events are POSTed to", set: setString(func(c *Config) *string { return &c.Gateway.EventsPath }),
			check: func(c Config) error {
				if p := c.Gateway.EventsPath; p != "" && !strings.HasPrefix(p, "/") {
					return fmt.Errorf("%q must start with /", p)
				}
				return nil
			}},
		{env: "APPBACKEND_UPSTREAM_API_ADDR", flag: "upstream-api-addr", kind: kindString, def: "`" + DefaultUpstreamAPIAddr + "`",
			help: "listen address of the upstream API", set: setString(func(c *Config) *string { return &c.Gateway.APIAddr }),
			check: func(c Config) error {
				if c.Gateway.Upstream == "" || c.Gateway.APIListener != nil || c.Gateway.APIAddr == "" {
					return nil
				}
				if _, _, err := net.SplitHostPort(c.Gateway.APIAddr); err != nil {
					return fmt.Errorf("%q is not host:port", c.Gateway.APIAddr)
				}
				return nil
			}},
		{env: "APPBACKEND_UPSTREAM_TIMEOUT", flag: "upstream-timeout", kind: kindDuration, def: "`30s`", help: "bound of each call to the upstream",
			set:   setDuration(func(c *Config) *time.Duration { return &c.Gateway.Timeout }, positive, "30s"),
			check: checkDuration(func(c Config) time.Duration { return c.Gateway.Timeout }, positive, "30s")},
		{env: "APPBACKEND_LOG_LEVEL", flag: "log-level", kind: kindString, def: "`info`", help: "`debug`, `info`, `warn`, `error`",
			set: func(c *Config, raw string) error {
				if err := c.LogLevel.UnmarshalText([]byte(strings.TrimSpace(raw))); err != nil {
					return fmt.Errorf("%q: want debug, info, warn or error", raw)
				}
				return nil
			}},
		{env: "APPBACKEND_LOG_FORMAT", flag: "log-format", kind: kindString, def: "`text`", help: "`text` or `json` (on stderr)",
			set: func(c *Config, raw string) error {
				switch f := strings.ToLower(strings.TrimSpace(raw)); f {
				case "text", "json":
					c.LogFormat = f
					return nil
				}
				return fmt.Errorf("%q: want text or json", raw)
			}},
	}
})

// settingByEnv finds a setting by its variable.
func settingByEnv(env string) (setting, bool) {
	for _, s := range settings() {
		if s.env == env {
			return s, true
		}
	}
	return setting{}, false
}

// positive as a duration's minimum: more than zero (a minimum of 0 allows zero).
const positive time.Duration = -1

func setString(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, raw string) error {
		*field(c) = strings.TrimSpace(raw)
		return nil
	}
}

func setList(field func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, raw string) error {
		*field(c) = setup.SplitList(raw)
		return nil
	}
}

func setInt(field func(*Config) *int, reason string) func(*Config, string) error {
	return func(c *Config, raw string) error {
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q %s", raw, reason)
		}
		*field(c) = n
		return nil
	}
}

// checkInt refuses a negative number set in Go (zero is the default).
func checkInt(field func(Config) int, reason string) func(Config) error {
	return func(c Config) error {
		if n := field(c); n < 0 {
			return fmt.Errorf("%q %s", strconv.Itoa(n), reason)
		}
		return nil
	}
}

func durationReason(min time.Duration, example string) string {
	switch {
	case min == positive:
		return "is not a positive duration such as " + example
	case min > 0:
		return fmt.Sprintf("is not a duration of at least %s such as %s", shortDuration(min), example)
	}
	return "is not a duration such as " + example
}

func durationOK(d, min time.Duration) bool {
	if min == positive {
		return d > 0
	}
	return d >= min
}

func setDuration(field func(*Config) *time.Duration, min time.Duration, example string) func(*Config, string) error {
	return func(c *Config, raw string) error {
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil || !durationOK(d, min) {
			return fmt.Errorf("%q %s", raw, durationReason(min, example))
		}
		*field(c) = d
		return nil
	}
}

// checkDuration is a duration's rule for a value set in Go, where zero is the default.
func checkDuration(field func(Config) time.Duration, min time.Duration, example string) func(Config) error {
	return func(c Config) error {
		if d := field(c); d != 0 && !durationOK(d, min) {
			return fmt.Errorf("%q %s", shortDuration(d), durationReason(min, example))
		}
		return nil
	}
}

// shortDuration writes 1m rather than 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func parseBool(raw string) (bool, error) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%q is not 1, true, 0 or false", v)
	}
	return on, nil
}

// validAlertSecret lets alert.Config.Validate judge the URL alone.
const validAlertSecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY="

func checkHTTPURL(field func(Config) string) func(Config) error {
	return func(c Config) error {
		v := field(c)
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%q is not an absolute http(s) URL", v)
		}
		return nil
	}
}

func checkWebhooksSecret(field func(Config) string) func(Config) error {
	return func(c Config) error {
		if v := field(c); v != "" {
			if _, err := gateway.ParseSecret(v); err != nil {
				return fmt.Errorf("is %w", err)
			}
		}
		return nil
	}
}

// checkPrefixes wants every entry to start with prefix; an entry with the other kind's
// prefix was put in the wrong setting (otherSetting). Only positions are named.
func checkPrefixes(secrets []string, prefix, otherPrefix, otherSetting, hint string) error {
	for i, s := range secrets {
		switch {
		case strings.HasPrefix(s, otherPrefix):
			return fmt.Errorf("entry %d is a %s… secret: move it to %s and put the %s… secret here", i+1, otherPrefix, otherSetting, prefix)
		case !strings.HasPrefix(s, prefix) || s == prefix:
			return fmt.Errorf("entry %d does not look like a %s… secret: %s", i+1, prefix, hint)
		}
	}
	return nil
}

// reasonOf rewords an error of a package that names the variable itself
// ("invalid configuration: STRIPE_API_BASE must be …") to follow the setting's name as
// the user gave it ("must be …").
func reasonOf(err error, env string) error {
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), ErrConfig.Error()+": ")
	if rest, ok := strings.CutPrefix(msg, env); ok {
		return reason{strings.TrimLeft(rest, " :"), err}
	}
	return reason{"is invalid: " + msg, err}
}

// reason is a rewording that keeps the original error for errors.Is.
type reason struct {
	msg string
	err error
}

func (r reason) Error() string { return r.msg }
func (r reason) Unwrap() error { return r.err }

// newLogger is the logger of LogLevel and LogFormat, on w.
func (c Config) newLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
