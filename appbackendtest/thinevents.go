package appbackendtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

// ThinEvent is a thin event: what an event destination sends (a notification,
// "object": "v2.core.event", without the event's data) and what Stripe serves for it
// at GET /v2/core/events/{id}. Only Type is required.
type ThinEvent struct {
	// Type is the event type: "v1.billing.meter.error_report_triggered", …
	Type string
	// ID is the event id; empty means a new evt_test_… (evt_live_…) id. Send the same
	// ID twice to test a redelivery.
	ID string
	// Account is the notification's context, the account the event happened on: the
	// fetch sends it as Stripe-Context. Empty for the platform's own events.
	Account  string
	Livemode bool
	// Created is Stripe's created time; zero means now.
	Created time.Time
	// Data is the fetched event's data; nil means {}.
	Data map[string]any
	// RelatedObject is the object the event is about, as {"id", "type", "url"}; nil
	// means none.
	RelatedObject map[string]any
}

func (ev *ThinEvent) complete() {
	if ev.ID == "" {
		ev.ID = webhooktest.NewID("evt_" + modeName(ev.Livemode) + "_")
	}
	if ev.Created.IsZero() {
		ev.Created = time.Now()
	}
	if ev.Data == nil {
		ev.Data = map[string]any{}
	}
}

// notification is the body an event destination posts.
func (ev ThinEvent) notification() []byte {
	n := map[string]any{
		"id": ev.ID, "object": "v2.core.event", "type": ev.Type, "livemode": ev.Livemode,
		"created": ev.Created.UTC().Format(time.RFC3339Nano),
	}
	if ev.Account != "" {
		n["context"] = ev.Account
	}
	if ev.RelatedObject != nil {
		n["related_object"] = ev.RelatedObject
	}
	body, err := json.Marshal(n)
	if err != nil {
		panic("appbackendtest: " + err.Error())
	}
	return body
}

// thinEvents is the StripeFake's collection of full thin events, per mode and
// context ("" for the platform).
const thinEvents = "v2/core/events"

// PutThinEvent stores the full event GET /v2/core/events/{id} serves for ev (with the
// Stripe-Context of ev.Account, in ev's mode) and returns it. The fake answers
// another context, or another mode, with 404, as Stripe does.
func (f *StripeFake) PutThinEvent(ev ThinEvent) map[string]any {
	ev.complete()
	full := map[string]any{
		"id": ev.ID, "object": "v2.core.event", "type": ev.Type, "livemode": ev.Livemode,
		"created": ev.Created.UTC().Format(time.RFC3339Nano), "data": deepCopy(ev.Data),
		"reason": nil, "related_object": nil,
	}
	if ev.Account != "" {
		full["context"] = ev.Account
	}
	if ev.RelatedObject != nil {
		full["related_object"] = deepCopy(ev.RelatedObject)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.store(collectionKey{modeName(ev.Livemode), ev.Account, thinEvents}, full)
	return deepCopy(full)
}

// thinEvent answers GET /v2/core/events/{id}, looked up in the request's mode and
// Stripe-Context.
func (f *StripeFake) thinEvent(mode string, req StripeRequest) (int, []byte) {
	id := strings.TrimPrefix(req.Path, "/"+thinEvents+"/")
	if req.Method != http.MethodGet || id == "" || strings.Contains(id, "/") {
		return unrecognized(req)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.objects[collectionKey{mode, req.Header.Get("Stripe-Context"), thinEvents}]
	if !c.has(id) {
		return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing", "No such event: '"+id+"'")
	}
	return jsonBody(http.StatusOK, c.byID[id])
}

// DeliverThin sends ev as an event destination does: it stores the full event in the
// App's StripeFake (PutThinEvent), then posts the thin notification to POST
// /webhooks/stripe, signed with the secret of its mode's endpoint, and returns the
// event's id once the app acknowledged it. The app fetches the full event while
// processing it, not before the acknowledgement; WaitForEvent waits for that. Script
// GET /v2/core/events/{id} on the fake to make the fetch fail. It fails the test on
// any answer but 200.
func (a *App) DeliverThin(t testing.TB, ev ThinEvent) string {
	t.Helper()
	if ev.Type == "" {
		t.Fatal("appbackendtest: DeliverThin: the event has no Type")
	}
	ev.complete()
	if a.Fake != nil {
		a.Fake.PutThinEvent(ev)
	}
	a.postEvent(t, ev.notification(), ev.Livemode, "thin event "+ev.ID+" ("+ev.Type+")")
	return ev.ID
}
