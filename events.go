package appbackend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/hook"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/webhook"
	"github.com/appbackend/appbackend/stripeclient"
)

// EventHandler handles one event inside its processing transaction (see Tx). An error or
// a panic rolls the transaction back and the event is retried with backoff; after the
// last attempt (Config.EventMaxAttempts, 8 by default) it is dead until replayed
// (`appbackend events replay ID`).
//
// Unlike a job (AddWorker), which a Stripe 4xx cancels at once, an event handler is
// retried on every error, Stripe's refusals included: an event whose customer was
// deleted fails all its attempts. A handler decides which failures are permanent for
// it: return nil for those (after logging them), so that the event is processed, and
// the error for the others. IsNotFound and IsRetryable tell them apart:
//
//	cus, err := sc.V1Customers.Retrieve(ctx, id, nil)
//	if appbackend.IsNotFound(err) {
//		return nil // deleted since: nothing to sync, and retrying cannot help
//	}
//	if err != nil {
//		return err // retried with backoff
//	}
type EventHandler func(ctx context.Context, ev Event) error

// IsNotFound reports whether err, or an error it wraps, is Stripe's 404: the object
// (customer, invoice, …) does not exist, or not on this account or in this mode. It
// works on the errors of app.Stripe(ctx)'s calls and on a stripe-go *stripe.Error.
func IsNotFound(err error) bool { return stripeclient.IsNotFound(err) }

// IsRetryable reports whether a failed Stripe call may succeed later: Stripe's 5xx, a
// rate limit, a conflict, a network failure or a timeout. A 4xx refusal (invalid
// parameters, a missing object, a declined card) is not: repeating it cannot help,
// which is why a job cancels on it. An event handler may return nil for such errors to
// stop the event's retries.
func IsRetryable(err error) bool { return stripeclient.IsRetryable(err) }

// InstallHook runs inside the processing transaction of the event that installed or
// uninstalled the app for an account in one mode.
type InstallHook func(ctx context.Context, in Installation) error

// CleanupHook removes the app's data of an account in one mode after it uninstalled;
// it runs in the data-removal job's transaction.
type CleanupHook func(ctx context.Context, accountID string, livemode bool) error

// Tx returns the transaction of an event handler, an install or uninstall hook, a
// cleanup hook, a job (AddWorker) or a schedule run, and false elsewhere. Writes made
// through it commit together with the event being marked processed, or with the job's
// or run's completion, so they happen exactly once, and not at all if the handler
// fails. In jobs and schedule runs the transaction begins at the first call: on SQLite
// it holds the database's write lock from then until the job ends, so call Stripe and
// other APIs first and write last. See App.InTx for code that runs in both kinds of
// context.
func Tx(ctx context.Context) (*sql.Tx, bool) { return store.TxFrom(ctx) }

// cleanupTarget is what a cleanup hook is triggered with.
type cleanupTarget struct {
	accountID string
	livemode  bool
}

// OnEvent registers h for events whose type matches pattern: an exact type
// ("invoice.paid"), a prefix ("customer.*") or "*" for all. Handlers run in
// registration order after the built-in installation handler, once per event: a
// redelivered event is not processed twice unless replayed on purpose.
//
// Like http.ServeMux's Handle, it panics on a mistake, so that it fails the first test
// that reaches it: an empty pattern, one with a space or with "*" other than at its
// end (it could match nothing), a nil h, or a call after Run.
func (a *App) OnEvent(pattern string, h EventHandler) {
	a.mustRegister("OnEvent")
	if h == nil {
		panic(fmt.Sprintf("appbackend: OnEvent(%q): nil handler", pattern))
	}
	if err := events.CheckPattern(pattern); err != nil {
		panic("appbackend: OnEvent: " + err.Error())
	}
	a.handlers.On(pattern, func(ctx context.Context, ev store.Event) error {
		// Every handler runs bound to its event's account, so Stripe(ctx) works.
		ctx = stripeclient.Bind(ctx, ev.AccountID, ev.Livemode, 0)
		if a.tel == nil {
			return h(ctx, eventFromStore(ev))
		}
		return a.tel.HandleEvent(ctx, pattern, &ev, func(ctx context.Context) error { return h(ctx, eventFromStore(ev)) })
	})
}

// OnInstall registers h to run when an account installs (or reinstalls) the app in a
// mode, after appbackend's own install work and in registration order. It panics on a
// nil h or after Run (see OnEvent).
func (a *App) OnInstall(h InstallHook) {
	a.mustRegister("OnInstall")
	a.onInstall.Bind("OnInstall", hook.Default, bindInstallHook("OnInstall", h))
}

// OnUninstall registers h to run when an account uninstalls the app in a mode, in
// registration order. It panics on a nil h or after Run (see OnEvent).
func (a *App) OnUninstall(h InstallHook) {
	a.mustRegister("OnUninstall")
	a.onUninstall.Bind("OnUninstall", hook.Default, bindInstallHook("OnUninstall", h))
}

// OnCleanup registers h to delete an account's data after it uninstalled the app. It
// panics on a nil h or after Run (see OnEvent).
func (a *App) OnCleanup(h CleanupHook) {
	a.mustRegister("OnCleanup")
	if h == nil {
		panic("appbackend: OnCleanup: nil hook")
	}
	a.onCleanup.Bind("OnCleanup", hook.Default, func(ctx context.Context, c cleanupTarget) error {
		return h(stripeclient.Bind(ctx, c.accountID, c.livemode, 0), c.accountID, c.livemode)
	})
}

// bindInstallHook runs h bound to the installation's account, so that Stripe(ctx)
// works; a nil h panics.
func bindInstallHook(method string, h InstallHook) hook.Func[store.Installation] {
	if h == nil {
		panic("appbackend: " + method + ": nil hook")
	}
	return func(ctx context.Context, in store.Installation) error {
		return h(stripeclient.Bind(ctx, in.AccountID, in.Livemode, 0), installationFromStore(in))
	}
}

// mustRegister panics when a registration comes after Run, when the flows already
// read the registries.
func (a *App) mustRegister(what string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		panic("appbackend: " + what + " called after Run")
	}
}

// startEvents builds every flow on the runtime, which the registrations filled since
// New, in this order: event processing (the installation lifecycle is its built-in
// handler; the app's handlers are in a.handlers), the lifecycle's and the Stripe
// helpers' workers, schedules, the metrics' job middleware; then the one River
// client, the webhook receiver, and starts the runtime. Call stopEvents to drain them.
func (a *App) startEvents(ctx context.Context) error {
	a.lifecycle = install.New(a.db, install.Config{Archetype: a.archetype, EventRetention: a.cfg.EventRetention,
		ExchangeAuthCode: a.oauth.ExchangeInstallAuthCode})
	a.openInstallLinks()
	// appbackend's own work runs before the app's hooks (the name lookup is enqueued,
	// the OAuth tokens are forgotten), the scheduler's after them (setupSchedules).
	a.onInstall.Bind("account name lookup", hook.First, a.recordDisplayName)
	a.onUninstall.Bind("oauth tokens", hook.First, a.deleteOAuthTokens)
	a.lifecycle.OnInstall(a.onInstall.Trigger)
	a.lifecycle.OnUninstall(a.onUninstall.Trigger)
	a.lifecycle.OnCleanup(func(ctx context.Context, accountID string, livemode bool) error {
		return a.onCleanup.Trigger(ctx, cleanupTarget{accountID, livemode})
	})

	proc, err := events.New(a.rt, events.Config{
		Handlers: a.handlers,
		// Processed events go after the retention (River's finished jobs too: the
		// runtime's JobRetention).
		ProcessedRetention: a.cfg.ProcessedRetention,
		BuiltIn:            []events.BuiltIn{a.traceBuiltIn(a.lifecycle.HandleEvent)},
		BuiltInWrites:      install.IsLifecycleEvent,
		ObserveOutcome:     a.observeEventOutcome,
		Deliver:            a.eventDelivery(),
		FetchThin:          a.fetchThinEvent,
	})
	if err != nil {
		return err
	}
	a.processor = proc

	if err := a.lifecycle.AddWorkers(a.rt); err != nil {
		return fmt.Errorf("register installation workers: %w", err)
	}
	if err := runtime.AddWorker(a.rt, &accountNameWorker{app: a}); err != nil {
		return fmt.Errorf("register account name worker: %w", err)
	}
	if err := a.setupSchedules(ctx); err != nil {
		return err
	}
	a.rt.ConfigureRiver(a.metrics.ConfigureRiver)
	if a.tel != nil {
		a.rt.ConfigureRiver(a.tel.ConfigureRiver)
	}
	if err := a.rt.Build(); err != nil {
		return err
	}
	if err := a.startInstallReconcile(ctx); err != nil {
		return err
	}

	if len(a.cfg.WebhookSecrets) > 0 {
		v, err := appauth.NewVerifier(a.cfg.WebhookSecrets)
		if err != nil {
			return fmt.Errorf("%w: STRIPE_WEBHOOK_SECRETS: %v", ErrConfig, err)
		}
		a.receiver, err = webhook.NewReceiver(a.db, a.metrics.CountingVerifier(v), proc, webhook.Config{
			Archetype:     a.archetype,
			MaxBody:       a.cfg.MaxBody,
			ObserveCommit: a.metrics.WebhookCommit,
			ObserveEvent:  a.metrics.ObserveWebhookEvent,
			Tracing:       a.tel,
		})
		if err != nil {
			return err
		}
	}
	return a.rt.Start(ctx)
}

// traceBuiltIn gives the installation lifecycle's handling of its events a span
// when traces are on (the other events it only reads for).
func (a *App) traceBuiltIn(b events.BuiltIn) events.BuiltIn {
	if a.tel == nil {
		return b
	}
	return func(ctx context.Context, ev *store.Event) error {
		if !install.IsLifecycleEvent(ev.Type) {
			return b(ctx, ev)
		}
		return a.tel.HandleEvent(ctx, "installation", ev, func(ctx context.Context) error { return b(ctx, ev) })
	}
}

// recordDisplayName enqueues, in the install's transaction, the job that looks up the
// account's display name.
func (a *App) recordDisplayName(ctx context.Context, in store.Installation) error {
	if !a.stripe.Has(stripeclient.ModeOf(in.Livemode)) {
		return nil
	}
	tx, ok := store.TxFrom(ctx)
	if !ok {
		return errors.New("install hook without a transaction")
	}
	_, err := a.rt.River().InsertTx(ctx, tx, accountNameArgs{AccountID: in.AccountID, Livemode: in.Livemode}, nil)
	return err
}

// stopEvents drains the receiver's queue (every acknowledged event is committed), then
// lets running jobs finish until ctx ends; cancelled jobs are retried after a restart.
func (a *App) stopEvents(ctx context.Context) error {
	var errs []error
	if a.receiver != nil {
		errs = append(errs, a.receiver.Close(ctx))
	}
	errs = append(errs, a.rt.Stop(ctx))
	// After the processor, whose last jobs may have killed events: their alert goes out.
	errs = append(errs, a.alerts.Close(ctx))
	return errors.Join(errs...)
}

// handleWebhook is POST /webhooks/stripe.
func (a *App) handleWebhook(w http.ResponseWriter, r *http.Request) {
	if a.receiver == nil {
		// Without a secret nothing can be verified; 503 makes Stripe retry the event
		// until the operator sets STRIPE_WEBHOOK_SECRETS, instead of losing it.
		a.writeError(w, r, &apierror.Error{Code: apierror.CodeUnavailable, Message: "webhooks are not configured: set STRIPE_WEBHOOK_SECRETS"})
		return
	}
	a.receiver.ServeHTTP(w, r)
}

// handleInstallation is the signed GET /api/installation: the caller's account in both
// modes.
func (a *App) handleInstallation(w http.ResponseWriter, r *http.Request) {
	id, _ := appauth.FromContext(r.Context())
	state, err := install.StateOf(r.Context(), a.db, id.AccountID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, state)
}

// Replay re-runs an event's processing on purpose, whatever its status.
func (a *App) Replay(ctx context.Context, eventID string) error {
	if a.processor == nil {
		return errors.New("appbackend: Replay before Run")
	}
	return a.processor.Replay(ctx, eventID)
}
