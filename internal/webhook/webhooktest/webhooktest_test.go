package webhooktest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func dataObject(t *testing.T, eventType string, opts ...Option) map[string]any {
	t.Helper()
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(Event(eventType, opts...), &ev))
	require.Equal(t, eventType, ev.Type, "type %q, want %q", ev.Type, eventType)
	return ev.Data.Object
}

// TestRealisticObjects: the common types' data.object has the id prefix, the object
// name and the links a handler of that type reads, not a bare obj_… object.
func TestRealisticObjects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		eventType, idPrefix, object string
		want                        map[string]any    // values that must match
		links                       map[string]string // field → id prefix
	}{
		{"charge.refunded", "ch_", "charge", map[string]any{"amount": 2000.0, "amount_refunded": 2000.0, "refunded": true, "currency": "usd"},
			map[string]string{"customer": "cus_", "payment_intent": "pi_"}},
		{"charge.succeeded", "ch_", "charge", map[string]any{"status": "succeeded", "amount_refunded": 0.0, "paid": true},
			map[string]string{"customer": "cus_"}},
		{"charge.failed", "ch_", "charge", map[string]any{"status": "failed", "paid": false}, nil},
		{"charge.dispute.created", "dp_", "dispute", map[string]any{"amount": 2000.0}, map[string]string{"charge": "ch_"}},
		{"charge.refund.updated", "re_", "refund", nil, map[string]string{"charge": "ch_"}},
		{"refund.created", "re_", "refund", map[string]any{"amount": 2000.0, "status": "succeeded"},
			map[string]string{"charge": "ch_", "payment_intent": "pi_"}},
		{"refund.failed", "re_", "refund", map[string]any{"status": "failed"}, nil},
		{"invoice.paid", "in_", "invoice", map[string]any{"status": "paid", "amount_paid": 2000.0}, map[string]string{"customer": "cus_"}},
		{"invoice.payment_failed", "in_", "invoice", map[string]any{"status": "open", "amount_paid": 0.0, "amount_due": 2000.0}, nil},
		{"invoice.voided", "in_", "invoice", map[string]any{"status": "void"}, nil},
		{"payment_intent.succeeded", "pi_", "payment_intent", map[string]any{"status": "succeeded", "amount_received": 2000.0},
			map[string]string{"customer": "cus_", "latest_charge": "ch_"}},
		{"payment_intent.payment_failed", "pi_", "payment_intent", map[string]any{"status": "requires_payment_method"}, nil},
		{"customer.created", "cus_", "customer", map[string]any{"email": "jenny.rosen@example.com"}, nil},
		{"customer.deleted", "cus_", "customer", map[string]any{"deleted": true}, nil},
		{"customer.subscription.deleted", "sub_", "subscription", map[string]any{"status": "canceled"}, map[string]string{"customer": "cus_"}},
		{"checkout.session.completed", "cs_", "checkout.session", map[string]any{"payment_status": "paid"}, map[string]string{"payment_intent": "pi_"}},
	} {
		t.Run(tc.eventType, func(t *testing.T) {
			t.Parallel()
			require.True(t, Realistic(tc.eventType), "Realistic(%q) = false", tc.eventType)
			obj := dataObject(t, tc.eventType, Live())
			id, _ := obj["id"].(string)
			require.True(t, strings.HasPrefix(id, tc.idPrefix), "id %q, want prefix %q", id, tc.idPrefix)
			if obj["object"] != tc.object {
				require.FailNow(t, fmt.Sprintf("object %v, want %q", obj["object"], tc.object))
			}
			if tc.object != "application" && obj["livemode"] != true {
				require.FailNow(t, fmt.Sprintf("livemode %v, want the event's", obj["livemode"]))
			}
			for k, v := range tc.want {
				if obj[k] != v {
					require.FailNow(t, fmt.Sprintf("%s = %v (%T), want %v", k, obj[k], obj[k], v))
				}
			}
			for k, prefix := range tc.links {
				if id, _ := obj[k].(string); !strings.HasPrefix(id, prefix) {
					require.FailNow(t, fmt.Sprintf("%s = %v, want an id with prefix %q", k, obj[k], prefix))
				}
			}
		})
	}
}

// TestBareObjectNamesItsResource: an unknown type still says what it is about.
func TestBareObjectNamesItsResource(t *testing.T) {
	t.Parallel()
	require.False(t, Realistic("product.created"), "product.created is not one of the realistic types")
	obj := dataObject(t, "product.created")
	require.EqualValues(t, "product", obj["object"], "bare object = %v", obj)
	require.True(t, strings.HasPrefix(obj["id"].(string), "obj_"), "bare object = %v", obj)
}

// TestResourcesAreBuilt: every listed resource builds an object with its id prefix.
func TestResourcesAreBuilt(t *testing.T) {
	t.Parallel()
	for _, r := range Resources {
		obj := dataObject(t, r.Prefix+".created")
		id, _ := obj["id"].(string)
		require.True(t, strings.HasPrefix(id, r.IDPrefix), "%s.created: id %q, want prefix %q", r.Prefix, id, r.IDPrefix)
	}
}
