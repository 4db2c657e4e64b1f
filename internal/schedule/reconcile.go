package schedule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// Names of the built-in reconciliation schedules.
const (
	ReconcilePlatform = "appbackend.reconcile"
	ReconcileAccount  = "appbackend.reconcile_account"
)

// Defaults of [ReconcileConfig].
const (
	DefaultReconcilePlatformSpec = "@every 5m"
	DefaultReconcileAccountSpec  = "@hourly"
	DefaultReconcileLookback     = 24 * time.Hour
	DefaultReconcileOverlap      = 10 * time.Minute
)

// reconcileBatch is how many events one inbox transaction inserts.
const reconcileBatch = 100

// ReconcileConfig configures a [Reconciler].
type ReconcileConfig struct {
	// Archetype is the App's logger and clock; nil discards the logs and uses the real
	// clock.
	Archetype *baseservice.Archetype
	// Clients lists events with the platform's keys; required.
	Clients *stripeclient.Clients
	// AppendFunc stores events in the inbox and enqueues their processing in tx, as the
	// webhook receiver does (events.Processor.AppendTx), reporting which were new;
	// required.
	AppendFunc func(ctx context.Context, tx *sql.Tx, evs []*store.Event) (inserted []bool, err error)
	// WantFunc tells the event types to bring into the inbox (those the app handles);
	// nil takes every type.
	WantFunc func(eventType string) bool
	// PlatformSpec and AccountSpec are the specs of the platform's and the per-account
	// reconciliation (defaults DefaultReconcilePlatformSpec, DefaultReconcileAccountSpec).
	PlatformSpec string
	AccountSpec  string
	// Lookback is how far back the first reconciliation lists (default
	// DefaultReconcileLookback); an account's starts no earlier than its install.
	Lookback time.Duration
	// Overlap is how far before the cursor each later one starts again (default
	// DefaultReconcileOverlap), for events that Stripe lists a little after their
	// creation time. Events listed twice are inserted once.
	Overlap time.Duration
}

// Reconciler brings into the inbox the events Stripe never delivered (or that the
// server lost before acknowledging): it lists GET /v1/events from a stored cursor —
// per mode for the platform, and per installed account and mode with Stripe-Account,
// since the platform's list does not include its connected accounts' events — and
// inserts the missing ones exactly as the webhook receiver does (the event and its
// processing job in one transaction). An event already in the inbox is left as it is,
// so a reconciliation run twice changes nothing.
type Reconciler struct {
	baseservice.Base

	st  store.Store
	cfg ReconcileConfig
}

// NewReconciler returns a Reconciler over st.
func NewReconciler(st store.Store, cfg ReconcileConfig) (*Reconciler, error) {
	if cfg.Clients == nil || cfg.AppendFunc == nil {
		return nil, errors.New("schedule: a Reconciler needs Stripe clients and an AppendFunc")
	}
	if cfg.PlatformSpec == "" {
		cfg.PlatformSpec = DefaultReconcilePlatformSpec
	}
	if cfg.AccountSpec == "" {
		cfg.AccountSpec = DefaultReconcileAccountSpec
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = DefaultReconcileLookback
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = DefaultReconcileOverlap
	}
	r := &Reconciler{st: st, cfg: cfg}
	r.Init(cfg.Archetype)
	return r, nil
}

// Register adds the built-in reconciliation schedules to set: ReconcilePlatform (every
// mode with a key) and ReconcileAccount (per installed account and mode).
func (r *Reconciler) Register(set *Set) error {
	err := set.add(r.cfg.PlatformSpec, ReconcilePlatform, false, func(ctx context.Context, run Run) error {
		var errs []error
		for _, mode := range r.cfg.Clients.Modes() {
			if _, err := r.Platform(ctx, mode); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}, true)
	if err != nil {
		return err
	}
	return set.add(r.cfg.AccountSpec, ReconcileAccount, true, func(ctx context.Context, run Run) error {
		mode := stripeclient.ModeOf(run.Livemode)
		if !r.cfg.Clients.Has(mode) {
			return nil // no key for the mode: nothing can be listed
		}
		_, err := r.Account(ctx, run.AccountID, mode)
		return err
	}, true)
}

// ReconcileResult is what one reconciliation did.
type ReconcileResult struct {
	Listed   int // events Stripe listed
	Inserted int // events that were missing from the inbox
}

// Platform reconciles the platform's own events of one mode.
func (r *Reconciler) Platform(ctx context.Context, mode stripeclient.Mode) (ReconcileResult, error) {
	sc, err := r.cfg.Clients.Platform(mode)
	if err != nil {
		return ReconcileResult{}, err
	}
	first := r.Now().Add(-r.cfg.Lookback)
	return r.reconcile(ctx, sc, "", mode, first)
}

// Account reconciles the events of one connected account in one mode, listed with
// Stripe-Account; the first time from its install (or the lookback, if later).
func (r *Reconciler) Account(ctx context.Context, accountID string, mode stripeclient.Mode) (ReconcileResult, error) {
	sc, err := r.cfg.Clients.Client(accountID, mode)
	if err != nil {
		return ReconcileResult{}, err
	}
	first := r.Now().Add(-r.cfg.Lookback)
	in, err := r.st.Installation(ctx, accountID, mode.Livemode())
	switch {
	case err == nil && in.InstalledAt.After(first):
		first = in.InstalledAt
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return ReconcileResult{}, err
	}
	return r.reconcile(ctx, sc.Client, accountID, mode, first)
}

func cursorKey(accountID string, mode stripeclient.Mode) string {
	if accountID == "" {
		return "reconcile.cursor." + string(mode)
	}
	return "reconcile.cursor." + string(mode) + "." + accountID
}

// reconcile lists the events created since the cursor (less the overlap), or since
// first without one, inserts the missing ones, and moves the cursor to the newest
// event listed. The cursor moves only after the events are stored, so a failure
// lists them again next time.
func (r *Reconciler) reconcile(ctx context.Context, sc *stripe.Client, accountID string, mode stripeclient.Mode, first time.Time) (ReconcileResult, error) {
	var res ReconcileResult
	key := cursorKey(accountID, mode)
	since := first.Unix()
	cursor := int64(0)
	if v, ok, err := r.st.Setting(ctx, key); err != nil {
		return res, err
	} else if ok {
		if cursor, err = strconv.ParseInt(v, 10, 64); err != nil {
			return res, fmt.Errorf("reconcile: setting %s = %q is not a Unix time", key, v)
		}
		since = cursor - int64(r.cfg.Overlap/time.Second)
	}

	params := &stripe.EventListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since}}
	params.Limit = stripe.Int64(100)
	now := r.Now()
	newest := cursor
	batch := make([]store.Event, 0, reconcileBatch)
	for ev, err := range sc.V1Events.List(ctx, params).All(ctx) {
		if err != nil {
			return res, fmt.Errorf("reconcile %s: list events: %w", describe(accountID, mode), err)
		}
		res.Listed++
		newest = max(newest, ev.Created)
		if r.cfg.WantFunc != nil && !r.cfg.WantFunc(string(ev.Type)) {
			continue
		}
		batch = append(batch, inboxEvent(ev, accountID, now))
		if len(batch) == reconcileBatch {
			n, err := r.insert(ctx, batch)
			res.Inserted += n
			if err != nil {
				return res, err
			}
			batch = batch[:0]
		}
	}
	n, err := r.insert(ctx, batch)
	res.Inserted += n
	if err != nil {
		return res, err
	}
	if newest > cursor {
		if err := r.st.PutSetting(ctx, key, strconv.FormatInt(newest, 10)); err != nil {
			return res, err
		}
	}
	if res.Inserted > 0 {
		r.Logger().InfoContext(ctx, "reconciled events Stripe had not delivered", "account_id", accountID,
			"mode", mode, "listed", res.Listed, "inserted", res.Inserted)
	}
	return res, nil
}

func describe(accountID string, mode stripeclient.Mode) string {
	if accountID == "" {
		return "platform (" + string(mode) + ")"
	}
	return accountID + " (" + string(mode) + ")"
}

// inboxEvent is the inbox's copy of a listed event: its JSON as Stripe serialised it
// (the same bytes a webhook carries), and its envelope.
func inboxEvent(ev *stripe.Event, listedFor string, now time.Time) store.Event {
	var raw []byte
	if ev.LastResponse != nil {
		raw = ev.LastResponse.RawJSON
	}
	account := ev.Account
	if account == "" {
		// Listed with Stripe-Account: the account's event, whether or not the object
		// says so.
		account = listedFor
	}
	return store.Event{
		ID: ev.ID, Type: string(ev.Type), AccountID: account, Livemode: ev.Livemode,
		Created: time.Unix(ev.Created, 0).UTC(), APIVersion: ev.APIVersion, Raw: raw, ReceivedAt: now,
	}
}

// insert stores the events that are not in the inbox yet and enqueues their
// processing, in one transaction, and returns how many it inserted.
func (r *Reconciler) insert(ctx context.Context, evs []store.Event) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	ptrs := make([]*store.Event, len(evs))
	for i := range evs {
		if len(evs[i].Raw) == 0 {
			return 0, fmt.Errorf("reconcile: store events: event %s: Stripe's listing did not carry its JSON", evs[i].ID)
		}
		ptrs[i] = &evs[i]
	}
	n := 0
	err := store.InTx(ctx, r.st.DB(), func(tx *sql.Tx) error {
		inserted, err := r.cfg.AppendFunc(ctx, tx, ptrs)
		n = 0
		for _, ok := range inserted {
			if ok {
				n++
			}
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reconcile: store events: %w", err)
	}
	return n, nil
}
