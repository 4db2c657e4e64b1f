package appbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// ThinEvent decodes the event an OnEvent handler received for a thin notification
// (an event destination's "object": "v2.core.event"): the full event appbackend
// fetched from GET /v2/core/events/{id} before the handlers ran, with its data,
// related_object, context and reason. For such an event ev.Raw is that fetched event
// (the inbox keeps the notification as Stripe sent it) and ev.DataObject does not
// apply: a v2 event has data and related_object, not data.object. ThinEvent returns
// an error for a snapshot event.
//
//	app.OnEvent("v1.billing.meter.error_report_triggered", func(ctx context.Context, ev appbackend.Event) error {
//		full, err := appbackend.ThinEvent(ev)
//		if err != nil {
//			return err
//		}
//		meter := full.RelatedObject.ID // mtr_…
//		…
//	})
func ThinEvent(ev Event) (*stripe.V2CoreRawEvent, error) {
	if !events.IsThin(ev.Raw) {
		return nil, fmt.Errorf("appbackend: event %s is not a thin event", ev.ID)
	}
	var full stripe.V2CoreRawEvent
	if err := json.Unmarshal(ev.Raw, &full); err != nil {
		return nil, fmt.Errorf("appbackend: thin event %s: %w", ev.ID, err)
	}
	return &full, nil
}

// fetchThinEvent is the processor's FetchThin: stripe-go reads the stored
// notification (EventNotificationFromJSON: ParseEventNotification without the
// signature check, which the receiver made with every configured secret before
// storing it) and fetches the full event with the platform key of the event's mode
// and the notification's context as Stripe-Context.
func (a *App) fetchThinEvent(ctx context.Context, ev *store.Event) ([]byte, error) {
	if a.stripe == nil {
		return nil, errors.New("no Stripe client to fetch the thin event with")
	}
	sc, err := a.stripe.Platform(stripeclient.ModeOf(ev.Livemode))
	if err != nil {
		return nil, err
	}
	n, err := stripe.EventNotificationFromJSON(ev.Raw, *sc)
	if err != nil {
		return nil, fmt.Errorf("read the notification: %w", err)
	}
	// Each known type's notification has a FetchEvent of its own returning its own
	// type; the unknown type's fetches any event (same request: GET
	// /v2/core/events/{id}, Stripe-Context from the notification).
	unknown := stripe.UnknownEventNotification{V2CoreEventNotification: *n.GetEventNotification()}
	full, err := unknown.FetchEvent(ctx)
	if err != nil {
		return nil, err
	}
	raw := responseJSON(full)
	if len(raw) == 0 {
		return nil, errors.New("stripe-go returned the event without its JSON")
	}
	return raw, nil
}

// responseJSON is the body Stripe answered for a fetched event. stripe-go keeps it in
// the LastResponse every event type embeds (through V2BaseEvent), but V2CoreEvent has
// no method to reach it, and the concrete type varies with the event's type.
func responseJSON(ev stripe.V2CoreEvent) []byte {
	v := reflect.ValueOf(ev)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	f := v.FieldByName("LastResponse")
	if !f.IsValid() {
		return nil
	}
	resp, _ := f.Interface().(*stripe.APIResponse)
	if resp == nil {
		return nil
	}
	return resp.RawJSON
}
