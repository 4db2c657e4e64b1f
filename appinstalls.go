package appbackend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/schedule"
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
	r, err := a.lifecycle.ReconcileAll(ctx, a.stripe, a.cfg.AppID)
	return InstallReconcileResult{Listed: r.Listed, Installed: installationsFromStore(r.Installed), Uninstalled: installationsFromStore(r.Uninstalled), Updated: installationsFromStore(r.Updated)}, err
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
	reconcile := func(ctx context.Context) error {
		_, err := a.ReconcileInstalls(ctx)
		return err
	}
	if err := runtime.AddWorker(a.rt, &install.ReconcileWorker{ReconcileFunc: reconcile}); err != nil {
		return fmt.Errorf("register install reconciliation worker: %w", err)
	}
	every := a.cfg.InstallReconcileInterval.Truncate(time.Second)
	return set.BuiltIn("@every "+every.String(), ReconcileInstallsSchedule, func(ctx context.Context, _ schedule.Run) error {
		return reconcile(ctx)
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
	_, err := a.rt.River().Insert(ctx, install.ReconcileArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}})
	if err != nil {
		return fmt.Errorf("enqueue the install reconciliation: %w", err)
	}
	return nil
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
	in, err := a.lifecycle.Reauthorize(ctx, a.stripe, a.cfg.AppID, accountID, livemode)
	return installationFromStore(in), err
}
