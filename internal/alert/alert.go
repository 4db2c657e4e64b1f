// Package alert tells an operator's endpoint (APPBACKEND_ALERT_URL) that events are
// dying, with a POST signed by the Standard Webhooks scheme (webhook-id,
// webhook-timestamp, webhook-signature over APPBACKEND_ALERT_SECRET), so that a
// receiver can check it came from this backend.
//
// Alerts are grouped by kind (for now one: [KindEventsDead]) and sent at most once per
// kind per [Config.Every]: the first death is sent at once, and every one after it in
// the window is counted into the next alert, sent when the window ends, so that a mass
// failure of 20,000 events makes a handful of requests, and none is left untold. A
// failed delivery (an error or a non-2xx answer) is retried with backoff, with the
// same webhook-id, so that a receiver can drop a copy it already handled.
//
// An alert carries event ids, types, accounts and counts, never an event's payload or
// a handler's error text: those are the app's own words and may hold anything (a
// customer's details, a key in a URL); the dashboard and `appbackend events` show them
// to those allowed to see them. Each process alerts for the events it processed: with
// several replicas, each one's alerts come from its own window.
package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/gateway"
	"github.com/appbackend/appbackend/internal/store"
)

// KindEventsDead is the alert sent when events failed every attempt.
const KindEventsDead = "events.dead"

// Defaults of [Config].
const (
	DefaultEvery   = 5 * time.Minute
	DefaultTimeout = 10 * time.Second
	// MaxEventsListed bounds the events an alert names; the counts cover all.
	MaxEventsListed = 20
)

// DefaultRetryDelays are the waits before each retry of a failed delivery: five
// attempts over about half a minute.
var DefaultRetryDelays = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 20 * time.Second}

// Config configures a [Notifier].
type Config struct {
	// URL receives the alerts (APPBACKEND_ALERT_URL): http or https.
	URL string
	// Secret signs them (APPBACKEND_ALERT_SECRET): a Standard Webhooks secret, whsec_
	// and the base64 of at least 24 bytes.
	Secret string
	// Every is the least time between two alerts of one kind (default DefaultEvery).
	Every time.Duration
	// RetryDelays are the waits before each retry (default DefaultRetryDelays); an
	// empty non-nil slice sends once.
	RetryDelays []time.Duration
	// Timeout bounds one delivery attempt (default DefaultTimeout).
	Timeout time.Duration
	// Client sends the requests (default: a client with Timeout that follows no
	// redirect, since a redirect's target did not ask for alerts).
	Client *http.Client
	// Source names this backend in the alert's text and data (default: the host name).
	Source string
	// Archetype is the App's logger, which receives failed deliveries (never the
	// secret), and its clock; nil discards the logs and uses the real clock.
	Archetype *baseservice.Archetype
}

// Validate checks the URL and the secret, in the words of the settings.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("APPBACKEND_ALERT_URL %q is not an http:// or https:// URL", c.URL)
	}
	if c.Secret == "" {
		return errors.New("APPBACKEND_ALERT_URL needs APPBACKEND_ALERT_SECRET, the whsec_… secret its alerts are signed with (Standard Webhooks; make one with `echo whsec_$(openssl rand -base64 32)`)")
	}
	if _, err := gateway.ParseSecret(c.Secret); err != nil {
		return fmt.Errorf("APPBACKEND_ALERT_SECRET: %w", err)
	}
	return nil
}

// Alert is the JSON body of an alert, in the Standard Webhooks payload shape (type,
// timestamp, data), with a text line that chat webhooks (Slack's, for one) show as is.
type Alert struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Text      string    `json:"text"`
	Data      Data      `json:"data"`
}

// Data is what an alert says.
type Data struct {
	Source string `json:"source"`
	// Count is how many events died between Since and Until.
	Count int       `json:"count"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Types counts them by event type.
	Types map[string]int `json:"types"`
	// Events names the first MaxEventsListed of them.
	Events []EventRef `json:"events"`
	// Replay is the command that replays them once the cause is fixed.
	Replay string `json:"replay"`
}

// EventRef names one event; nothing of its payload or error.
type EventRef struct {
	ID        string  `json:"id"`
	Type      string  `json:"type"`
	AccountID *string `json:"account_id"`
	Livemode  bool    `json:"livemode"`
}

// Notifier groups dead events into alerts and sends them. Its methods are safe for
// concurrent use; a nil *Notifier does nothing, so that callers need no check for
// alerts being off.
type Notifier struct {
	baseservice.Base
	cfg    Config
	signer *gateway.Signer

	mu sync.Mutex
	// pending is the alert being gathered, per kind; lastSent when each kind was last
	// sent (an alert sent at once opens the window in which the next ones gather).
	pending  map[string]*Data
	lastSent map[string]time.Time
	timers   map[string]*time.Timer
	closed   bool
	sending  sync.WaitGroup
	// stop ends the retries' waits on Close.
	stop chan struct{}
}

// New checks cfg and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	signer, _ := gateway.ParseSecret(cfg.Secret)
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.RetryDelays == nil {
		cfg.RetryDelays = DefaultRetryDelays
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	n := &Notifier{cfg: cfg, signer: signer,
		pending: map[string]*Data{}, lastSent: map[string]time.Time{}, timers: map[string]*time.Timer{},
		stop: make(chan struct{})}
	n.Init(cfg.Archetype)
	return n, nil
}

// EventDead records that ev failed its last attempt: an alert goes out at once if
// none of its kind went out within Every, else with the next one. It never blocks on
// the network.
func (n *Notifier) EventDead(ev store.Event) {
	if n == nil {
		return
	}
	now := n.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	d := n.pending[KindEventsDead]
	if d == nil {
		d = &Data{Source: n.cfg.Source, Since: now, Types: map[string]int{},
			Replay: "appbackend events replay --status dead"}
		n.pending[KindEventsDead] = d
	}
	d.Count++
	d.Until = now
	d.Types[ev.Type]++
	if len(d.Events) < MaxEventsListed {
		ref := EventRef{ID: ev.ID, Type: ev.Type, Livemode: ev.Livemode}
		if ev.AccountID != "" {
			account := ev.AccountID
			ref.AccountID = &account
		}
		d.Events = append(d.Events, ref)
	}
	if _, waiting := n.timers[KindEventsDead]; waiting {
		return // the window's timer sends it
	}
	if last, ok := n.lastSent[KindEventsDead]; ok && now.Sub(last) < n.cfg.Every {
		n.timers[KindEventsDead] = time.AfterFunc(n.cfg.Every-now.Sub(last), func() { n.flush(KindEventsDead) })
		return
	}
	n.sendLocked(KindEventsDead, now)
}

// flush sends the kind's gathered alert when its window ends.
func (n *Notifier) flush(kind string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.timers, kind)
	if n.closed || n.pending[kind] == nil {
		return
	}
	n.sendLocked(kind, n.Now())
}

// sendLocked takes the kind's gathered alert and delivers it in the background.
func (n *Notifier) sendLocked(kind string, now time.Time) {
	d := n.pending[kind]
	delete(n.pending, kind)
	n.lastSent[kind] = now
	a := Alert{Type: kind, Timestamp: now.UTC(), Data: *d}
	a.Data.Since, a.Data.Until = d.Since.UTC(), d.Until.UTC()
	a.Text = text(a)
	n.sending.Add(1)
	go func() {
		defer n.sending.Done()
		n.deliver(a)
	}()
}

// text is the alert in one line.
func text(a Alert) string {
	d := a.Data
	types := make([]string, 0, len(d.Types))
	for t := range d.Types {
		types = append(types, t)
	}
	slices.SortFunc(types, func(x, y string) int {
		if d.Types[x] != d.Types[y] {
			return d.Types[y] - d.Types[x]
		}
		return strings.Compare(x, y)
	})
	parts := make([]string, 0, len(types))
	for i, t := range types {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("%d more types", len(types)-5))
			break
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", t, d.Types[t]))
	}
	word := "events"
	if d.Count == 1 {
		word = "event"
	}
	from := ""
	if d.Source != "" {
		from = d.Source + ": "
	}
	return fmt.Sprintf("appbackend %s%d %s died (%s) since %s. Fix the cause, then run `%s`.",
		from, d.Count, word, strings.Join(parts, ", "), d.Since.Format(time.RFC3339), d.Replay)
}

// deliver POSTs a, signed afresh at each attempt (the timestamp is part of what is
// signed, and receivers refuse old ones), with one webhook-id across the retries.
func (n *Notifier) deliver(a Alert) {
	body, err := json.Marshal(a)
	if err != nil {
		n.Logger().Error("alert: encode", "err", err)
		return
	}
	id := newID()
	for attempt := 0; ; attempt++ {
		err := n.post(id, body)
		if err == nil {
			return
		}
		if attempt >= len(n.cfg.RetryDelays) {
			n.Logger().Error("alert not delivered; giving up", "kind", a.Type, "webhook_id", id, "attempts", attempt+1, "err", err)
			return
		}
		n.Logger().Warn("alert not delivered; retrying", "kind", a.Type, "webhook_id", id, "attempt", attempt+1, "retry_in", n.cfg.RetryDelays[attempt], "err", err)
		t := time.NewTimer(n.cfg.RetryDelays[attempt])
		select {
		case <-t.C:
		case <-n.stop:
			t.Stop()
			// Close was asked: one last try, without waiting.
			if err := n.post(id, body); err != nil {
				n.Logger().Error("alert not delivered before shutdown", "kind", a.Type, "webhook_id", id, "err", err)
			}
			return
		}
	}
}

func (n *Notifier) post(id string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "appbackend-alerts")
	n.signer.SetHeaders(req.Header, id, n.Now(), body)
	res, err := n.cfg.Client.Do(req)
	if err != nil {
		// The URL may carry a token (chat webhooks do): say only where it went wrong.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s", res.Status)
	}
	return nil
}

// Close sends what is gathered, gives each delivery in flight one last try, and waits
// for them until ctx ends.
func (n *Notifier) Close(ctx context.Context) error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	if !n.closed {
		for kind, t := range n.timers {
			t.Stop()
			delete(n.timers, kind)
		}
		for kind := range n.pending {
			n.sendLocked(kind, n.Now())
		}
		n.closed = true
		close(n.stop)
	}
	n.mu.Unlock()
	done := make(chan struct{})
	go func() {
		n.sending.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "alert_" + hex.EncodeToString(b)
}
