package install

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// SourceReconcile prefixes the ids of the changes a reconciliation of installs
// records: they come from Stripe's list of installs, not from an event. The prefix
// sorts before Stripe's "evt_", so that a real event of the same second counts as
// the newer one.
const SourceReconcile = "ab_reconcile_"

// DefaultReconcileGrace is how long after an installation's latest change a
// reconciliation leaves it alone.
const DefaultReconcileGrace = 10 * time.Minute

// ReconcileResult is what one reconciliation of installs did in one mode.
type ReconcileResult struct {
	Listed int // installs Stripe listed
	// Installed are the installations it installed (an install whose event never
	// arrived), Uninstalled those it uninstalled (an uninstall whose event never
	// arrived): each ran its hooks once. Updated had only their access refreshed.
	Installed, Uninstalled, Updated []store.Installation
}

// Reconcile converges the installations of one mode to Stripe's list of installs
// (GET /v1/apps/installs for the app, every page; list yields them): an account
// listed as installed that is not installed here becomes installed, and an
// installation Stripe no longer lists as installed becomes uninstalled, each through
// HandleEvent as the apps.install.created or .deleted event that never arrived
// would have, so the hooks (and an uninstall's data removal) run once, and an OAuth
// install's auth_code is exchanged. A listed install also refreshes the installation's
// install id and permissions.
//
// The listing is a snapshot: each change is recorded as of the time the listing
// began, so a real event after it wins, and an installation whose latest change is
// less than grace older than the listing (zero: DefaultReconcileGrace) is left to the
// events in flight. A failed listing changes nothing, and so does an empty one while
// accounts are installed here (a wrong app id, rather than every merchant leaving
// with every event lost: it is logged). Each change is its own transaction; the
// result lists those that committed.
func (l *Lifecycle) Reconcile(ctx context.Context, livemode bool, list iter.Seq2[*stripeclient.Install, error], grace time.Duration) (ReconcileResult, error) {
	var res ReconcileResult
	if grace <= 0 {
		grace = DefaultReconcileGrace
	}
	at := l.Now().UTC().Truncate(time.Second)
	listed := map[string]*stripeclient.Install{} // account → its installed install
	for in, err := range list {
		if err != nil {
			return res, fmt.Errorf("list app installs (%s): %w", modeName(livemode), err)
		}
		res.Listed++
		if in.Livemode != livemode || in.Account == "" || in.Status != stripeclient.InstallStatusInstalled {
			continue
		}
		listed[in.Account] = in
	}
	stored, err := l.st.ListInstallations(ctx, store.InstallationFilter{Livemode: &livemode})
	if err != nil {
		return res, err
	}
	settled := func(in store.Installation) bool { return !in.LastEventCreated.After(at.Add(-grace)) }
	warned := false

	for _, in := range stored {
		obj, ok := listed[in.AccountID]
		switch {
		case !settled(in):
		case ok && in.Status == store.Uninstalled:
			// Created below.
		case ok:
			o := fromStripe(obj)
			if o.sameAccess(in) {
				break
			}
			next, err := l.refresh(ctx, in.AccountID, livemode, o, at.Add(-grace))
			if err != nil {
				return res, err
			}
			if next != nil {
				res.Updated = append(res.Updated, *next)
			}
		case in.Status == store.Uninstalled:
		case res.Listed == 0:
			if !warned {
				warned = true
				l.Logger().WarnContext(ctx, "Stripe lists no app installs, yet accounts are installed here: not uninstalling them (is STRIPE_APP_ID the app's id?)",
					"livemode", livemode)
			}
		default:
			gone := &installObject{ID: in.InstallID, Account: in.AccountID, Status: stripeclient.InstallStatusUninstalled,
				PermissionsGranted: in.PermissionsGranted, PermissionsPending: in.PermissionsPending}
			done, err := l.record(ctx, EventInstallDeleted, in.AccountID, livemode, gone, at, grace)
			if err != nil {
				return res, err
			}
			if done != nil {
				res.Uninstalled = append(res.Uninstalled, *done)
			}
		}
	}
	known := map[string]bool{}
	for _, in := range stored {
		if in.Status != store.Uninstalled || !settled(in) {
			known[in.AccountID] = true
		}
	}
	for account, obj := range listed {
		if known[account] {
			continue
		}
		done, err := l.record(ctx, EventInstallCreated, account, livemode, fromStripe(obj), at, grace)
		if err != nil {
			return res, err
		}
		if done != nil {
			res.Installed = append(res.Installed, *done)
		}
	}
	if n := len(res.Installed) + len(res.Uninstalled); n > 0 {
		l.Logger().InfoContext(ctx, "reconciled installations with Stripe's list of installs", "livemode", livemode,
			"listed", res.Listed, "installed", len(res.Installed), "uninstalled", len(res.Uninstalled))
	}
	return res, nil
}

func fromStripe(in *stripeclient.Install) *installObject {
	return &installObject{ID: in.ID, Account: in.Account, App: in.App, Status: in.Status, AuthCode: in.AuthCode,
		ApprovalRequired: in.ApprovalRequired, PermissionsGranted: in.PermissionsGranted, PermissionsPending: in.PermissionsPending}
}

// record applies the apps.install event a reconciliation found missing, in its own
// transaction, unless the installation changed since the listing began (or less
// than grace before it). It returns the installation when the status changed.
func (l *Lifecycle) record(ctx context.Context, eventType, account string, livemode bool, obj *installObject, at time.Time, grace time.Duration) (*store.Installation, error) {
	raw, err := json.Marshal(map[string]any{"object": "event", "type": eventType, "account": account, "livemode": livemode,
		"data": map[string]any{"object": map[string]any{
			"id": obj.ID, "object": "apps.install", "account": account, "app": obj.App, "status": obj.Status,
			"auth_code": obj.AuthCode, "approval_required": obj.ApprovalRequired,
			"permissions_granted": nonNil(obj.PermissionsGranted), "permissions_pending": nonNil(obj.PermissionsPending),
		}}})
	if err != nil {
		return nil, err
	}
	// One id per change: an uninstall's data-removal job is named after it.
	id := fmt.Sprintf("%s%d_%s", SourceReconcile, at.Unix(), account)
	var done *store.Installation
	err = store.InTx(ctx, l.st.DB(), func(tx *sql.Tx) error {
		done = nil
		prev, err := l.st.LockInstallationTx(ctx, tx, account, livemode)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if exists && prev.LastEventCreated.After(at.Add(-grace)) {
			return nil // an event changed it meanwhile
		}
		ev := &store.Event{ID: id, Type: eventType, AccountID: account, Livemode: livemode, Created: at, Raw: raw}
		if err := l.HandleEvent(store.WithTx(ctx, tx), ev); err != nil {
			return err
		}
		next, err := l.st.InstallationTx(ctx, tx, account, livemode)
		if err != nil {
			return err
		}
		if !exists || next.Status != prev.Status {
			done = &next
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile the installation of %s (%s): %w", account, modeName(livemode), err)
	}
	return done, nil
}

// refresh writes a listed install's id and access into an installation without
// changing its state or the event that set it.
func (l *Lifecycle) refresh(ctx context.Context, account string, livemode bool, obj *installObject, settledBy time.Time) (*store.Installation, error) {
	var done *store.Installation
	err := store.InTx(ctx, l.st.DB(), func(tx *sql.Tx) error {
		done = nil
		in, err := l.st.LockInstallationTx(ctx, tx, account, livemode)
		if err != nil {
			return err
		}
		if in.LastEventCreated.After(settledBy) || in.Status == store.Uninstalled || obj.sameAccess(in) {
			return nil
		}
		obj.applyTo(&in)
		in.UpdatedAt = l.Now()
		if err := l.st.PutInstallationTx(ctx, tx, in); err != nil {
			return err
		}
		done = &in
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("refresh the installation of %s (%s): %w", account, modeName(livemode), err)
	}
	return done, nil
}

// UpdateAccessTx writes an Install object Stripe answered (a reauthorization's) into
// the installation of its account and mode in tx, as refresh does: the id and access
// only, whatever the state. ErrNotFound if the account never installed.
func (l *Lifecycle) UpdateAccessTx(ctx context.Context, tx *sql.Tx, livemode bool, obj *stripeclient.Install) (store.Installation, error) {
	in, err := l.st.LockInstallationTx(ctx, tx, obj.Account, livemode)
	if err != nil {
		return in, err
	}
	fromStripe(obj).applyTo(&in)
	in.UpdatedAt = l.Now()
	return in, l.st.PutInstallationTx(ctx, tx, in)
}

func modeName(livemode bool) string {
	if livemode {
		return "live"
	}
	return "test"
}

// ReconcileAll runs Reconcile over Stripe's list of the app's installs
// (GET /v1/apps/installs?app=appID, every page) in each mode whose key clients holds,
// and returns what it did in all of them; the modes' errors are joined.
func (l *Lifecycle) ReconcileAll(ctx context.Context, clients *stripeclient.Clients, appID string) (ReconcileResult, error) {
	var res ReconcileResult
	var errs []error
	for _, mode := range clients.Modes() {
		list := clients.ListInstalls(ctx, mode, stripeclient.InstallListParams{App: appID})
		r, err := l.Reconcile(ctx, mode.Livemode(), list, 0)
		res.Listed += r.Listed
		res.Installed = append(res.Installed, r.Installed...)
		res.Uninstalled = append(res.Uninstalled, r.Uninstalled...)
		res.Updated = append(res.Updated, r.Updated...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// ReconcileArgs is the River job that reconciles installations once, at start.
type ReconcileArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "appbackend.reconcile_installs" }

// ReconcileWorker works ReconcileArgs with ReconcileFunc (the App's ReconcileInstalls).
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	ReconcileFunc func(ctx context.Context) error
}

// Work implements river.Worker.
func (w *ReconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	return w.ReconcileFunc(ctx)
}
