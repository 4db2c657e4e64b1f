package admin_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/stretchr/testify/require"
)

// testToken is the admin token of every test server; no page, URL or log may show it.
const testToken = "adm_7d41c0e59b2f48a1a3c6e8d0f2b4a6c8"

// Seeded accounts and events the tests look for.
const (
	deadEventID   = "evt_1DeadInvoicePaymentFailed"
	failedEventID = "evt_1FailedSubscriptionUpdated"
	deadError     = `handler "invoice.*": sync invoice in_1QxYz: context deadline exceeded`
)

type seedAccount struct {
	id, name    string
	live        bool
	installed   int // days ago
	uninstalled int // days ago; 0: still installed
}

// seedAccounts spread installs over the chart's 30 days, in both modes.
var seedAccounts = []seedAccount{
	{"acct_1CornerBookshop", "Corner Bookshop", true, 1, 0},
	{"acct_1RyeCrumbBakery", "Rye & Crumb Bakery", true, 3, 0},
	{"acct_1StudioNorth", "Studio North", true, 20, 2},
	{"acct_1HarborCoffee", "Harbor Coffee Roasters", true, 6, 0},
	{"acct_1LumenLabs", "Lumen Labs", true, 6, 0},
	{"acct_1PineAndOak", "Pine & Oak Furniture", true, 9, 0},
	{"acct_1Velocity", "Velocity Bikes", true, 13, 5},
	{"acct_1NorthwindTea", "Northwind Tea", true, 16, 0},
	{"acct_1BrightDental", "Bright Dental", true, 22, 0},
	{"acct_1Kiln", "Kiln Ceramics", true, 27, 12},
	{"acct_1GardenSupply", "Garden Supply Co", false, 2, 0},
	{"acct_1Sandbox", "", false, 8, 0},
	{"acct_1QA", "QA Team Sandbox", false, 18, 4},
}

type testBundle struct {
	st      *sqlite.Store
	handler *admin.Handler
	srv     *httptest.Server
	logs    *syncBuffer
	now     time.Time

	mu       sync.Mutex
	replayed []string
}

// syncBuffer is a log destination the server's goroutines may write concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type option func(*admin.Config)

// setup opens a seeded SQLite store and serves the admin handler on it. Replay records
// the ids it is given unless an option replaces it.
func setup(t *testing.T, opts ...option) *testBundle {
	t.Helper()
	st := openSeededStore(t, time.Now())
	b := &testBundle{st: st, logs: &syncBuffer{}, now: time.Now()}
	cfg := admin.Config{
		Token: testToken,
		Store: st,
		// Route-walking tests send many wrong tokens on purpose; the throttle has its
		// own tests with the default burst.
		SignInBurst: 1000,
		Archetype:   &baseservice.Archetype{Logger: slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		Replay: func(ctx context.Context, id string) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			if _, err := st.Event(ctx, id); err != nil {
				return fmt.Errorf("replay %s: %w", id, err)
			}
			b.replayed = append(b.replayed, id)
			return nil
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := admin.New(cfg)
	require.NoError(t, err)
	b.handler = h
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *testBundle) replays() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.replayed...)
}

// openSeededStore opens a fresh SQLite store holding seedAccounts, their lifecycle
// events, and a processed, a failed, a dead and a pending event.
func openSeededStore(t *testing.T, now time.Time) *sqlite.Store {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "admin.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	tx, err := st.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	day := 24 * time.Hour
	insert := func(ev store.Event) {
		t.Helper()
		ev.Created = ev.ReceivedAt.Add(-time.Second).Truncate(time.Second)
		ev.APIVersion = "2023-10-16"
		ev.Raw = fmt.Appendf(nil, `{"id":%q,"object":"event","type":%q,"account":%q,"livemode":%t,"created":%d,"data":{"object":{"id":"ca_1App","object":"application","name":"Invoice Sync"}}}`,
			ev.ID, ev.Type, ev.AccountID, ev.Livemode, ev.Created.Unix())
		if _, err := st.InsertEventTx(ctx, tx, &ev); err != nil {
			require.FailNow(t, fmt.Sprint(err))
		}
	}
	finish := func(id string, status store.EventStatus, errText string, times int) {
		t.Helper()
		for range times {
			require.NoError(t, st.FinishEventTx(ctx, tx, id, store.EventOutcome{Status: status, Error: errText, At: now}))
		}
	}
	for i, a := range seedAccounts {
		installedAt := now.Add(-time.Duration(a.installed)*day - time.Duration(i)*time.Hour)
		in := store.Installation{
			AccountID: a.id, Livemode: a.live, Status: store.Installed, ApplicationID: "ca_1App",
			DisplayName: a.name, InstalledAt: installedAt,
			LastEventCreated: installedAt, LastEventID: "evt_install_" + a.id, UpdatedAt: installedAt,
		}
		insert(store.Event{ID: in.LastEventID, Type: "account.application.authorized", AccountID: a.id, Livemode: a.live, ReceivedAt: installedAt})
		finish(in.LastEventID, store.EventProcessed, "", 1)
		if a.id == "acct_1LumenLabs" { // its latest version asks for more
			in.InstallID, in.ApprovalRequired = "appinst_live_lumen", true
			in.PermissionsGranted, in.PermissionsPending = []string{"event_read"}, []string{"invoice_write", "customer_write"}
		}
		if a.uninstalled > 0 {
			in.Status = store.Uninstalled
			in.UninstalledAt = now.Add(-time.Duration(a.uninstalled)*day - time.Duration(i)*time.Hour)
			in.LastEventID, in.LastEventCreated = "evt_uninstall_"+a.id, in.UninstalledAt
			insert(store.Event{ID: in.LastEventID, Type: "account.application.deauthorized", AccountID: a.id, Livemode: a.live, ReceivedAt: in.UninstalledAt})
			finish(in.LastEventID, store.EventProcessed, "", 1)
		}
		require.NoError(t, st.PutInstallationTx(ctx, tx, in))
	}
	insert(store.Event{ID: "evt_1InvoicePaid", Type: "invoice.paid", AccountID: "acct_1CornerBookshop", Livemode: true, ReceivedAt: now.Add(-3 * time.Hour)})
	finish("evt_1InvoicePaid", store.EventProcessed, "", 1)
	insert(store.Event{ID: failedEventID, Type: "customer.subscription.updated", AccountID: "acct_1HarborCoffee", Livemode: true, ReceivedAt: now.Add(-2 * time.Hour)})
	finish(failedEventID, store.EventFailed, "Stripe API: rate limited (429)", 3)
	insert(store.Event{ID: deadEventID, Type: "invoice.payment_failed", AccountID: "acct_1RyeCrumbBakery", Livemode: true, ReceivedAt: now.Add(-26 * time.Hour)})
	finish(deadEventID, store.EventFailed, deadError, 7)
	finish(deadEventID, store.EventDead, deadError, 1)
	insert(store.Event{ID: "evt_1PendingCustomer", Type: "customer.created", AccountID: "acct_1GardenSupply", Livemode: false, ReceivedAt: now.Add(-time.Minute)})
	require.NoError(t, tx.Commit())
	return st
}

// request is one request to the test server.
type request struct {
	method, path string
	form         url.Values
	header       http.Header
	cookie       *http.Cookie
	bearer       string
}

type response struct {
	status int
	header http.Header
	body   string
	resp   *http.Response
}

// do sends req without following redirects.
func (b *testBundle) do(t *testing.T, req request) response {
	t.Helper()
	var body io.Reader
	if req.form != nil {
		body = strings.NewReader(req.form.Encode())
	}
	r, err := http.NewRequestWithContext(t.Context(), req.method, b.srv.URL+req.path, body)
	require.NoError(t, err)
	if req.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range req.header {
		r.Header[k] = vs
	}
	if req.cookie != nil {
		r.AddCookie(req.cookie)
	}
	if req.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+req.bearer)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(data), resp: resp}
}

// login signs in through the form and returns the session cookie.
func (b *testBundle) login(t *testing.T) *http.Cookie {
	t.Helper()
	res := b.do(t, request{method: "POST", path: "/admin/login", form: url.Values{"token": {testToken}}})
	require.Equal(t, http.StatusSeeOther, res.status, "login = %d, want 303\n%s", res.status, res.body)
	for _, c := range res.resp.Cookies() {
		if c.Name == admin.SessionCookie {
			return c
		}
	}
	require.FailNow(t, fmt.Sprintf("login set no %s cookie", admin.SessionCookie))
	return nil
}
