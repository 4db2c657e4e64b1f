package appbackend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// ReconcileInstallsSchedule is the built-in schedule that reconciles installations
// with Stripe's list of installs every Config.InstallReconcileInterval.
const ReconcileInstallsSchedule = "appbackend.reconcile_installs"

// InstallReconcileResult is what App.ReconcileInstalls did, over every mode with a key.
type InstallReconcileResult struct {
	// Listed counts the installs Stripe listed.
	Listed int
	// Installed are the installations it installed (Stripe lists an install whose
	// event never arrived), Uninstalled those it uninstalled (Stripe no longer lists
	// them, and their uninstall event never arrived): each ran its OnInstall or
	// OnUninstall hooks (and, for an uninstall, the OnCleanup hooks after) once.
	// Updated only had their install id or permissions refreshed.
	Installed, Uninstalled, Updated []Installation
}

// ReconcileInstalls converges the installations to Stripe's truth now: it lists the
// app's installs (GET /v1/apps/installs?app=STRIPE_APP_ID, API version
// 2026-09-30.endive, every page) in each mode whose key is configured, installs the
// accounts listed as installed that are not installed here, uninstalls those no
// longer listed, and refreshes the others' pending and granted permissions. The
// server does it at start and every Config.InstallReconcileInterval; call it after
// restoring a backup, or from a test. A change an event made in the last ten minutes
// is left to the events in flight. It needs Config.AppID and the server running.
func (a *App) ReconcileInstalls(ctx context.Context) (InstallReconcileResult, error) {
	var res InstallReconcileResult
	if a.lifecycle == nil || a.stripe == nil {
		return res, errors.New("appbackend: ReconcileInstalls before Run")
	}
	if a.cfg.AppID == "" {
		return res, apierror.New(apierror.CodeUnavailable, "reconciling installs needs the app's id: set STRIPE_APP_ID")
	}
	var errs []error
	for _, mode := range a.stripe.Modes() {
		list := a.stripe.ListInstalls(ctx, mode, stripeclient.InstallListParams{App: a.cfg.AppID})
		r, err := a.lifecycle.Reconcile(ctx, mode.Livemode(), list, 0)
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

// reconcileInstallsArgs is the River job that reconciles installations once, at start.
type reconcileInstallsArgs struct{}

// Kind implements river.JobArgs.
func (reconcileInstallsArgs) Kind() string { return "appbackend.reconcile_installs" }

type reconcileInstallsWorker struct {
	river.WorkerDefaults[reconcileInstallsArgs]
	app *App
}

func (w *reconcileInstallsWorker) Work(ctx context.Context, _ *river.Job[reconcileInstallsArgs]) error {
	_, err := w.app.ReconcileInstalls(ctx)
	return err
}

// installReconcileOn reports whether the reconciliation of installs can run: a key
// to list with and the app's id to filter by.
func (a *App) installReconcileOn() bool {
	return a.stripe != nil && len(a.stripe.Modes()) > 0 && a.cfg.AppID != ""
}

// registerInstallReconcile adds the reconciliation's schedule and start-up worker,
// before the River client is built.
func (a *App) registerInstallReconcile(set *schedule.Set) error {
	if !a.installReconcileOn() {
		return nil
	}
	if err := runtime.AddWorker(a.rt, &reconcileInstallsWorker{app: a}); err != nil {
		return fmt.Errorf("register install reconciliation worker: %w", err)
	}
	every := a.cfg.InstallReconcileInterval.Truncate(time.Second)
	return set.BuiltIn("@every "+every.String(), ReconcileInstallsSchedule, func(ctx context.Context, _ schedule.Run) error {
		_, err := a.ReconcileInstalls(ctx)
		return err
	})
}

// startInstallReconcile enqueues the start-up reconciliation, once the River client is
// built. Replicas starting in the same minute enqueue it once.
func (a *App) startInstallReconcile(ctx context.Context) error {
	a.lifecycle.SetRiverClient(a.rt.River())
	if !a.installReconcileOn() {
		if a.cfg.AppID == "" && a.stripe != nil && len(a.stripe.Modes()) > 0 {
			a.logger.InfoContext(ctx, "installations are not reconciled with Stripe's list of installs: set STRIPE_APP_ID")
		}
		return nil
	}
	_, err := a.rt.River().Insert(ctx, reconcileInstallsArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}})
	if err != nil {
		return fmt.Errorf("enqueue the install reconciliation: %w", err)
	}
	return nil
}

// exchangeInstallAuthCode trades an OAuth app's install auth_code (from an
// apps.install event or a listed install) for tokens and stores them in tx, with the
// exchange GET /install/callback uses. A code Stripe refuses cannot succeed later,
// so it is logged rather than retried; a failed call is retried with the event.
func (a *App) exchangeInstallAuthCode(ctx context.Context, tx *sql.Tx, in store.Installation, code string) error {
	if a.oauth == nil || a.oauth.Keys().Empty() {
		a.logger.WarnContext(ctx, "an install carries an OAuth auth_code, but APPBACKEND_ENCRYPTION_KEY is not set to store its tokens",
			"account_id", in.AccountID, "livemode", in.Livemode)
		return nil
	}
	tok, err := a.oauth.Endpoint().Exchange(ctx, in.Livemode, code)
	switch {
	case errors.Is(err, oauth.ErrInvalidGrant):
		a.logger.WarnContext(ctx, "Stripe refused an install's auth_code (already used or expired); the merchant must reauthorize if the app has no tokens",
			"account_id", in.AccountID, "livemode", in.Livemode)
		return nil
	case err != nil:
		return err
	case (tok.StripeUserID != "" && tok.StripeUserID != in.AccountID) || tok.Livemode != in.Livemode:
		a.logger.WarnContext(ctx, "an install's auth_code is for another account or mode; its tokens are not stored",
			"account_id", in.AccountID, "livemode", in.Livemode, "stripe_user_id", tok.StripeUserID)
		return nil
	}
	return a.oauth.SaveTx(ctx, tx, in.AccountID, in.Livemode, "", tok)
}

// ReauthorizeInstall asks Stripe to reauthorize the app's install on an account in a
// mode (POST /v1/apps/installs/{id} with Stripe-Account): for an installation with
// pending permissions (Installation.PermissionsPending), or one Stripe asks to be
// reauthorized. The id is the one the installation recorded from Stripe's Install
// object, else the one Stripe lists for the account. An app developer cannot grant
// new access this way: Stripe grants what the merchant approved, and the merchant
// approves the rest in the Dashboard (an apps.install.updated event follows). It
// returns the installation with the access Stripe answered. It needs the server
// running and the mode's key.
func (a *App) ReauthorizeInstall(ctx context.Context, accountID string, livemode bool) (Installation, error) {
	if a.lifecycle == nil || a.stripe == nil {
		return Installation{}, errors.New("appbackend: ReauthorizeInstall before Run")
	}
	return a.lifecycle.Reauthorize(ctx, a.stripe, a.cfg.AppID, accountID, livemode)
}
