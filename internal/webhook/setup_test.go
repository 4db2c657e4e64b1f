package webhook_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/appbackend/appbackend/internal/webhook"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

const (
	secret    = "whsec_test_current"
	oldSecret = "whsec_test_rotating_out"
)

// fastRetry retries failed events almost at once, so tests see every attempt quickly.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(5 * time.Millisecond) }

type testConfig struct {
	maxAttempts    int
	maxBody        int64
	perEventCommit bool
	noProcessing   bool
	eventRetention time.Duration
}

type testBundle struct {
	st   *sqlite.Store
	rt   *runtime.Runtime
	proc *events.Processor
	lc   *install.Lifecycle
	rcv  *webhook.Receiver
	srv  *httptest.Server
	url  string

	mu        sync.Mutex
	installed []store.Installation
	removed   []store.Installation
	cleanedUp []string
}

func setup(t testing.TB, cfg testConfig) *testBundle {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "appbackend.db"))
	require.NoError(t, err)
	// A table the app's handlers write to in the processing transaction: one row per
	// event, n counting how many times its effect was applied.
	if _, err := st.DB().ExecContext(ctx, `CREATE TABLE effects (event_id TEXT PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	b := &testBundle{st: st}
	b.lc = install.New(st, install.Config{EventRetention: cfg.eventRetention})
	b.lc.OnInstall(func(ctx context.Context, in store.Installation) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.installed = append(b.installed, in)
		return nil
	})
	b.lc.OnUninstall(func(ctx context.Context, in store.Installation) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.removed = append(b.removed, in)
		return nil
	})
	b.lc.OnCleanup(func(ctx context.Context, accountID string, livemode bool) error {
		if _, ok := store.TxFrom(ctx); !ok {
			return errors.New("cleanup hook without a transaction")
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.cleanedUp = append(b.cleanedUp, accountID)
		return nil
	})
	b.rt = runtime.New(runtime.Config{MaxAttempts: cfg.maxAttempts, RetryPolicy: fastRetry{}, PollInterval: 10 * time.Millisecond})
	b.rt.Open(st)
	require.NoError(t, b.lc.AddWorkers(b.rt))
	b.proc, err = events.New(b.rt, events.Config{BuiltIn: []events.BuiltIn{b.lc.HandleEvent}})
	require.NoError(t, err)
	require.NoError(t, b.rt.Build())
	verifier, err := appauth.NewVerifier([]string{oldSecret, secret})
	require.NoError(t, err)
	b.rcv, err = webhook.NewReceiver(st, verifier, b.proc, webhook.Config{MaxBody: cfg.maxBody, PerEventCommit: cfg.perEventCommit})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/stripe", b.rcv)
	b.srv = httptest.NewServer(mux)
	b.url = b.srv.URL + "/webhooks/stripe"
	if !cfg.noProcessing {
		require.NoError(t, b.rt.Start(ctx))
	}
	t.Cleanup(func() {
		b.srv.Close()
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, b.rcv.Close(stopCtx), "close receiver")
		require.NoError(t, b.rt.Stop(stopCtx), "stop processor")
		st.Close()
	})
	return b
}

// countEffect is an app handler that records its effect in the processing transaction.
func countEffect(ctx context.Context, ev store.Event) error {
	tx, ok := store.TxFrom(ctx)
	if !ok {
		return errors.New("no transaction in the handler's context")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO effects (event_id, n) VALUES (?, 1)
		ON CONFLICT (event_id) DO UPDATE SET n = n + 1`, ev.ID)
	return err
}

func (b *testBundle) effects(t testing.TB, eventID string) int {
	t.Helper()
	var n int
	err := b.st.DB().QueryRow(`SELECT n FROM effects WHERE event_id = ?`, eventID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0
	}
	require.NoError(t, err)
	return n
}

type response struct {
	status int
	body   map[string]any
	raw    string
}

func (r response) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (b *testBundle) postWithHeader(t testing.TB, body []byte, header string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// post signs body with the current secret and posts it.
func (b *testBundle) post(t testing.TB, body []byte) response {
	t.Helper()
	return b.postWithHeader(t, body, webhooktest.Sign(body, secret, time.Now()))
}

// postOK posts body and fails the test unless it is acknowledged.
func (b *testBundle) postOK(t testing.TB, body []byte) response {
	t.Helper()
	r := b.post(t, body)
	require.Equal(t, http.StatusOK, r.status, "POST = %d %s, want 200 {\"received\":true}", r.status, r.raw)
	require.True(t, r.body["received"] == true, "POST = %d %s, want 200 {\"received\":true}", r.status, r.raw)
	return r
}

func eventID(t testing.TB, body []byte) string {
	t.Helper()
	var env struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &env))
	return env.ID
}

// waitStatus waits until the event has the wanted status and returns it.
func (b *testBundle) waitStatus(t testing.TB, id string, want store.EventStatus) store.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ev, err := b.st.Event(context.Background(), id)
		if err == nil && ev.Status == want {
			return ev
		}
		require.False(t, time.Now().After(deadline), "event %s: status %q (err %v), want %q", id, ev.Status, err, want)
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *testBundle) eventCount(t testing.TB) int {
	t.Helper()
	list, err := b.st.ListEvents(context.Background(), store.EventFilter{})
	require.NoError(t, err)
	return len(list)
}

func (b *testBundle) installation(t testing.TB, account string, livemode bool) (store.Installation, bool) {
	t.Helper()
	in, err := b.st.Installation(context.Background(), account, livemode)
	if errors.Is(err, store.ErrNotFound) {
		return in, false
	}
	require.NoError(t, err)
	return in, true
}
