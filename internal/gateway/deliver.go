package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/appbackend/appbackend/internal/store"
)

// DeliverEvent POSTs the event, exactly as Stripe sent it, to the upstream's events
// path; it is the event processor's delivery step (events.Config.Deliver), which runs
// before the event's processing transaction, so that a slow upstream holds no database
// lock. Anything but a 2xx fails the event, which is retried with the event's backoff
// and then dead, like a failing Go handler.
func (s *Service) DeliverEvent(ctx context.Context, ev *store.Event) error {
	h := http.Header{HeaderLivemode: {strconv.FormatBool(ev.Livemode)}}
	if ev.AccountID != "" {
		h[HeaderAccountID] = []string{ev.AccountID}
	}
	// The account's state once this event is processed, which happens right after.
	status, ok, err := s.deps.InstallationAfter(ctx, ev)
	if err != nil {
		return err
	}
	if ok {
		h[HeaderInstallation] = []string{string(status)}
	}
	_, err = s.gw.Deliver(ctx, Call{Method: http.MethodPost, Path: s.cfg.EventsPath, ID: ev.ID, Body: ev.Raw, Header: h})
	return err
}
