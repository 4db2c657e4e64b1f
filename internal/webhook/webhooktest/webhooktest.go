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
// it, with a data.object that fits the type (see Resources): an application for
// account.application.*, an apps.install for apps.install.*, a ch_… charge with its
// amount, customer and payment intent for charge.*, a re_… refund of a charge for
// refund.*, and so on; a bare object for any other type.
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

// Resources lists the object types Event builds a realistic data.object for, by the
// event-type prefix they answer ("charge" for charge.refunded, charge.succeeded, …),
// with the prefix of their ids. Any other type gets a bare object whose "object" names
// the type's resource.
var Resources = []struct{ Prefix, IDPrefix string }{
	{"account.application", "ca_"}, {"apps.install", "appinst_"},
	{"charge", "ch_"}, {"charge.dispute", "dp_"}, {"charge.refund", "re_"}, {"refund", "re_"},
	{"checkout.session", "cs_"}, {"customer", "cus_"}, {"customer.subscription", "sub_"},
	{"invoice", "in_"}, {"payment_intent", "pi_"},
}

// resourceOf is the part of an event type before its last dot: "charge" for
// charge.refunded, "customer.subscription" for customer.subscription.created.
func resourceOf(eventType string) string {
	for i := len(eventType) - 1; i >= 0; i-- {
		if eventType[i] == '.' {
			return eventType[:i]
		}
	}
	return eventType
}

// objectFor builds the data.object of an event: the resource its type names, with the
// ids, amounts and links a handler of that type reads (a charge's customer and payment
// intent, a refund's charge), and a status that fits the type.
func objectFor(eventType string, o options) map[string]any {
	created := o.created.Unix()
	action := eventType[len(resourceOf(eventType)):]
	if action != "" {
		action = action[1:]
	}
	base := func(idPrefix, object string) map[string]any {
		return map[string]any{"id": NewID(idPrefix), "object": object, "created": created,
			"livemode": o.livemode, "metadata": map[string]any{}}
	}
	switch resourceOf(eventType) {
	case "account.application":
		return map[string]any{"id": "ca_" + NewID("")[:16], "object": "application", "name": "appbackend test app"}
	case "apps.install":
		status := "installed"
		if eventType == "apps.install.deleted" {
			status = "uninstalled"
		}
		return map[string]any{"id": NewID("appinst_"), "object": "apps.install", "account": o.account,
			"app": NewID("app_"), "created": created, "livemode": o.livemode, "status": status}
	case "customer":
		obj := base("cus_", "customer")
		obj["email"], obj["name"] = "jenny.rosen@example.com", "Jenny Rosen"
		if action == "deleted" {
			obj["deleted"] = true
		}
		return obj
	case "customer.subscription":
		obj := base("sub_", "subscription")
		status := map[string]string{"deleted": "canceled", "paused": "paused", "trial_will_end": "trialing"}[action]
		if status == "" {
			status = "active"
		}
		obj["customer"], obj["status"], obj["currency"] = NewID("cus_"), status, "usd"
		return obj
	case "invoice":
		obj := base("in_", "invoice")
		status := map[string]string{"created": "draft", "finalized": "open", "payment_failed": "open",
			"voided": "void", "marked_uncollectible": "uncollectible", "upcoming": "draft"}[action]
		paid := 0
		if status == "" {
			status, paid = "paid", 2000
		}
		obj["customer"], obj["currency"], obj["status"] = NewID("cus_"), "usd", status
		obj["amount_due"], obj["amount_paid"], obj["total"] = 2000, paid, 2000
		return obj
	case "payment_intent":
		obj := base("pi_", "payment_intent")
		status := map[string]string{"created": "requires_payment_method", "payment_failed": "requires_payment_method",
			"canceled": "canceled", "processing": "processing", "requires_action": "requires_action",
			"amount_capturable_updated": "requires_capture"}[action]
		received := 0
		if status == "" {
			status, received = "succeeded", 2000
		}
		obj["amount"], obj["amount_received"], obj["currency"], obj["status"] = 2000, received, "usd", status
		obj["customer"], obj["latest_charge"] = NewID("cus_"), NewID("ch_")
		return obj
	case "charge":
		obj := base("ch_", "charge")
		status, refunded := "succeeded", 0
		switch action {
		case "failed":
			status = "failed"
		case "pending":
			status = "pending"
		case "refunded":
			refunded = 2000
		}
		obj["amount"], obj["amount_captured"], obj["amount_refunded"], obj["currency"] = 2000, 2000, refunded, "usd"
		obj["customer"], obj["payment_intent"], obj["status"] = NewID("cus_"), NewID("pi_"), status
		obj["paid"], obj["captured"], obj["refunded"] = status == "succeeded", status == "succeeded", refunded > 0
		return obj
	case "refund", "charge.refund":
		obj := base("re_", "refund")
		status := "succeeded"
		if action == "failed" {
			status = "failed"
		}
		obj["amount"], obj["currency"], obj["status"] = 2000, "usd", status
		obj["charge"], obj["payment_intent"] = NewID("ch_"), NewID("pi_")
		return obj
	case "charge.dispute":
		obj := base("dp_", "dispute")
		obj["amount"], obj["currency"], obj["charge"], obj["status"] = 2000, "usd", NewID("ch_"), "needs_response"
		obj["payment_intent"], obj["reason"] = NewID("pi_"), "fraudulent"
		return obj
	case "checkout.session":
		obj := base("cs_", "checkout.session")
		obj["amount_total"], obj["currency"], obj["customer"], obj["mode"] = 2000, "usd", NewID("cus_"), "payment"
		obj["payment_intent"], obj["payment_status"], obj["status"] = NewID("pi_"), "paid", "complete"
		return obj
	}
	return map[string]any{"id": NewID("obj_"), "object": resourceOf(eventType), "created": created}
}

// Realistic reports whether Event builds a realistic data.object for eventType, rather
// than a bare one (Resources).
func Realistic(eventType string) bool {
	r := resourceOf(eventType)
	for _, res := range Resources {
		if res.Prefix == r {
			return true
		}
	}
	return false
}

// Sign returns the Stripe-Signature header for payload signed with secret at the given
// time, with stripe-go's own test helper.
func Sign(payload []byte, secret string, at time.Time) string {
	return stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: at,
	}).Header
}
