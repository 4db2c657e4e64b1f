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
	if err != nil {
		t.Fatal(err)
	}
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
		r.t.Errorf("alert with a bad signature: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var a alert.Alert
	if err := json.Unmarshal(body, &a); err != nil {
		r.t.Errorf("alert body %q: %v", body, err)
	}
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
			r.t.Fatalf("the receiver got %d requests, want %d more", len(r.requests()), n)
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
	if err != nil {
		t.Fatal(err)
	}
	n.EventDead(dead(0)) // sent at once
	first := rcv.wait(1)[0]
	for i := 1; i <= 30; i++ {
		n.EventDead(dead(i)) // within the hour: gathered
	}
	if got := len(rcv.requests()); got != 1 {
		t.Fatalf("%d alerts within one window, want 1", got)
	}
	if err := n.Close(t.Context()); err != nil { // sends the gathered alert
		t.Fatal(err)
	}
	got := rcv.wait(1)
	second := got[1]
	if first.alert.Type != alert.KindEventsDead || first.alert.Data.Count != 1 || second.alert.Data.Count != 30 {
		t.Errorf("alerts %+v then %+v, want events.dead with 1 then 30 events", first.alert, second.alert)
	}
	if len(second.alert.Data.Events) != alert.MaxEventsListed || second.alert.Data.Types["invoice.paid"] != 30 {
		t.Errorf("second alert lists %d events and types %v, want %d and invoice.paid: 30", len(second.alert.Data.Events), second.alert.Data.Types, alert.MaxEventsListed)
	}
	if ev := first.alert.Data.Events[0]; ev.ID != "evt_dead_0" || ev.AccountID == nil || *ev.AccountID != "acct_1" || !ev.Livemode {
		t.Errorf("first alert names %+v", ev)
	}
	if !strings.Contains(first.alert.Text, "api-1: 1 event died (invoice.paid ×1)") || !strings.Contains(first.alert.Text, "appbackend events replay --status dead") {
		t.Errorf("text = %q", first.alert.Text)
	}
	if first.id == second.id {
		t.Errorf("two alerts share the webhook-id %s", first.id)
	}
	for _, r := range got {
		for _, leak := range []string{strings.TrimPrefix(secret, "whsec_"), "sk_live_leak", "4242424242424242", "handler: POST"} {
			if strings.Contains(r.raw, leak) {
				t.Errorf("an alert carries %q: %s", leak, r.raw)
			}
		}
	}
	n.EventDead(dead(99)) // after Close: dropped, never a panic
}

func TestAlertWindowSendsWhatGathered(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 0)
	n, err := alert.New(alert.Config{URL: rcv.url, Secret: secret, Every: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
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
	if total != 6 {
		t.Errorf("alerts told of %d deaths, want 6", total)
	}
}

func TestAlertRetriesWithTheSameID(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 2) // 500, 500, then 204
	n, err := alert.New(alert.Config{URL: rcv.url, Secret: secret, RetryDelays: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	n.EventDead(dead(0))
	got := rcv.wait(3)
	if got[0].id != got[1].id || got[1].id != got[2].id {
		t.Errorf("retries used webhook-ids %s, %s, %s; want one", got[0].id, got[1].id, got[2].id)
	}
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(rcv.requests()) != 3 {
		t.Errorf("%d requests, want 3 (no retry after the 2xx)", len(rcv.requests()))
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
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && tc.cfg.Secret != "" && strings.Contains(err.Error(), tc.cfg.Secret) {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}
}

func TestNilNotifier(t *testing.T) {
	var n *alert.Notifier
	n.EventDead(dead(0))
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
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
		if os.Getenv("APPBACKEND_REQUIRE_EXAMPLES") != "" {
			t.Fatal("examples/gateway-node is not installed: run `make node-deps`")
		}
		t.Skip("examples/gateway-node is not installed: run `make node-deps`")
	}
	rcv := newReceiver(t, 0)
	n, err := alert.New(alert.Config{URL: rcv.url, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	n.EventDead(dead(0))
	got := rcv.wait(1)[0]
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	const script = `import { Webhook } from "standardwebhooks";
const [secret, id, ts, sig, body] = process.argv.slice(1);
const payload = new Webhook(secret).verify(body, {"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig});
if (payload.type !== "events.dead") throw new Error("type " + payload.type);
console.log("verified");`
	cmd := exec.Command("node", "--input-type=module", "-e", script, secret, got.id, got.timestamp, got.signature, got.raw)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "verified" {
		t.Fatalf("standardwebhooks refused the alert: %v\n%s", err, out)
	}
}
