package events

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/appbackend/appbackend/internal/store"
)

// ThinObject is the top-level "object" of a thin event notification, which an event
// destination delivers instead of the event's content, and of the event fetched for it.
const ThinObject = "v2.core.event"

// FetchFunc fetches the full event a thin notification stands for (GET
// /v2/core/events/{id} with the notification's Stripe-Context) and returns its JSON.
// ev is the stored event, its Raw the notification as received.
type FetchFunc func(ctx context.Context, ev *store.Event) ([]byte, error)

// IsThin reports whether raw, an event as received, is a thin notification: its
// top-level "object" is "v2.core.event". A snapshot event ("object":"event") holding
// that string somewhere in data.object is not, which is why the whole body is decoded
// when the string appears; a body without it (nearly every snapshot event) costs one
// byte search.
func IsThin(raw []byte) bool {
	if !bytes.Contains(raw, []byte(`"`+ThinObject+`"`)) {
		return false
	}
	var top struct {
		Object string `json:"object"`
	}
	return json.Unmarshal(raw, &top) == nil && top.Object == ThinObject
}
