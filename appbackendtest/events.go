package appbackendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

// Event is a Stripe event for Deliver to send. Only Type is required.
type Event struct {
	// Type is the event type: "invoice.paid", "customer.created", …
	Type string
	// ID is the event id; empty means a new evt_… id. Deliver the same ID twice to
	// test a redelivery.
	ID string
	// Account is the connected account the event happened on (the merchant who
	// installed the app); empty for an event of the platform itself.
	Account string
	// Livemode is the event's mode; Deliver signs it with that mode's endpoint secret.
	Livemode bool
	// Created is Stripe's created time; zero means now.
	Created time.Time
	// Object is data.object; nil means a realistic object for the common types (an
	// application, a customer, an invoice, a payment intent) and a bare one otherwise.
	Object map[string]any
}

// Deliver posts ev to POST /webhooks/stripe as Stripe does, signed with the secret
// of its mode's endpoint, and returns its id once the app acknowledged it (200: it
// is stored and will be processed; see WaitForEvent). It fails the test on any
// other answer.
func (a *App) Deliver(t testing.TB, ev Event) string {
	t.Helper()
	raw := ev.build(t, "Deliver")
	a.postEvent(t, raw, ev.Livemode, "event "+ev.ID+" ("+ev.Type+")")
	return ev.ID
}

// build gives ev an id when it has none and returns the event Stripe would send for
// it; method names the kit's function in the failure of an event without a Type.
func (ev *Event) build(t testing.TB, method string) []byte {
	t.Helper()
	if ev.Type == "" {
		t.Fatal("appbackendtest: " + method + ": the event has no Type")
	}
	if ev.ID == "" {
		ev.ID = webhooktest.NewID("evt_")
	}
	opts := []webhooktest.Option{webhooktest.ID(ev.ID), webhooktest.Livemode(ev.Livemode)}
	if ev.Account != "" {
		opts = append(opts, webhooktest.Account(ev.Account))
	}
	if !ev.Created.IsZero() {
		opts = append(opts, webhooktest.Created(ev.Created))
	}
	if ev.Object != nil {
		opts = append(opts, webhooktest.Object(ev.Object))
	}
	return webhooktest.Event(ev.Type, opts...)
}

// postEvent posts body to POST /webhooks/stripe signed with the secret of the mode's
// endpoint, and fails the test, naming what, unless the app acknowledged it.
func (a *App) postEvent(t testing.TB, body []byte, livemode bool, what string) {
	t.Helper()
	secret := TestWebhookSecret
	if livemode {
		secret = LiveWebhookSecret
	}
	req, err := http.NewRequest(http.MethodPost, a.URL+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("appbackendtest: %v", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", webhooktest.Sign(body, secret, time.Now()))
	if res := send(t, req); res.Status != http.StatusOK {
		t.Fatalf("appbackendtest: %s was not acknowledged: %s", what, res)
	}
}

// WaitForEvent waits until the event with id is processed — every handler succeeded
// and committed — and returns it as the inbox holds it (Status, Attempts, …). It
// fails the test with the event's last error as soon as the event is dead (out of
// attempts, Config.EventMaxAttempts), or if it is not processed within WaitTimeout.
// A failed attempt is retried after 50 ms meanwhile.
func (a *App) WaitForEvent(t testing.TB, id string) appbackend.Event {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
		ev, ok, err := a.App.Event(ctx, id)
		cancel()
		switch {
		case err != nil:
			t.Fatalf("appbackendtest: event %s: %v", id, err)
		case !ok:
			t.Fatalf("appbackendtest: event %s was never received", id)
		}
		ev.Raw = nil
		switch ev.Status {
		case appbackend.EventStatusProcessed:
			return ev
		case appbackend.EventStatusDead:
			t.Fatalf("appbackendtest: event %s (%s) is dead after %d attempts: %s", id, ev.Type, ev.Attempts, ev.LastError)
		}
		if time.Now().After(deadline) {
			t.Fatalf("appbackendtest: event %s (%s) is still %s after %v, %d attempts; last error: %q",
				id, ev.Type, ev.Status, WaitTimeout, ev.Attempts, ev.LastError)
		}
		time.Sleep(pollInterval)
	}
}

// Install delivers account.application.authorized for account in a mode, as Stripe
// does when a merchant installs the app, waits until it is processed (the
// OnInstall hooks ran, the per-account schedules are set up) and returns the
// installation.
func (a *App) Install(t testing.TB, account string, livemode bool) appbackend.Installation {
	t.Helper()
	return a.lifecycle(t, "account.application.authorized", account, livemode, appbackend.InstallStatusInstalled)
}

// Uninstall delivers account.application.deauthorized for account in a mode, as
// Stripe does when a merchant uninstalls the app, waits until it is processed (the
// OnUninstall hooks ran) and until the data-removal job that follows finished (the
// OnCleanup hooks ran), and returns the installation. UninstallBeforeCleanup stops
// before the cleanup, to test the state in between.
func (a *App) Uninstall(t testing.TB, account string, livemode bool) appbackend.Installation {
	t.Helper()
	in := a.UninstallBeforeCleanup(t, account, livemode)
	a.WaitForCleanup(t, in)
	return in
}

// waitForRemoval waits for the data-removal job the uninstall event enqueued, if it
// enqueued one.
func (a *App) waitForRemoval(t testing.TB, eventID string) {
	t.Helper()
	client := a.riverClient(t)
	params := river.NewJobListParams().Kinds(install.RemoveAccountDataArgs{}.Kind()).First(1000)
	res, err := client.JobList(context.Background(), params)
	if err != nil {
		t.Fatalf("appbackendtest: list data-removal jobs: %v", err)
	}
	for _, job := range res.Jobs {
		var args install.RemoveAccountDataArgs
		if json.Unmarshal(job.EncodedArgs, &args) == nil && args.EventID == eventID {
			if status := a.WaitForJob(t, job.ID); status.State != "completed" {
				t.Fatalf("appbackendtest: the data-removal job after %s ended %s: %v", eventID, status.State, status.Errors)
			}
			return
		}
	}
	// None: the account was uninstalled already, so nothing was to be removed. The job
	// is enqueued in the event's transaction, so it exists once the event is processed.
}

func (a *App) lifecycle(t testing.TB, eventType, account string, livemode bool, want appbackend.InstallStatus) appbackend.Installation {
	t.Helper()
	id := a.Deliver(t, Event{Type: eventType, Account: account, Livemode: livemode})
	a.WaitForEvent(t, id)
	in, ok := a.Installation(t, account, livemode)
	if !ok || in.Status != want {
		t.Fatalf("appbackendtest: after %s, the installation of %s is %+v, want %s", eventType, account, in, want)
	}
	return in
}
