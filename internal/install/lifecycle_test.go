package install

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

func TestChangeOf(t *testing.T) {
	t.Parallel()
	installObject := func(status string) webhooktest.Option {
		return webhooktest.Object(map[string]any{"id": "appinst_1", "object": "apps.install",
			"account": "acct_from_object", "app": "app_1", "status": status})
	}
	for _, tc := range []struct {
		name        string
		eventType   string
		opts        []webhooktest.Option
		wantOK      bool
		wantStatus  store.InstallStatus
		wantAccount string
		wantApp     string
	}{
		{"authorized", EventAuthorized, nil, true, store.Installed, "acct_event", "ca_1"},
		{"deauthorized", EventDeauthorized, nil, true, store.Uninstalled, "acct_event", "ca_1"},
		{"authorized without an application object", EventAuthorized,
			[]webhooktest.Option{webhooktest.Object(map[string]any{})}, true, store.Installed, "acct_event", ""},
		{"install created", EventInstallCreated, []webhooktest.Option{installObject("installed")}, true, store.Installed, "acct_from_object", "app_1"},
		{"install deleted", EventInstallDeleted, []webhooktest.Option{installObject("installed")}, true, store.Uninstalled, "acct_from_object", "app_1"},
		{"install updated to uninstalled", EventInstallUpdated, []webhooktest.Option{installObject("uninstalled")}, true, store.Uninstalled, "acct_from_object", "app_1"},
		{"install updated, installed", EventInstallUpdated, []webhooktest.Option{installObject("installed")}, true, store.Installed, "acct_from_object", "app_1"},
		{"install updated, other status", EventInstallUpdated, []webhooktest.Option{installObject("pending")}, false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := append([]webhooktest.Option{webhooktest.Account("acct_event")}, tc.opts...)
			if tc.eventType == EventAuthorized || tc.eventType == EventDeauthorized {
				if len(tc.opts) == 0 {
					opts = append(opts, webhooktest.Object(map[string]any{"id": "ca_1", "object": "application"}))
				}
			}
			ev := store.Event{ID: "evt_1", Type: tc.eventType, AccountID: "acct_event", Raw: webhooktest.Event(tc.eventType, opts...)}
			c, ok, err := changeOf(&ev)
			require.NoError(t, err)
			require.Equal(t, tc.wantOK, ok, "changeOf ok")
			if ok {
				require.Equal(t, tc.wantStatus, c.status)
				require.Equal(t, tc.wantAccount, c.accountID)
				require.Equal(t, tc.wantApp, c.applicationID)
			}
		})
	}
}

func TestNewer(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_700_000_000, 0).UTC()
	last := store.Installation{LastEventCreated: at, LastEventID: "evt_m"}
	for _, tc := range []struct {
		name    string
		created time.Time
		id      string
		want    bool
	}{
		{"later second", at.Add(time.Second), "evt_a", true},
		{"earlier second", at.Add(-time.Second), "evt_z", false},
		{"same second, greater id", at, "evt_n", true},
		{"same second, smaller id", at, "evt_l", false},
		{"the same event again", at, "evt_m", false},
	} {
		require.Equal(t, tc.want, newer(&store.Event{ID: tc.id, Created: tc.created}, last), tc.name)
	}
}

func TestHandleEventNeedsTransaction(t *testing.T) {
	t.Parallel()
	l := New(nil, Config{})
	require.Error(t, l.HandleEvent(context.Background(), &store.Event{ID: "evt_1", Type: EventAuthorized}),
		"HandleEvent without a transaction")
}

func TestStateOf(t *testing.T) {
	t.Parallel()
	st := dbtest.SQLite(t)
	at := time.Unix(1_700_000_000, 0).UTC()
	require.NoError(t, store.InTx(t.Context(), st.DB(), func(tx *sql.Tx) error {
		return st.PutInstallationTx(t.Context(), tx, store.Installation{AccountID: "acct_1", Livemode: true,
			Status: store.Installed, InstalledAt: at, LastEventCreated: at, LastEventID: "evt_1"})
	}))
	got, err := StateOf(t.Context(), st, "acct_1")
	require.NoError(t, err)
	require.Equal(t, "acct_1", got.AccountID)
	require.NotNil(t, got.Live, "live installed")
	require.Equal(t, store.Installed, got.Live.Status)
	require.Nil(t, got.Test, "test null")
}

// In one processing transaction (which carries a memo) an install is seen by the
// events after it, though the account's earlier events were found not installed.
func TestHandleEventMemoFollowsLifecycleInOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := dbtest.SQLite(t)
	l := New(st, Config{})
	at := time.Now().Add(-time.Hour)
	event := func(id, typ string) *store.Event {
		at = at.Add(time.Second)
		return &store.Event{ID: id, Type: typ, AccountID: "acct_memo", Created: at, Raw: []byte(`{"data":{"object":{"id":"ca_1"}}}`)}
	}
	err := store.InTx(ctx, st.DB(), func(tx *sql.Tx) error {
		hctx := store.WithTxMemo(store.WithTx(ctx, tx))
		notInstalled := func(id string) bool {
			ev := event(id, "customer.updated")
			require.NoError(t, l.HandleEvent(hctx, ev))
			return ev.NotInstalled
		}
		require.True(t, notInstalled("evt_1"), "before any install")
		require.True(t, notInstalled("evt_2"), "before any install")
		require.NoError(t, l.HandleEvent(hctx, event("evt_3", EventAuthorized)))
		require.False(t, notInstalled("evt_4"), "after the install in the same transaction")
		return nil
	})
	require.NoError(t, err)
}

// The lifecycle takes its logger and clock from the App's archetype (baseservice), as
// every service does: an install is stamped with the archetype's clock and logged
// through its logger.
func TestLifecycleUsesTheArchetype(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := dbtest.SQLite(t)
	var logs bytes.Buffer
	fixed := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	l := New(st, Config{Archetype: &baseservice.Archetype{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return fixed }}})
	ev := &store.Event{ID: "evt_arch", Type: EventAuthorized, AccountID: "acct_arch", Created: time.Now().Add(-time.Minute),
		Raw: []byte(`{"data":{"object":{"id":"ca_1"}}}`)}
	require.NoError(t, store.InTx(ctx, st.DB(), func(tx *sql.Tx) error { return l.HandleEvent(store.WithTx(ctx, tx), ev) }))
	in, err := st.Installation(ctx, "acct_arch", false)
	require.NoError(t, err)
	require.True(t, in.UpdatedAt.Equal(fixed), "updated_at %s, want the archetype's clock %s", in.UpdatedAt, fixed)
	require.Contains(t, logs.String(), "installation changed")
}
