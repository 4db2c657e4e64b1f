// Package doctor checks an appbackend configuration and what its database has seen
// for the oversights that keep Stripe's events from arriving or API calls from
// working, and says each in one plain sentence: what is wrong and what to do.
//
// [Run] is pure apart from the functions and store it is given: the command
// `appbackend doctor` fills an [Input] from the environment and the configured
// database, and prints the findings. The checks:
//
//   - every setting whose value is invalid by itself (Input.Settings, from the
//     settings table's rules, as serve would refuse it): secrets in the wrong variable
//     or without their prefix (absec_, whsec_), API keys whose prefix does not match
//     their mode or a publishable key, a short admin token, a malformed URL, …;
//   - no webhook secret although API keys are set or accounts have the app installed;
//   - live events or installations without a live key, test ones without a test key;
//   - a live key while only test events ever arrived (the live endpoint's secret is
//     probably missing), and the reverse;
//   - a database or Stripe API that does not answer;
//   - no event of a mode for days although accounts have the app installed in it;
//   - dead events waiting for a replay, pending migrations;
//   - event processing paused (`appbackend events pause`), so that events pile up;
//   - OAuth tokens that APPBACKEND_ENCRYPTION_KEY does not open (a wrong, missing or
//     dropped key), so that every call for those accounts fails.
//
// No finding ever contains a secret or key: only variable names, positions, prefixes
// and counts.
package doctor

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// Severity says how urgent a finding is.
type Severity string

const (
	// Error: something does not work now — events are refused, calls fail.
	Error Severity = "error"
	// Warning: most likely an oversight; it may be intended.
	Warning Severity = "warning"
)

// Finding is one thing doctor found.
type Finding struct {
	Severity Severity `json:"severity"`
	// Check names the check that produced it (stable, for scripts and tests).
	Check string `json:"check"`
	// Message is one sentence: what is wrong and what to do.
	Message string `json:"message"`
}

// Check names.
const (
	CheckAppSecretMissing     = "app_secret_missing"
	CheckAppSecretPrefix      = "app_secret_prefix"
	CheckWebhookSecretPrefix  = "webhook_secret_prefix"
	CheckKeyMode              = "key_mode"
	CheckWebhookSecretMissing = "webhook_secret_missing"
	CheckLiveKeyMissing       = "live_key_missing"
	CheckTestKeyMissing       = "test_key_missing"
	CheckLiveEventsMissing    = "live_events_missing"
	CheckTestEventsMissing    = "test_events_missing"
	CheckDatabaseUnreachable  = "database_unreachable"
	CheckDatabaseQuery        = "database_query"
	CheckStripeUnreachable    = "stripe_unreachable"
	CheckEventsQuiet          = "events_quiet"
	CheckDeadEvents           = "dead_events"
	CheckPendingMigrations    = "pending_migrations"
	CheckAdminTokenShort      = "admin_token_short"
	CheckBackupStale          = "backup_stale"
	CheckCertificateExpiry    = "certificate_expiry"
	CheckReauthorization      = "reauthorization_required"
	CheckPermissionsPending   = "permissions_pending"
	CheckEncryptionKey        = "encryption_key"
	CheckEventsPaused         = "events_paused"
	// CheckSettingInvalid is a setting invalid by itself that has no check of its own
	// above.
	CheckSettingInvalid = "setting_invalid"
)

// settingChecks are the checks of the settings that had one before the settings table
// judged every setting: their names stay, for scripts.
var settingChecks = map[string]string{
	"STRIPE_APP_SECRETS":          CheckAppSecretPrefix,
	"STRIPE_WEBHOOK_SECRETS":      CheckWebhookSecretPrefix,
	stripeclient.EnvSecretKey:     CheckKeyMode,
	stripeclient.EnvTestSecretKey: CheckKeyMode,
	"APPBACKEND_ADMIN_TOKEN":      CheckAdminTokenShort,
	"APPBACKEND_ENCRYPTION_KEY":   CheckEncryptionKey,
}

// settingHints complete a setting's message with where to find the right value.
var settingHints = map[string]string{
	CheckKeyMode: "; copy the right one from the Stripe Dashboard (Developers → API keys, with test mode on for the test key)",
}

// SettingProblem is a setting whose value is invalid by itself (the root package's
// Config.Problems: one ConfigError each).
type SettingProblem struct {
	// Setting is the setting's variable (ConfigError.Setting).
	Setting string
	// Message names the setting as the user gave it and says what is wrong, without
	// the value of a secret.
	Message string
}

// NewSettingProblem is setting's problem from the configuration's error (the root
// package's *ConfigError), without the "invalid configuration: " that every one of them
// starts with.
func NewSettingProblem(setting string, err error) SettingProblem {
	return SettingProblem{Setting: setting, Message: strings.TrimPrefix(err.Error(), setup.ErrConfig.Error()+": ")}
}

// DefaultQuietAfter is how long without any event of a mode, while accounts have the
// app installed in that mode, before doctor says so. Stripe retries a failed delivery
// for up to three days in live mode, so a longer silence means events are being lost.
const DefaultQuietAfter = 72 * time.Hour

// Config is the part of the configuration doctor checks. The values are read, never
// repeated in a finding.
type Config struct {
	AppSecrets     []string // STRIPE_APP_SECRETS
	WebhookSecrets []string // STRIPE_WEBHOOK_SECRETS
	SecretKey      string   // STRIPE_SECRET_KEY (live)
	TestSecretKey  string   // STRIPE_TEST_SECRET_KEY
	AdminToken     string   // APPBACKEND_ADMIN_TOKEN
}

// Store is what doctor reads from the database; a [store.Store] is one.
type Store interface {
	ListInstallations(ctx context.Context, f store.InstallationFilter) ([]store.Installation, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	CountEvents(ctx context.Context) (map[store.EventStatus]int, error)
}

// Input is everything [Run] looks at.
type Input struct {
	Config Config
	// Settings are the settings invalid by themselves; each is a finding (an error,
	// but a short admin token is a warning).
	Settings []SettingProblem
	// Store is the opened database; nil skips the checks that read it.
	Store Store
	// PingDatabase reports whether the database answers (the error of opening it, if
	// that failed); nil skips the check. Its error is quoted, so it must not carry a
	// password (a postgres:// URL's, for one).
	PingDatabase func(ctx context.Context) error
	// PendingMigrations counts migrations not yet applied; nil skips the check.
	PendingMigrations func(ctx context.Context) (int, error)
	// PingStripe calls the Stripe API with each configured key (stripeclient's
	// Clients.Ping); nil skips the check. Its error is quoted, so it must not carry a
	// key (stripeclient's errors do not).
	PingStripe func(ctx context.Context) error
	// Now is the current time (default time.Now()).
	Now time.Time
	// QuietAfter overrides DefaultQuietAfter.
	QuietAfter time.Duration
	// BackupEvery is APPBACKEND_BACKUP_EVERY when scheduled backups are on; LastBackup
	// reads when the latest one was written (ok false if none). nil skips the check.
	BackupEvery time.Duration
	LastBackup  func(ctx context.Context) (at time.Time, ok bool, err error)
	// CertificateExpiry reads when the stored certificate of each APPBACKEND_DOMAIN
	// expires (zero if none is stored); nil skips the check.
	CertificateExpiry func(ctx context.Context) (map[string]time.Time, error)
	// OAuthKeys tries to open the stored OAuth tokens with APPBACKEND_ENCRYPTION_KEY
	// (oauth's Manager.CheckKeys); nil skips the check. Its error is quoted, so it
	// must not carry a key (secretbox's errors do not).
	OAuthKeys func(ctx context.Context) (oauth.KeyCheck, error)
	// EventsPaused reads whether event processing is paused (events.PauseState) and
	// since when; nil skips the check.
	EventsPaused func(ctx context.Context) (since time.Time, paused bool, err error)
}

// CertificateWarnBefore is how long before a certificate expires doctor warns: it is
// renewed a third of its lifetime ahead (30 of Let's Encrypt's 90 days), so one this
// close to expiry has failed to renew.
const CertificateWarnBefore = 14 * 24 * time.Hour

// Run runs every check and returns the findings, errors first; none means the
// configuration looks right.
func Run(ctx context.Context, in Input) []Finding {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	if in.QuietAfter <= 0 {
		in.QuietAfter = DefaultQuietAfter
	}
	var r report
	checkSettings(&r, in.Settings)
	checkSecrets(&r, in.Config)
	checkKeys(&r, in.Config)
	dbUp := true
	if in.PingDatabase != nil {
		if err := in.PingDatabase(ctx); err != nil {
			dbUp = false
			r.add(Error, CheckDatabaseUnreachable, fmt.Sprintf(
				"The database does not answer (%v): check APPBACKEND_DATABASE and that the file or server is reachable, because until it answers webhooks are refused and nothing is processed.",
				oneLine(err)))
		}
	}
	if dbUp && in.PendingMigrations != nil {
		if n, err := in.PendingMigrations(ctx); err != nil {
			r.queryFailed(err)
		} else if n > 0 {
			r.add(Warning, CheckPendingMigrations, fmt.Sprintf(
				"%s not applied to the database yet: run `appbackend migrate` (serve also applies them when it starts).",
				plural(n, "migration is", "migrations are")))
		}
	}
	if dbUp && in.Store != nil {
		checkInbox(ctx, &r, in)
	}
	if dbUp {
		checkBackup(ctx, &r, in)
		checkCertificates(ctx, &r, in)
		checkOAuthKeys(ctx, &r, in)
		checkPaused(ctx, &r, in)
	}
	if in.PingStripe != nil && (in.Config.SecretKey != "" || in.Config.TestSecretKey != "") {
		if err := in.PingStripe(ctx); err != nil {
			r.add(Error, CheckStripeUnreachable, fmt.Sprintf(
				"The Stripe API check failed (%v): check that the key is current in the Dashboard and that this machine can reach the API (and STRIPE_API_BASE, if set).",
				oneLine(err)))
		}
	}
	slices.SortStableFunc(r.findings, func(a, b Finding) int { return cmp.Compare(rank(a.Severity), rank(b.Severity)) })
	return r.findings
}

func rank(s Severity) int {
	if s == Error {
		return 0
	}
	return 1
}

type report struct {
	findings []Finding
	queried  bool // a database query failed and was reported
}

// queryFailed reports the first failed database read; later ones add nothing.
func (r *report) queryFailed(err error) {
	if r.queried {
		return
	}
	r.queried = true
	r.add(Error, CheckDatabaseQuery, fmt.Sprintf(
		"Reading the database failed (%v): run `appbackend migrate` if it is an older database, otherwise check its file or server.", oneLine(err)))
}

func (r *report) add(sev Severity, check, message string) {
	r.findings = append(r.findings, Finding{Severity: sev, Check: check, Message: message})
}

func checkSecrets(r *report, c Config) {
	if len(c.AppSecrets) == 0 {
		r.add(Error, CheckAppSecretMissing,
			"STRIPE_APP_SECRETS is empty, so no request from your UI extension can be verified: copy the app's signing secret (absec_…) from the app's page in the Stripe Dashboard into it.")
	}
}

// checkSettings reports each setting invalid by itself, in the settings table's words.
func checkSettings(r *report, problems []SettingProblem) {
	for _, p := range problems {
		check, ok := settingChecks[p.Setting]
		if !ok {
			check = CheckSettingInvalid
		}
		sev := Error
		if check == CheckAdminTokenShort {
			sev = Warning // refused at start, but doctor judges what runs now
		}
		r.add(sev, check, upperFirst(strings.TrimSuffix(p.Message, "."))+settingHints[check]+".")
	}
}

func checkKeys(r *report, c Config) {
	if len(c.WebhookSecrets) == 0 && (c.SecretKey != "" || c.TestSecretKey != "") {
		// The inbox check below says it more strongly when accounts are installed.
		r.add(Warning, CheckWebhookSecretMissing,
			"Stripe API keys are set but STRIPE_WEBHOOK_SECRETS is empty, so Stripe's events (installs, uninstalls) are refused: add the signing secret (whsec_…) of each webhook endpoint, live and test.")
	}
}

// modeFacts is what the inbox says about one mode.
type modeFacts struct {
	installed int       // accounts with the app installed
	newest    time.Time // newest event received; zero if none
}

func checkInbox(ctx context.Context, r *report, in Input) {
	ins, err := in.Store.ListInstallations(ctx, store.InstallationFilter{Status: store.Installed})
	if err != nil {
		r.queryFailed(err)
		return
	}
	facts := map[bool]*modeFacts{true: {}, false: {}}
	for _, i := range ins {
		facts[i.Livemode].installed++
	}
	for live, f := range facts {
		newest, err := in.Store.ListEvents(ctx, store.EventFilter{Livemode: &live, Limit: 1})
		if err != nil {
			r.queryFailed(err)
			return
		}
		if len(newest) == 1 {
			f.newest = newest[0].ReceivedAt
		}
	}
	live, test := facts[true], facts[false]
	c := in.Config
	hasWebhookSecret := len(c.WebhookSecrets) > 0

	if total := live.installed + test.installed; total > 0 && !hasWebhookSecret {
		// Replaces the weaker warning of checkKeys.
		r.findings = slices.DeleteFunc(r.findings, func(f Finding) bool { return f.Check == CheckWebhookSecretMissing })
		r.add(Error, CheckWebhookSecretMissing, fmt.Sprintf(
			"%s the app installed but STRIPE_WEBHOOK_SECRETS is empty, so their uninstalls and other events are refused: add the signing secret (whsec_…) of each webhook endpoint, live and test.",
			plural(total, "account has", "accounts have")))
	}

	for _, m := range []struct {
		facts     *modeFacts
		other     *modeFacts
		key       string
		mode      string
		env       string
		prefix    string
		noKey     string
		onlyOther string
	}{
		{live, test, c.SecretKey, "live", stripeclient.EnvSecretKey, "sk_live_… or rk_live_…", CheckLiveKeyMissing, CheckLiveEventsMissing},
		{test, live, c.TestSecretKey, "test", stripeclient.EnvTestSecretKey, "sk_test_… or rk_test_…", CheckTestKeyMissing, CheckTestEventsMissing},
	} {
		seen := m.facts.installed > 0 || !m.facts.newest.IsZero()
		switch {
		case seen && m.key == "":
			what := upperFirst(m.mode) + "-mode events have arrived"
			if m.facts.installed > 0 {
				what = plural(m.facts.installed, "account has", "accounts have") + " the app installed in " + m.mode + " mode"
			}
			r.add(Warning, m.noKey, fmt.Sprintf(
				"%s but %s is not set, so Stripe API calls for %s-mode accounts fail: set it to your %s-mode secret key (%s).",
				what, m.env, m.mode, m.mode, m.prefix))
		case m.key != "" && hasWebhookSecret && !seen && !m.other.newest.IsZero():
			r.add(Warning, m.onlyOther, fmt.Sprintf(
				"%s holds a %s-mode key but only %s-mode events have arrived: if any account installed the app in %s mode, add the %s webhook endpoint's signing secret to STRIPE_WEBHOOK_SECRETS (each endpoint has its own whsec_… secret).",
				m.env, m.mode, otherMode(m.mode), m.mode, m.mode))
		}
		if m.facts.installed > 0 && hasWebhookSecret && in.Now.Sub(m.facts.newest) > in.QuietAfter {
			since := "ever"
			if !m.facts.newest.IsZero() {
				since = "for " + days(in.Now.Sub(m.facts.newest))
			}
			r.add(Warning, CheckEventsQuiet, fmt.Sprintf(
				"No %s-mode event has arrived %s although %s the app installed in %s mode: check in the Stripe Dashboard that the %s webhook endpoint points at this server's /webhooks/stripe, is enabled, listens to events on connected accounts, and that its signing secret is in STRIPE_WEBHOOK_SECRETS.",
				m.mode, since, plural(m.facts.installed, "account has", "accounts have"), m.mode, m.mode))
		}
	}

	counts, err := in.Store.CountEvents(ctx)
	if err != nil {
		r.queryFailed(err)
		return
	}
	if reauth, err := in.Store.ListInstallations(ctx, store.InstallationFilter{Status: store.ReauthorizationRequired}); err != nil {
		r.queryFailed(err)
		return
	} else if n := len(reauth); n > 0 {
		r.add(Warning, CheckReauthorization, fmt.Sprintf(
			"%s to install the app again: Stripe refused the OAuth refresh token, so every call for them fails until they do (for example %s; list them with `appbackend installations --json`). Send them an install link.",
			plural(n, "account needs", "accounts need"), reauth[0].AccountID))
	}
	var pending []string
	for _, i := range ins {
		if len(i.PermissionsPending) > 0 {
			pending = append(pending, i.AccountID+" ("+modeLabel(i.Livemode)+": "+strings.Join(i.PermissionsPending, ", ")+")")
		}
	}
	if n := len(pending); n > 0 {
		shown := pending[:min(n, 3)]
		more := ""
		if n > len(shown) {
			more = fmt.Sprintf(" and %d more", n-len(shown))
		}
		r.add(Warning, CheckPermissionsPending, fmt.Sprintf(
			"%s not approved the permissions the app's latest version asks for: %s%s. Calls needing them fail until the merchant approves them in the Dashboard; ask them to, or call App.ReauthorizeInstall (list them with `appbackend installations --json`, permissions_pending).",
			plural(n, "account has", "accounts have"), strings.Join(shown, "; "), more))
	}
	if n := counts[store.EventDead]; n > 0 {
		r.add(Warning, CheckDeadEvents, fmt.Sprintf(
			"%s failed every attempt and will not be retried: read the last error with `appbackend events --status dead` or on the admin dashboard's events page, fix the cause, then replay them.",
			plural(n, "event", "events")))
	}
}

func otherMode(mode string) string {
	if mode == "live" {
		return "test"
	}
	return "live"
}

// plural writes "1 account" or "3 accounts"; the forms may carry a verb ("account has").
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func days(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	return plural(n, "day", "days")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// oneLine keeps an error to one line, so a finding stays one sentence.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// checkBackup warns when scheduled backups are on but the latest is older than two
// intervals (or there is none).
// checkPaused warns while event processing is paused: meant for the time a fix takes,
// it is easily forgotten, and then every event waits.
func checkPaused(ctx context.Context, r *report, in Input) {
	if in.EventsPaused == nil {
		return
	}
	since, paused, err := in.EventsPaused(ctx)
	switch {
	case err != nil:
		r.queryFailed(err)
	case paused:
		howLong := "less than a minute"
		if d := in.Now.Sub(since); d >= time.Minute {
			howLong = ago(d)
		}
		r.add(Warning, CheckEventsPaused, fmt.Sprintf(
			"Event processing is paused since %s (for %s): webhooks are acknowledged and stored but not processed or delivered; run `appbackend events resume` once the fix is out.",
			since.UTC().Format(time.RFC3339), howLong))
	}
}

func checkBackup(ctx context.Context, r *report, in Input) {
	if in.LastBackup == nil {
		return
	}
	at, ok, err := in.LastBackup(ctx)
	if err != nil {
		r.queryFailed(err)
		return
	}
	if !ok {
		r.add(Warning, CheckBackupStale,
			"APPBACKEND_BACKUP_DIR is set but no scheduled backup was written yet: start `appbackend serve` (it writes one at start), and check its log for \"scheduled backup failed\".")
		return
	}
	every := in.BackupEvery
	if every <= 0 {
		every = 24 * time.Hour
	}
	// Stale means a whole interval was missed, plus a minute for the backup itself
	// to run: with a short interval on a busy machine, the backup's own duration is
	// longer than the interval.
	if age := in.Now.Sub(at); age > 2*every+time.Minute {
		r.add(Warning, CheckBackupStale, fmt.Sprintf(
			"The last backup was written %s ago (%s), although one is due every %s: check that the server runs and its log for \"scheduled backup failed\" (disk full, folder not writable).",
			ago(age), at.UTC().Format(time.RFC3339), every))
	}
}

// checkCertificates reports each domain's certificate that is missing, expired or
// close to expiry.
func checkCertificates(ctx context.Context, r *report, in Input) {
	if in.CertificateExpiry == nil {
		return
	}
	expiry, err := in.CertificateExpiry(ctx)
	if err != nil {
		r.queryFailed(err)
		return
	}
	domains := make([]string, 0, len(expiry))
	for d := range expiry {
		domains = append(domains, d)
	}
	slices.Sort(domains)
	for _, d := range domains {
		at := expiry[d]
		switch left := at.Sub(in.Now); {
		case at.IsZero():
			r.add(Warning, CheckCertificateExpiry, fmt.Sprintf(
				"No certificate for %s is stored yet: start `appbackend serve` with APPBACKEND_DOMAIN, make sure %s resolves to this server and port 80 reaches it, and watch its log for ACME errors.", d, d))
		case left <= 0:
			r.add(Error, CheckCertificateExpiry, fmt.Sprintf(
				"The certificate for %s expired %s ago (%s), so browsers and Stripe refuse the backend: check the server's log for ACME errors and that port 80 reaches it.", d, ago(-left), at.UTC().Format(time.RFC3339)))
		case left < CertificateWarnBefore:
			r.add(Warning, CheckCertificateExpiry, fmt.Sprintf(
				"The certificate for %s expires in %s (%s) and has not been renewed: check the server's log for ACME errors and that port 80 reaches it.", d, ago(left), at.UTC().Format(time.RFC3339)))
		}
	}
}

// ago says a duration the way a person would: "3 days", "5 hours", "12 minutes".
func ago(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
}

// checkOAuthKeys says when the stored OAuth tokens do not open with the configured
// key: every Stripe call for those accounts then fails, and nothing else says why.
func checkOAuthKeys(ctx context.Context, r *report, in Input) {
	if in.OAuthKeys == nil {
		return
	}
	c, err := in.OAuthKeys(ctx)
	if err != nil {
		hint := "run `appbackend migrate` if it is an older database, otherwise check its file or server"
		if errors.Is(err, secretbox.ErrBadKey) {
			hint = "print a key with `appbackend rotate-key --new`; several are comma-separated, the sealing one first"
		}
		r.add(Error, CheckEncryptionKey, fmt.Sprintf(
			"The stored OAuth tokens could not be checked against APPBACKEND_ENCRYPTION_KEY (%v): %s.", oneLine(err), hint))
		return
	}
	if c.Unopened == 0 {
		return
	}
	why := "does not hold the key they were sealed with (a different key, or the old one dropped before `appbackend rotate-key` ran)"
	switch {
	case errors.Is(c.Err, secretbox.ErrNoKey):
		why = "is not set"
	case errors.Is(c.Err, secretbox.ErrOpen):
		why = "does not open them (the stored values were altered or copied between rows)"
	}
	r.add(Error, CheckEncryptionKey, fmt.Sprintf(
		"The OAuth tokens of %d of %d account modes (%s) cannot be opened: APPBACKEND_ENCRYPTION_KEY %s, so every Stripe call for them fails; set the key that sealed them, or list it after the new one (APPBACKEND_ENCRYPTION_KEY=NEW,OLD) and run `appbackend rotate-key`.",
		c.Unopened, c.Tokens, strings.Join(c.Accounts, ", "), why))
}

// OAuthKeyCheck is Input.OAuthKeys for the database that setting names (sqlite:PATH or
// a postgres:// URL), opened as db, and the keys of APPBACKEND_ENCRYPTION_KEY.
func OAuthKeyCheck(db *sql.DB, setting string, keys []string) func(ctx context.Context) (oauth.KeyCheck, error) {
	return func(ctx context.Context) (oauth.KeyCheck, error) {
		ring, err := secretbox.Parse(strings.Join(keys, ","))
		if err != nil {
			return oauth.KeyCheck{}, err
		}
		kind, _, err := setup.ParseDatabase(setting)
		if err != nil {
			return oauth.KeyCheck{}, err
		}
		return oauth.New(oauth.Config{DB: db, Postgres: kind == "postgres", Keys: ring}).CheckKeys(ctx)
	}
}

func modeLabel(live bool) string {
	if live {
		return "live"
	}
	return "test"
}
