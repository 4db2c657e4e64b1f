package schedule_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// stripeEvents is a fake of Stripe's GET /v1/events: the events of the platform and of
// each connected account (Stripe-Account), per mode, newest first, filtered by
// created[gte] and paged by starting_after, two to a page so that paging is exercised.
type stripeEvents struct {
	srv *httptest.Server

	mu       sync.Mutex
	lists    map[string][]json.RawMessage // by mode + "/" + account ("" for the platform)
	requests []listRequest
}

type listRequest struct {
	account    string
	createdGTE int64
}

func newStripeEvents(t *testing.T) *stripeEvents {
	f := &stripeEvents{lists: map[string][]json.RawMessage{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// add lists an event (to be added newest last) and returns its JSON.
func (f *stripeEvents) add(mode, listedFor, id, eventType, accountField string, created time.Time) json.RawMessage {
	ev := map[string]any{
		"id": id, "object": "event", "type": eventType, "livemode": mode == "live",
		"created": created.Unix(), "api_version": "2024-06-20", "pending_webhooks": 0,
		"data": map[string]any{"object": map[string]any{"id": "cus_" + id, "object": "customer"}},
	}
	if accountField != "" {
		ev["account"] = accountField
	}
	raw, _ := json.Marshal(ev)
	f.mu.Lock()
	defer f.mu.Unlock()
	key := mode + "/" + listedFor
	f.lists[key] = append([]json.RawMessage{raw}, f.lists[key]...)
	return raw
}

func (f *stripeEvents) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/v1/events" {
		http.Error(w, `{"error":{"type":"invalid_request_error","message":"unknown"}}`, http.StatusNotFound)
		return
	}
	mode := "test"
	if strings.HasPrefix(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "sk_live_") {
		mode = "live"
	}
	q := r.URL.Query()
	gte, _ := strconv.ParseInt(q.Get("created[gte]"), 10, 64)
	account := r.Header.Get("Stripe-Account")
	f.mu.Lock()
	f.requests = append(f.requests, listRequest{account: account, createdGTE: gte})
	all := f.lists[mode+"/"+account]
	f.mu.Unlock()

	var page []json.RawMessage
	skipping := q.Get("starting_after") != ""
	hasMore := false
	for _, raw := range all {
		var ev struct {
			ID      string `json:"id"`
			Created int64  `json:"created"`
		}
		_ = json.Unmarshal(raw, &ev)
		if skipping {
			skipping = ev.ID != q.Get("starting_after")
			continue
		}
		if ev.Created < gte {
			continue
		}
		if len(page) == 2 {
			hasMore = true
			break
		}
		page = append(page, raw)
	}
	if page == nil {
		page = []json.RawMessage{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": "/v1/events", "has_more": hasMore, "data": page})
}

func (f *stripeEvents) listRequests() []listRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]listRequest(nil), f.requests...)
}

// processedCounter counts how often the app's handler saw each event.
type processedCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (p *processedCounter) handle(ctx context.Context, ev store.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts == nil {
		p.counts = map[string]int{}
	}
	p.counts[ev.ID]++
	return nil
}

func (p *processedCounter) snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

type reconcileBundle struct {
	n       *node
	clk     *clock
	fake    *stripeEvents
	r       *schedule.Reconciler
	handled *processedCounter
}

func setupReconcile(t *testing.T) *reconcileBundle {
	t.Helper()
	b := &reconcileBundle{clk: &clock{now: start}, fake: newStripeEvents(t), handled: &processedCounter{}}
	clients, err := stripeclient.New(stripeclient.Config{Keys: stripeclient.Keys{Test: "sk_test_reconcile"}, APIBase: b.fake.srv.URL})
	require.NoError(t, err)
	st := openStore(t, newStorePath(t))
	set := schedule.NewSet()
	b.r, err = schedule.NewReconciler(st, schedule.ReconcileConfig{
		Clients: clients,
		AppendFunc: func(ctx context.Context, tx *sql.Tx, evs []*store.Event) ([]bool, error) {
			return b.n.proc.AppendTx(ctx, tx, evs)
		},
		WantFunc: func(eventType string) bool {
			return install.IsLifecycleEvent(eventType) || strings.HasPrefix(eventType, "customer.")
		},
		Archetype: &baseservice.Archetype{Now: b.clk.Now},
	})
	require.NoError(t, err)
	require.NoError(t, b.r.Register(set))
	b.n = startNode(t, st, set, b.clk, nodeOptions{})
	b.n.proc.On("*", b.handled.handle)
	return b
}

// inboxSnapshot is every event of the inbox with its status and attempts.
func (b *reconcileBundle) inboxSnapshot(t *testing.T) map[string]string {
	t.Helper()
	evs, err := b.n.st.ListEvents(t.Context(), store.EventFilter{})
	require.NoError(t, err)
	out := map[string]string{}
	for _, ev := range evs {
		out[ev.ID] = string(ev.Status) + "/" + strconv.Itoa(ev.Attempts) + "/" + ev.AccountID
	}
	return out
}

func (b *reconcileBundle) waitProcessed(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		evs, err := b.n.st.ListEvents(t.Context(), store.EventFilter{Status: store.EventPending})
		return err == nil && len(evs) == 0
	}, 10*time.Second, 10*time.Millisecond)
}

func TestReconcileInsertsMissingEventsOnce(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	ctx := t.Context()

	// acct_1 installed the app in test mode at 12:00; the webhook delivered its install
	// and one platform event.
	b.n.deliver(t, "evt_install", install.EventAuthorized, "acct_1", false, start)
	b.n.deliver(t, "evt_delivered", "customer.created", "", false, start.Add(time.Minute))
	b.fake.add("test", "", "evt_delivered", "customer.created", "", start.Add(time.Minute))
	missedPlatform := b.fake.add("test", "", "evt_missed", "customer.updated", "", start.Add(2*time.Minute))
	b.fake.add("test", "", "evt_unwanted", "balance.available", "", start.Add(3*time.Minute))
	b.fake.add("test", "acct_1", "evt_before_install", "customer.created", "acct_1", start.Add(-time.Hour))
	b.fake.add("test", "acct_1", "evt_acct_a", "customer.created", "acct_1", start.Add(4*time.Minute))
	missedUnmarked := b.fake.add("test", "acct_1", "evt_acct_b", "customer.deleted", "", start.Add(5*time.Minute))
	b.fake.add("test", "acct_1", "evt_acct_c", "customer.updated", "acct_1", start.Add(6*time.Minute))
	b.clk.Set(start.Add(time.Hour))

	res, err := b.r.Platform(ctx, stripeclient.Test)
	require.NoError(t, err)
	require.Equal(t, schedule.ReconcileResult{Listed: 3, Inserted: 1}, res)
	res, err = b.r.Account(ctx, "acct_1", stripeclient.Test)
	require.NoError(t, err)
	require.Equal(t, schedule.ReconcileResult{Listed: 3, Inserted: 3}, res, "the account's events since its install")
	b.waitProcessed(t)

	want := map[string]int{"evt_install": 1, "evt_delivered": 1, "evt_missed": 1, "evt_acct_a": 1, "evt_acct_b": 1, "evt_acct_c": 1}
	require.Equal(t, want, b.handled.snapshot(), "each event processed once; unwanted and pre-install events left out")
	for id, raw := range map[string]json.RawMessage{"evt_missed": missedPlatform, "evt_acct_b": missedUnmarked} {
		ev, err := b.n.st.Event(ctx, id)
		require.NoError(t, err)
		require.JSONEq(t, string(raw), string(ev.Raw), "the inbox keeps the event object as Stripe listed it")
	}
	unmarked, err := b.n.st.Event(ctx, "evt_acct_b")
	require.NoError(t, err)
	require.Equal(t, "acct_1", unmarked.AccountID, "an event listed with Stripe-Account is that account's")
	require.False(t, unmarked.NotInstalled)

	// Again: nothing changes, in the inbox or in what the app saw.
	before := b.inboxSnapshot(t)
	for range 2 {
		res, err = b.r.Platform(ctx, stripeclient.Test)
		require.NoError(t, err)
		require.Zero(t, res.Inserted)
		res, err = b.r.Account(ctx, "acct_1", stripeclient.Test)
		require.NoError(t, err)
		require.Zero(t, res.Inserted)
	}
	b.waitProcessed(t)
	require.Equal(t, before, b.inboxSnapshot(t))
	require.Equal(t, want, b.handled.snapshot())

	// The cursor: the first listing reaches back 24 hours (the account's: to its
	// install); the later ones from the newest event seen, less the overlap.
	reqs := b.fake.listRequests()
	firstPlatform, firstAccount := reqs[0], -1
	for i, r := range reqs {
		if r.account == "acct_1" {
			firstAccount = i
			break
		}
	}
	require.Equal(t, start.Add(-23*time.Hour).Unix(), firstPlatform.createdGTE)
	require.Equal(t, start.Unix(), reqs[firstAccount].createdGTE)
	last := reqs[len(reqs)-1]
	require.Equal(t, "acct_1", last.account)
	require.Equal(t, start.Add(6*time.Minute-schedule.DefaultReconcileOverlap).Unix(), last.createdGTE)
}

func TestReconcileRunsOnItsSchedules(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	b.n.deliver(t, "evt_install", install.EventAuthorized, "acct_1", false, start)
	b.fake.add("test", "", "evt_platform", "customer.created", "", start.Add(time.Minute))
	b.fake.add("test", "acct_1", "evt_account", "customer.created", "acct_1", start.Add(2*time.Minute))

	names, err := b.n.st.ListSchedules(t.Context(), store.ScheduleFilter{})
	require.NoError(t, err)
	require.Len(t, names, 2, "the platform's and acct_1's reconciliation")

	// Past the platform's 5 minutes, and the account's hour and jitter.
	b.clk.Set(start.Add(time.Hour + 6*time.Minute))
	b.n.tick(t)
	b.n.waitIdle(t)
	b.waitProcessed(t)
	require.Equal(t, map[string]int{"evt_install": 1, "evt_platform": 1, "evt_account": 1}, b.handled.snapshot())
	rows, err := b.n.st.ListSchedules(t.Context(), store.ScheduleFilter{})
	require.NoError(t, err)
	for _, row := range rows {
		require.Empty(t, row.LastError, "%s", row.Name)
		require.NotZero(t, row.Runs, "%s never ran", row.Name)
	}
}
