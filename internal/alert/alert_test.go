package alert_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/alert"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // 24 bytes of key

// received is one request the receiver accepted or refused.
type received struct {
	id, timestamp, signature string
	alert                    alert.Alert
	raw                      string
}

// receiver is a real HTTP server on loopback that verifies each request's Standard
// Webhooks signature as the specification describes it (not with appbackend's own
// code), and answers 500 to the first failFirst requests.
type receiver struct {
	t         *testing.T
	url       string
	failFirst int

	mu    sync.Mutex
	calls int
	got   []received
	seen  chan struct{}
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{t: t, failFirst: failFirst, seen: make(chan struct{}, 100)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: r}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	r.url = "http://" + ln.Addr().String() + "/hooks/appbackend"
	return r
}

// verify checks the headers over body by the specification: the key is the base64
// after whsec_, the signed content id.timestamp.body, HMAC-SHA256, base64, "v1,".
func verify(h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers: %v", h)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("timestamp %q outside 5 minutes", ts)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(sigs) {
		if v, ok := strings.CutPrefix(sig, "v1,"); ok && hmac.Equal([]byte(v), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no signature in %q matches", sigs)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := verify(req.Header, body); err != nil {
		assert.Failf(r.t, "alert with a bad signature", "%v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var a alert.Alert
	err := json.Unmarshal(body, &a)
	assert.NoError(r.t, err, "alert body %q", body)
	r.mu.Lock()
	r.calls++
	fail := r.calls <= r.failFirst
	r.got = append(r.got, received{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
		signature: req.Header.Get("webhook-signature"), alert: a, raw: string(body)})
	r.mu.Unlock()
	r.seen <- struct{}{}
	if fail {
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// wait waits for n more requests.
func (r *receiver) wait(n int) []received {
	r.t.Helper()
	for range n {
		select {
		case <-r.seen:
		case <-time.After(30 * time.Second):
			require.FailNow(r.t, fmt.Sprintf("the receiver got %d requests, want %d more", len(r.requests()), n))
		}
	}
	return r.requests()
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func dead(i int) store.Event {
	return store.Event{ID: fmt.Sprintf("evt_dead_%d", i), Type: "invoice.paid", AccountID: "acct_1", Livemode: true,
		Raw: []byte(`{"card":"4242424242424242"}`), LastError: "handler: POST https://user:sk_live_leak@example.com failed"}
}

func TestAlertsAreSignedGroupedAndCarryNoSecret(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 0)
	n, err := alert.New(alert.Config{URL: rcv.url, Secret: secret, Every: time.Hour, Source: "api-1"})
	require.NoError(t, err)
	n.EventDead(dead(0)) // sent at once
	first := rcv.wait(1)[0]
	for i := 1; i <= 30; i++ {
		n.EventDead(dead(i)) // within the hour: gathered
	}
	if got := len(rcv.requests()); got != 1 {
		require.FailNow(t, fmt.Sprintf("%d alerts within one window, want 1", got))
	}
	if err := n.Close(t.Context()); err != nil { // sends the gathered alert
		require.FailNow(t, fmt.Sprint(err))
	}
	got := rcv.wait(1)
	second := got[1]
	require.False(t, first.alert.Type != alert.KindEventsDead || first.alert.Data.Count != 1 || second.alert.Data.Count != 30, "alerts %+v then %+v, want events.dead with 1 then 30 events", first.alert, second.alert)
	require.Len(t, second.alert.Data.Events, alert.MaxEventsListed, "second alert lists %d events and types %v, want %d and invoice.paid: 30", len(second.alert.Data.Events), second.alert.Data.Types, alert.MaxEventsListed)
	require.Equal(t, 30, second.alert.Data.Types["invoice.paid"], "second alert lists %d events and types %v, want %d and invoice.paid: 30", len(second.alert.Data.Events), second.alert.Data.Types, alert.MaxEventsListed)
	ev := first.alert.Data.Events[0]
	require.False(t, ev.ID != "evt_dead_0" || ev.AccountID == nil || *ev.AccountID != "acct_1", "first alert names %+v", ev)
	require.True(t, ev.Livemode, "first alert names %+v", ev)
	require.Contains(t, first.alert.Text, "api-1: 1 event died (invoice.paid ×1)", "text = %q", first.alert.Text)
	require.Contains(t, first.alert.Text, "appbackend events replay --status dead", "text = %q", first.alert.Text)
	require.NotEqual(t, second.id, first.id, "two alerts share the webhook-id %s", first.id)
	for _, r := range got {
		for _, leak := range []string{strings.TrimPrefix(secret, "whsec_"), "sk_live_leak", "4242424242424242", "handler: POST"} {
			require.NotContains(t, r.raw, leak, "an alert carries %q: %s", leak, r.raw)
		}
	}
	n.EventDead(dead(99)) // after Close: dropped, never a panic
}

func TestAlertWindowSendsWhatGathered(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 0)
	n, err := alert.New(alert.Config{URL: rcv.url, Secret: secret, Every: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { n.Close(context.Background()) })
	n.EventDead(dead(0))
	rcv.wait(1)
	for i := 1; i <= 5; i++ {
		n.EventDead(dead(i))
	}
	// The window's timer sends the rest without Close; however the deaths fell into
	// windows, every one is told once.
	total := 0
	for total < 6 {
		got := rcv.wait(1)
		total = 0
		for _, r := range got {
			total += r.alert.Data.Count
		}
	}
	require.Equal(t, 6, total, "alerts told of %d deaths, want 6", total)
}

func TestAlertRetriesWithTheSameID(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 2) // 500, 500, then 204
	n, err := alert.New(alert.Config{URL: rcv.url, Secret: secret, RetryDelays: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}})
	require.NoError(t, err)
	n.EventDead(dead(0))
	got := rcv.wait(3)
	if got[0].id != got[1].id || got[1].id != got[2].id {
		require.FailNow(t, fmt.Sprintf("retries used webhook-ids %s, %s, %s; want one", got[0].id, got[1].id, got[2].id))
	}
	require.NoError(t, n.Close(t.Context()))
	if len(rcv.requests()) != 3 {
		require.FailNow(t, fmt.Sprintf("%d requests, want 3 (no retry after the 2xx)", len(rcv.requests())))
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  alert.Config
		want string
	}{
		{alert.Config{URL: "ftp://x", Secret: secret}, "APPBACKEND_ALERT_URL \"ftp://x\" is not an http:// or https:// URL"},
		{alert.Config{URL: "https://alerts.example.com/h"}, "APPBACKEND_ALERT_URL needs APPBACKEND_ALERT_SECRET"},
		{alert.Config{URL: "https://alerts.example.com/h", Secret: "whsec_c2hvcnQ="}, "APPBACKEND_ALERT_SECRET: not a Standard Webhooks secret"},
	} {
		_, err := alert.New(tc.cfg)
		require.ErrorContains(t, err, tc.want, "New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		require.False(t, err != nil && tc.cfg.Secret != "" && strings.Contains(err.Error(), tc.cfg.Secret), "the error repeats the secret: %v", err)
	}
}

func TestNilNotifier(t *testing.T) {
	var n *alert.Notifier
	n.EventDead(dead(0))
	require.NoError(t, n.Close(t.Context()))
}

// TestAlertVerifiesWithStandardWebhooksJS checks a real alert with the standardwebhooks
// npm package (1.1.1, examples/gateway-node's dependency), as a receiver in Node would.
func TestAlertVerifiesWithStandardWebhooksJS(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "examples", "gateway-node")
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")); err != nil {
		require.Equal(t, "", os.Getenv("APPBACKEND_REQUIRE_EXAMPLES"), "examples/gateway-node is not installed: run `make node-deps`")
		t.Skip("examples/gateway-node is not installed: run `make node-deps`")
	}
	rcv := newReceiver(t, 0)
	n, err := alert.New(alert.Config{URL: rcv.url, Secret: secret})
	require.NoError(t, err)
	n.EventDead(dead(0))
	got := rcv.wait(1)[0]
	require.NoError(t, n.Close(t.Context()))
	const script = `import { Webhook } from "standardwebhooks";
const [secret, id, ts, sig, body] = process.argv.slice(1);
const payload = new Webhook(secret).verify(body, {"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig});
if (payload.type !== "events.dead") throw new Error("type " + payload.type);
console.log("verified");`
	cmd := exec.Command("node", "--input-type=module", "-e", script, secret, got.id, got.timestamp, got.signature, got.raw)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "standardwebhooks refused the alert: %v\n%s", err, out)
	require.Equal(t, "verified", strings.TrimSpace(string(out)), "standardwebhooks refused the alert: %v\n%s", err, out)
}
