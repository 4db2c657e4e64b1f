// Package webhooktest builds realistic Stripe webhook events and signs them the way
// Stripe does, for tests, benchmarks and `appbackend trigger`.
//
//	body := webhooktest.Event("account.application.authorized", webhooktest.Account("acct_123"))
//	req.Header.Set("Stripe-Signature", webhooktest.Sign(body, "whsec_…", time.Now()))
package webhooktest

import (
	"crypto/rand"
	"encoding/json"
	"maps"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v85/webhook"
)

// DefaultAPIVersion is the api_version of built events: the one a real app-install
// event carried, older than stripe-go's, which receivers must accept anyway.
const DefaultAPIVersion = "2023-10-16"

// Options of [Event].
type options struct {
	id         string
	account    string
	livemode   bool
	created    time.Time
	apiVersion string
	object     map[string]any
	fields     map[string]any
}

// Option configures [Event].
type Option func(*options)

// ID sets the event id (default: a random evt_…).
func ID(id string) Option { return func(o *options) { o.id = id } }

// Account sets the connected account the event belongs to (default: none, a
// platform event).
func Account(id string) Option { return func(o *options) { o.account = id } }

// Live makes a live-mode event (default: test mode).
func Live() Option { return func(o *options) { o.livemode = true } }

// Livemode sets the mode.
func Livemode(live bool) Option { return func(o *options) { o.livemode = live } }

// Created sets the event's created time (default: now).
func Created(t time.Time) Option { return func(o *options) { o.created = t } }

// APIVersion sets the api_version (default DefaultAPIVersion).
func APIVersion(v string) Option { return func(o *options) { o.apiVersion = v } }

// Object replaces the event's data.object.
func Object(obj map[string]any) Option { return func(o *options) { o.object = obj } }

// Fields sets top-level fields of the event's data.object: each replaces the field of
// that name in the object the type would otherwise get (or in Object's), so that a test
// or `appbackend trigger --data` changes the amount of a realistic invoice without
// writing the whole invoice. A nested object is replaced whole, not merged.
func Fields(fields map[string]any) Option {
	return func(o *options) {
		if o.fields == nil {
			o.fields = map[string]any{}
		}
		maps.Copy(o.fields, fields)
	}
}

// NewID returns a new id with the given prefix, such as "evt_": 24 base62 characters
// whose first 11 encode the current time in nanoseconds and the rest are random. The
// alphabet is in ASCII order, so ids made one after the other sort in that order: the
// installation lifecycle breaks ties between events of the same second by id, and an
// install then uninstall triggered within one second must end uninstalled.
func NewID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 24)
	for i, n := 10, uint64(time.Now().UnixNano()); i >= 0; i-- {
		b[i] = alphabet[n%62]
		n /= 62
	}
	_, _ = rand.Read(b[11:])
	for i := 11; i < len(b); i++ {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// Event returns the JSON of a snapshot event of the given type, shaped as Stripe sends
// it, with a data.object that fits the type: an application for
// account.application.*, an apps.install for apps.install.*, a customer, invoice or
// payment intent for those, and a bare object for any other type.
func Event(eventType string, opts ...Option) []byte {
	o := options{id: NewID("evt_"), created: time.Now(), apiVersion: DefaultAPIVersion}
	for _, opt := range opts {
		opt(&o)
	}
	if o.object == nil {
		o.object = objectFor(eventType, o)
	}
	if o.fields != nil {
		object := maps.Clone(o.object)
		maps.Copy(object, o.fields)
		o.object = object
	}
	ev := map[string]any{
		"id":               o.id,
		"object":           "event",
		"api_version":      o.apiVersion,
		"created":          o.created.Unix(),
		"data":             map[string]any{"object": o.object},
		"livemode":         o.livemode,
		"pending_webhooks": 1,
		"request":          map[string]any{"id": nil, "idempotency_key": nil},
		"type":             eventType,
	}
	if o.account != "" {
		ev["account"] = o.account
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // only maps of JSON values above
	}
	return b
}

func objectFor(eventType string, o options) map[string]any {
	created := o.created.Unix()
	switch eventType {
	case "account.application.authorized", "account.application.deauthorized":
		return map[string]any{"id": "ca_" + NewID("")[:16], "object": "application", "name": "appbackend test app"}
	case "apps.install.created", "apps.install.updated", "apps.install.deleted":
		status := "installed"
		if eventType == "apps.install.deleted" {
			status = "uninstalled"
		}
		return map[string]any{"id": NewID("appinst_"), "object": "apps.install", "account": o.account,
			"app": NewID("app_"), "created": created, "livemode": o.livemode, "status": status}
	case "customer.created", "customer.updated", "customer.deleted":
		return map[string]any{"id": NewID("cus_"), "object": "customer", "created": created,
			"email": "jenny.rosen@example.com", "livemode": o.livemode, "metadata": map[string]any{}}
	case "invoice.paid", "invoice.payment_succeeded", "invoice.created", "invoice.finalized":
		return map[string]any{"id": NewID("in_"), "object": "invoice", "created": created, "currency": "usd",
			"amount_paid": 2000, "customer": NewID("cus_"), "livemode": o.livemode, "status": "paid"}
	case "payment_intent.succeeded", "payment_intent.created", "payment_intent.payment_failed":
		return map[string]any{"id": NewID("pi_"), "object": "payment_intent", "amount": 2000, "created": created,
			"currency": "usd", "livemode": o.livemode, "status": "succeeded"}
	}
	return map[string]any{"id": NewID("obj_"), "object": "unknown", "created": created}
}

// Sign returns the Stripe-Signature header for payload signed with secret at the given
// time, with stripe-go's own test helper.
func Sign(payload []byte, secret string, at time.Time) string {
	return stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: at,
	}).Header
}
