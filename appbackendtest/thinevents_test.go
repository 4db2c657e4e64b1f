package appbackendtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

// onEachDatabase starts the app once on SQLite and once on PostgreSQL, whatever
// APPBACKEND_TEST_DATABASE says: thin events are stored, deduplicated and retried by
// the inbox, whose SQL differs between the two.
func onEachDatabase(t *testing.T, test func(t *testing.T, database string)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			database := "sqlite:" + filepath.Join(t.TempDir(), "thin.db")
			if kind == "postgres" {
				database = pgtest.NewDatabase(t)
			}
			test(t, database)
		})
	}
}

// thinRecorder is an OnEvent handler that records the thin events it was given, as
// appbackend.ThinEvent decodes them.
type thinRecorder struct {
	mu    sync.Mutex
	calls map[string]int
	data  map[string]json.RawMessage
	rel   map[string]string
}

func (r *thinRecorder) handle(ctx context.Context, ev appbackend.Event) error {
	full, err := appbackend.ThinEvent(ev)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[ev.ID]++
	if full.Data != nil {
		r.data[ev.ID] = *full.Data
	}
	if full.RelatedObject != nil {
		r.rel[ev.ID] = full.RelatedObject.ID
	}
	return nil
}

func (r *thinRecorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

func startThin(t *testing.T, database string) (*appbackendtest.App, *thinRecorder) {
	rec := &thinRecorder{calls: map[string]int{}, data: map[string]json.RawMessage{}, rel: map[string]string{}}
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnEvent("v1.billing.meter.*", rec.handle)
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) { cfg.Database = database }))
	return app, rec
}

// fetches are the requests the fake received for the full event of id.
func fetches(fake *appbackendtest.StripeFake, id string) []appbackendtest.StripeRequest {
	var out []appbackendtest.StripeRequest
	for _, r := range fake.Requests() {
		if r.Path == "/v2/core/events/"+id {
			out = append(out, r)
		}
	}
	return out
}

const meterErrorType = "v1.billing.meter.error_report_triggered"

func meterError(account string) appbackendtest.ThinEvent {
	return appbackendtest.ThinEvent{
		Type:          meterErrorType,
		Account:       account,
		Data:          map[string]any{"developer_message_summary": "no meter", "validation_start": "2024-09-17T06:00:00Z"},
		RelatedObject: map[string]any{"id": "mtr_123", "type": "billing.meter", "url": "/v1/billing/meters/mtr_123"},
	}
}

// A thin notification is acknowledged once stored, deduplicated by id, and its full
// event is fetched in the processing job, with the notification's context as
// Stripe-Context, and handed to the OnEvent handler once.
func TestThinEventFetchedAndHandledOnce(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, func(t *testing.T, database string) {
		app, rec := startThin(t, database)
		app.Install(t, "acct_thin", false)

		ev := meterError("acct_thin")
		id := app.DeliverThin(t, ev)
		ev.ID = id
		require.Equal(t, id, app.DeliverThin(t, ev), "a redelivery is acknowledged too")
		stored := app.WaitForEvent(t, id)
		require.Equal(t, meterErrorType, stored.Type)
		require.Equal(t, "acct_thin", stored.AccountID, "the account is the notification's context")
		require.False(t, stored.NotInstalled)

		require.Equal(t, 1, rec.count(id), "the handler ran once for two deliveries")
		require.JSONEq(t, `{"developer_message_summary":"no meter","validation_start":"2024-09-17T06:00:00Z"}`, string(rec.data[id]),
			"the handler sees the fetched event's data")
		require.Equal(t, "mtr_123", rec.rel[id])

		got := fetches(app.Fake, id)
		require.Len(t, got, 1, "fetched once, by the one processing")
		require.Equal(t, http.MethodGet, got[0].Method)
		require.Equal(t, "acct_thin", got[0].Header.Get("Stripe-Context"))
		require.Empty(t, got[0].Account, "no Stripe-Account: the context names the account")
		require.Equal(t, appbackendtest.TestSecretKey, got[0].Key(), "the platform key of the event's mode")

		// The inbox keeps the notification as it came; a replay fetches again.
		var raw []byte
		require.NoError(t, app.ReadDB().QueryRow(`SELECT payload FROM appbackend_events WHERE id = $1`, id).Scan(&raw))
		var n map[string]any
		require.NoError(t, json.Unmarshal(raw, &n))
		require.NotContains(t, n, "data", "the stored body is the notification")
		require.NoError(t, app.Replay(t.Context(), id))
		require.Eventually(t, func() bool { return rec.count(id) == 2 }, appbackendtest.WaitTimeout, 10*time.Millisecond)
		app.WaitForEvent(t, id)
		require.Len(t, fetches(app.Fake, id), 2)
	})
}

// The notification is acknowledged without Stripe: a fetch that fails (Stripe's 500)
// fails the event and retries its job, never drops it, and the retry hands the event
// to the handler once.
func TestThinEventFetchFailureRetried(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, func(t *testing.T, database string) {
		app, rec := startThin(t, database)
		ev := meterError("acct_retry")
		ev.ID = "evt_test_retry1"
		app.Fake.Script(http.MethodGet, "/v2/core/events/"+ev.ID,
			appbackendtest.StripeResponse{Status: http.StatusInternalServerError},
			appbackendtest.StripeResponse{Status: http.StatusInternalServerError})
		app.DeliverThin(t, ev) // 200 although Stripe fails: nothing is fetched before the ack

		stored := app.WaitForEvent(t, ev.ID)
		require.Equal(t, 3, stored.Attempts, "two failed fetches, then the one that worked")
		require.Len(t, fetches(app.Fake, ev.ID), 3)
		require.Equal(t, 1, rec.count(ev.ID))
	})
}

// A thin event no handler takes is processed without fetching it.
func TestThinEventWithoutHandlerNotFetched(t *testing.T) {
	t.Parallel()
	app, _ := startThin(t, "sqlite:"+filepath.Join(t.TempDir(), "thin.db"))
	id := app.DeliverThin(t, appbackendtest.ThinEvent{Type: "v2.core.account.updated", Account: "acct_other"})
	app.WaitForEvent(t, id)
	require.Empty(t, fetches(app.Fake, id))
}
