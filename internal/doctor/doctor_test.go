package doctor_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/doctor"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// Secrets that look real; the test checks that none of them ever shows in a finding.
const (
	appSecret   = "absec_test_4f9c1d2e8a7b6c5d4e3f2a1b"
	liveWebhook = "whsec_live_9a8b7c6d5e4f3a2b1c0d"
	testWebhook = "whsec_test_1a2b3c4d5e6f7a8b9c0d"
	liveKey     = "sk_live_51Habcdefghijklmnopqrstuv"
	testKey     = "sk_test_51Habcdefghijklmnopqrstuv"
	adminToken  = "c0ffee5eed1e55c0ffee5eed1e55c0ff"
)

// goodConfig is a complete, correct configuration.
func goodConfig() doctor.Config {
	return doctor.Config{
		AppSecrets:     []string{appSecret},
		WebhookSecrets: []string{liveWebhook, testWebhook},
		SecretKey:      liveKey,
		TestSecretKey:  testKey,
		AdminToken:     adminToken,
	}
}

// seed is what the database holds: installed accounts and received events per mode.
type seed struct {
	liveInstalls, testInstalls int
	liveEventAge, testEventAge time.Duration // age of the newest event; 0: none
	dead                       int
	reauth                     int // OAuth installations whose refresh token Stripe refused
	pending                    int // live installations with permissions pending
}

// busy is a database of an app in use in both modes, with events from today.
var busy = seed{liveInstalls: 2, testInstalls: 1, liveEventAge: time.Hour, testEventAge: 2 * time.Hour}

func openStore(t *testing.T, s seed) *sqlite.Store {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "doctor.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	tx, err := st.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	put := func(n int, live bool) {
		for i := range n {
			in := store.Installation{
				AccountID: "acct_" + string(rune('a'+i)), Livemode: live, Status: store.Installed,
				InstalledAt: now.Add(-30 * 24 * time.Hour), LastEventCreated: now.Add(-30 * 24 * time.Hour),
				LastEventID: "evt_install", UpdatedAt: now,
			}
			require.NoError(t, st.PutInstallationTx(ctx, tx, in))
		}
	}
	put(s.liveInstalls, true)
	put(s.testInstalls, false)
	for i := range s.reauth {
		in := store.Installation{
			AccountID: "acct_reauth_" + string(rune('a'+i)), Livemode: true, Status: store.ReauthorizationRequired,
			InstalledAt: now.Add(-30 * 24 * time.Hour), LastEventCreated: now.Add(-30 * 24 * time.Hour),
			LastEventID: "evt_install", UpdatedAt: now,
		}
		require.NoError(t, st.PutInstallationTx(ctx, tx, in))
	}
	for i := range s.pending {
		in := store.Installation{
			AccountID: "acct_pending_" + string(rune('a'+i)), Livemode: true, Status: store.Installed,
			InstalledAt: now.Add(-30 * 24 * time.Hour), LastEventCreated: now.Add(-30 * 24 * time.Hour),
			LastEventID: "evt_install", UpdatedAt: now, InstallID: "appinst_live_" + string(rune('a'+i)),
			PermissionsGranted: []string{"event_read"}, PermissionsPending: []string{"invoice_write"}, ApprovalRequired: true,
		}
		require.NoError(t, st.PutInstallationTx(ctx, tx, in))
	}
	insert := func(id string, live bool, age time.Duration) {
		ev := store.Event{ID: id, Type: "account.application.authorized", AccountID: "acct_a", Livemode: live,
			Created: now.Add(-age).Truncate(time.Second), Raw: []byte(`{"id":"` + id + `"}`), ReceivedAt: now.Add(-age)}
		_, err := st.InsertEventTx(ctx, tx, &ev)
		require.NoError(t, err)
	}
	if s.liveEventAge > 0 {
		insert("evt_live", true, s.liveEventAge)
	}
	if s.testEventAge > 0 {
		insert("evt_test", false, s.testEventAge)
	}
	for i := range s.dead {
		id := "evt_dead_" + string(rune('a'+i))
		insert(id, true, s.liveEventAge+time.Minute)
		require.NoError(t, st.FinishEventTx(ctx, tx, id, store.EventOutcome{Status: store.EventDead, Error: "boom", At: now}))
	}
	require.NoError(t, tx.Commit())
	return st
}

func TestRun(t *testing.T) {
	t.Parallel()
	ok := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name   string
		config func(*doctor.Config)
		seed   seed
		input  func(*doctor.Input)
		// want maps each expected check to a phrase its message must contain.
		want map[string]string
	}{
		{name: "correct configuration in use", seed: busy},
		{name: "correct configuration, nothing installed yet"},
		{
			name:   "minimal configuration without Stripe calls or webhooks",
			config: func(c *doctor.Config) { *c = doctor.Config{AppSecrets: []string{appSecret}} },
		},
		{
			name:   "no app secret",
			config: func(c *doctor.Config) { c.AppSecrets = nil },
			seed:   busy,
			want:   map[string]string{doctor.CheckAppSecretMissing: "STRIPE_APP_SECRETS is empty"},
		},
		{
			name:   "webhook secret among the app secrets",
			config: func(c *doctor.Config) { c.AppSecrets = []string{appSecret, liveWebhook} },
			seed:   busy,
			want:   map[string]string{doctor.CheckAppSecretPrefix: "STRIPE_APP_SECRETS entry 2 is a whsec_… secret: move it to STRIPE_WEBHOOK_SECRETS"},
		},
		{
			name:   "app secret among the webhook secrets",
			config: func(c *doctor.Config) { c.WebhookSecrets = []string{appSecret, testWebhook} },
			seed:   busy,
			want:   map[string]string{doctor.CheckWebhookSecretPrefix: "STRIPE_WEBHOOK_SECRETS entry 1 is a absec_… secret: move it to STRIPE_APP_SECRETS"},
		},
		{
			name:   "test key in the live variable",
			config: func(c *doctor.Config) { c.SecretKey = testKey },
			seed:   busy,
			want:   map[string]string{doctor.CheckKeyMode: "STRIPE_SECRET_KEY holds a test-mode key"},
		},
		{
			name:   "publishable key as the test key",
			config: func(c *doctor.Config) { c.TestSecretKey = "pk_test_51Habcdefghijklmnop" },
			seed:   busy,
			want:   map[string]string{doctor.CheckKeyMode: "STRIPE_TEST_SECRET_KEY is a publishable key"},
		},
		{
			name:   "keys but no webhook secret",
			config: func(c *doctor.Config) { c.WebhookSecrets = nil },
			want:   map[string]string{doctor.CheckWebhookSecretMissing: "Stripe API keys are set but STRIPE_WEBHOOK_SECRETS is empty"},
		},
		{
			name:   "installations but no webhook secret",
			config: func(c *doctor.Config) { c.WebhookSecrets = nil },
			seed:   busy,
			want:   map[string]string{doctor.CheckWebhookSecretMissing: "3 accounts have the app installed but STRIPE_WEBHOOK_SECRETS is empty"},
		},
		{
			name:   "live events but no live key",
			config: func(c *doctor.Config) { c.SecretKey = "" },
			seed:   seed{liveEventAge: time.Hour, testInstalls: 1, testEventAge: time.Hour},
			want:   map[string]string{doctor.CheckLiveKeyMissing: "Live-mode events have arrived but STRIPE_SECRET_KEY is not set"},
		},
		{
			name:   "test installations but no test key",
			config: func(c *doctor.Config) { c.TestSecretKey = "" },
			seed:   busy,
			want:   map[string]string{doctor.CheckTestKeyMissing: "1 account has the app installed in test mode but STRIPE_TEST_SECRET_KEY is not set"},
		},
		{
			name: "live key with only test events (live endpoint secret missing)",
			seed: seed{testInstalls: 2, testEventAge: time.Hour},
			want: map[string]string{doctor.CheckLiveEventsMissing: "STRIPE_SECRET_KEY holds a live-mode key but only test-mode events have arrived"},
		},
		{
			name: "test key with only live events (test endpoint secret missing)",
			seed: seed{liveInstalls: 2, liveEventAge: time.Hour},
			want: map[string]string{doctor.CheckTestEventsMissing: "STRIPE_TEST_SECRET_KEY holds a test-mode key but only live-mode events have arrived"},
		},
		{
			name: "database unreachable",
			seed: busy,
			input: func(in *doctor.Input) {
				in.PingDatabase = func(context.Context) error { return errors.New("dial tcp 10.0.0.5:5432: connection refused") }
			},
			want: map[string]string{doctor.CheckDatabaseUnreachable: "The database does not answer (dial tcp 10.0.0.5:5432: connection refused)"},
		},
		{
			name: "Stripe API unreachable",
			seed: busy,
			input: func(in *doctor.Input) {
				in.PingStripe = func(context.Context) error {
					return errors.New("live mode: Stripe API at https://api.stripe.com: network error:\n no such host")
				}
			},
			want: map[string]string{doctor.CheckStripeUnreachable: "The Stripe API check failed (live mode: Stripe API at https://api.stripe.com: network error: no such host)"},
		},
		{
			name: "no live events for days although installed",
			seed: seed{liveInstalls: 4, liveEventAge: 5 * 24 * time.Hour, testInstalls: 1, testEventAge: time.Hour},
			want: map[string]string{doctor.CheckEventsQuiet: "No live-mode event has arrived for 5 days although 4 accounts have the app installed in live mode"},
		},
		{
			name: "dead events",
			seed: seed{liveInstalls: 2, testInstalls: 1, liveEventAge: time.Hour, testEventAge: time.Hour, dead: 3},
			want: map[string]string{doctor.CheckDeadEvents: "3 events failed every attempt"},
		},
		{
			name: "OAuth installations to authorize again",
			seed: seed{liveInstalls: 2, testInstalls: 1, liveEventAge: time.Hour, testEventAge: time.Hour, reauth: 2},
			want: map[string]string{doctor.CheckReauthorization: "2 accounts need to install the app again"},
		},
		{
			name: "permissions pending approval",
			seed: seed{liveInstalls: 2, testInstalls: 1, liveEventAge: time.Hour, testEventAge: time.Hour, pending: 2},
			want: map[string]string{doctor.CheckPermissionsPending: "2 accounts have not approved the permissions the app's latest version asks for: acct_pending_a (live: invoice_write); acct_pending_b (live: invoice_write)."},
		},
		{
			name:  "pending migrations",
			seed:  busy,
			input: func(in *doctor.Input) { in.PendingMigrations = func(context.Context) (int, error) { return 2, nil } },
			want:  map[string]string{doctor.CheckPendingMigrations: "2 migrations are not applied"},
		},
		{
			name: "event processing paused",
			seed: busy,
			input: func(in *doctor.Input) {
				in.EventsPaused = func(context.Context) (time.Time, bool, error) { return time.Now().Add(-3 * time.Hour), true, nil }
			},
			want: map[string]string{doctor.CheckEventsPaused: "Event processing is paused since"},
		},
		{
			name: "event processing running",
			seed: busy,
			input: func(in *doctor.Input) {
				in.EventsPaused = func(context.Context) (time.Time, bool, error) { return time.Time{}, false, nil }
			},
		},
		{
			name: "settings invalid by themselves, every one",
			seed: busy,
			input: func(in *doctor.Input) {
				in.Settings = append(in.Settings, problemsOf(appbackend.Config{PublicURL: "nope", MaxBody: -1})...)
			},
			want: map[string]string{doctor.CheckSettingInvalid: "is not"},
		},
		{
			name:   "short admin token",
			config: func(c *doctor.Config) { c.AdminToken = "admin" },
			seed:   busy,
			want:   map[string]string{doctor.CheckAdminTokenShort: "APPBACKEND_ADMIN_TOKEN is shorter than 16 characters"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, tc.seed)
			in := doctor.Input{
				Config:            goodConfig(),
				Store:             st,
				PingDatabase:      st.Ping,
				PendingMigrations: func(context.Context) (int, error) { return 0, nil },
				PingStripe:        ok,
				Now:               now,
			}
			if tc.config != nil {
				tc.config(&in.Config)
			}
			in.Settings = settingProblems(in.Config)
			if tc.input != nil {
				tc.input(&in)
			}
			got := doctor.Run(t.Context(), in)

			var gotChecks []string
			for _, f := range got {
				gotChecks = append(gotChecks, f.Check)
				want, expected := tc.want[f.Check]
				require.True(t, expected, "unexpected finding %s (%s): %s", f.Check, f.Severity, f.Message)
				require.Contains(t, f.Message, want, f.Check)
				assertPlainSentence(t, f)
				assertNoSecret(t, f, in.Config)
			}
			for check := range tc.want {
				require.Contains(t, gotChecks, check, "findings: %v", got)
			}
			if tc.name == "settings invalid by themselves, every one" {
				require.Equal(t, `APPBACKEND_PUBLIC_URL "nope" is not an absolute http(s) URL.`, got[0].Message)
				require.Equal(t, `APPBACKEND_MAX_BODY "-1" is not a positive number of bytes.`, got[1].Message)
			}
		})
	}
}

// assertPlainSentence: one line, a capital first, a full stop last.
func assertPlainSentence(t *testing.T, f doctor.Finding) {
	t.Helper()
	m := f.Message
	require.False(t, strings.Contains(m, "\n") || !strings.HasSuffix(m, ".") || strings.ToUpper(m[:1]) != m[:1],
		"finding %s is not one sentence saying what to do: %q", f.Check, m)
	require.Contains(t, []doctor.Severity{doctor.Error, doctor.Warning}, f.Severity, f.Check)
}

func assertNoSecret(t *testing.T, f doctor.Finding, c doctor.Config) {
	t.Helper()
	secrets := append(append([]string{c.SecretKey, c.TestSecretKey, c.AdminToken}, c.AppSecrets...), c.WebhookSecrets...)
	for _, s := range secrets {
		if len(s) > 8 {
			require.NotContains(t, f.Message, s, "finding %s reveals a secret", f.Check)
		}
	}
}

func TestRunOrdersErrorsFirst(t *testing.T) {
	t.Parallel()
	cfg := goodConfig()
	cfg.AdminToken = "short"              // warning
	cfg.SecretKey = "pk_live_51Habcdefgh" // error
	got := doctor.Run(t.Context(), doctor.Input{Config: cfg, Settings: settingProblems(cfg), Now: now})
	require.Len(t, got, 2)
	require.Equal(t, []doctor.Severity{doctor.Error, doctor.Warning}, []doctor.Severity{got[0].Severity, got[1].Severity}, "the error before the warning: %+v", got)
}

// failingStore answers every read with an error.
type failingStore struct{}

func (failingStore) ListInstallations(context.Context, store.InstallationFilter) ([]store.Installation, error) {
	return nil, sql.ErrConnDone
}
func (failingStore) ListEvents(context.Context, store.EventFilter) ([]store.Event, error) {
	return nil, sql.ErrConnDone
}
func (failingStore) CountEvents(context.Context) (map[store.EventStatus]int, error) {
	return nil, sql.ErrConnDone
}

func TestRunReportsAFailedReadOnce(t *testing.T) {
	t.Parallel()
	got := doctor.Run(t.Context(), doctor.Input{
		Config:            goodConfig(),
		Store:             failingStore{},
		PendingMigrations: func(context.Context) (int, error) { return 0, sql.ErrConnDone },
		Now:               now,
	})
	require.Len(t, got, 1)
	require.Equal(t, doctor.CheckDatabaseQuery, got[0].Check)
}

func TestRunSkipsTheStoreWhenTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	got := doctor.Run(t.Context(), doctor.Input{
		Config:       goodConfig(),
		Store:        failingStore{},
		PingDatabase: func(context.Context) error { return errors.New("unable to open database file") },
		Now:          now,
	})
	require.Len(t, got, 1)
	require.Equal(t, doctor.CheckDatabaseUnreachable, got[0].Check)
}

// settingProblems are the settings of c that the root package's settings table
// refuses, as `appbackend doctor` passes them.
func settingProblems(c doctor.Config) []doctor.SettingProblem {
	cfg := appbackend.Config{AppSecrets: c.AppSecrets, WebhookSecrets: c.WebhookSecrets,
		SecretKey: c.SecretKey, TestSecretKey: c.TestSecretKey, AdminToken: c.AdminToken}
	return problemsOf(cfg)
}

func problemsOf(cfg appbackend.Config) []doctor.SettingProblem {
	var out []doctor.SettingProblem
	for _, p := range cfg.Problems() {
		out = append(out, doctor.NewSettingProblem(p.Setting, p))
	}
	return out
}
