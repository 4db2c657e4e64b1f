// Package install keeps the app's installation state per merchant account and mode
// (live, test) from Stripe's lifecycle events, and runs the app's hooks when an account
// installs or uninstalls it.
//
// The events are account.application.authorized / deauthorized and
// apps.install.created / updated / deleted. Stripe delivers them at least once and in
// any order, so each installation remembers the event that set it (created time, then
// event id) and ignores older ones: an uninstall that arrives before its install ends
// uninstalled. Test-mode events reach both endpoints of an app installed in both modes;
// the inbox stores them once and the mode comes from the event's livemode.
//
// [Lifecycle.HandleEvent] is a built-in handler of package events: it runs inside the
// event's processing transaction, and so do the OnInstall and OnUninstall hooks. An
// uninstall also enqueues, in that transaction, a data-removal job that runs the
// OnCleanup hooks (unless the account reinstalled meanwhile) and, when EventRetention
// is set, later deletes the account's events of that mode.
package install

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
)

// Lifecycle event types.
const (
	EventAuthorized     = "account.application.authorized"
	EventDeauthorized   = "account.application.deauthorized"
	EventInstallCreated = "apps.install.created"
	EventInstallUpdated = "apps.install.updated"
	EventInstallDeleted = "apps.install.deleted"
)

// IsLifecycleEvent reports whether events of this type change an installation.
func IsLifecycleEvent(eventType string) bool {
	switch eventType {
	case EventAuthorized, EventDeauthorized, EventInstallCreated, EventInstallUpdated, EventInstallDeleted:
		return true
	}
	return false
}

// Hook is called when an account installs or uninstalls the app, with the new state.
// ctx carries the event's processing transaction ([store.TxFrom]); an error rolls it
// back and the event is retried.
type Hook func(ctx context.Context, in store.Installation) error

// CleanupHook removes the app's data of an account in one mode after it uninstalled.
// ctx carries the data-removal job's transaction; an error retries the job.
type CleanupHook func(ctx context.Context, accountID string, livemode bool) error

// Config configures a [Lifecycle].
type Config struct {
	// Archetype is the App's logger and clock; nil discards the logs and uses the real
	// clock.
	Archetype *baseservice.Archetype
	// EventRetention is how long an uninstalled account's events of that mode are kept
	// after the uninstall. Zero keeps them forever.
	EventRetention time.Duration
	// ExchangeAuthCode trades the auth_code of an OAuth app's install (an apps.install
	// event's, or a listed install the reconciliation records) for tokens and stores
	// them in tx, as GET /install/callback does with its code. nil ignores auth codes.
	ExchangeAuthCode func(ctx context.Context, tx *sql.Tx, in store.Installation, code string) error
}

// Lifecycle applies lifecycle events to the installations in a store.
type Lifecycle struct {
	baseservice.Base

	st  store.Store
	cfg Config

	mu          sync.RWMutex
	river       *river.Client[*sql.Tx]
	onInstall   []Hook
	onUninstall []Hook
	onCleanup   []CleanupHook
}

// New returns a Lifecycle over st. Register its workers with [Lifecycle.AddWorkers] on
// the River client that processes events, and its [Lifecycle.HandleEvent] as a
// built-in handler.
func New(st store.Store, cfg Config) *Lifecycle {
	l := &Lifecycle{st: st, cfg: cfg}
	l.Init(cfg.Archetype)
	return l
}

// OnInstall registers h to run when an account installs (or reinstalls) the app in a mode.
func (l *Lifecycle) OnInstall(h Hook) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onInstall = append(l.onInstall, h)
}

// OnUninstall registers h to run when an account uninstalls the app in a mode.
func (l *Lifecycle) OnUninstall(h Hook) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onUninstall = append(l.onUninstall, h)
}

// OnCleanup registers h to remove an uninstalled account's data, in the data-removal
// job that follows the uninstall.
func (l *Lifecycle) OnCleanup(h CleanupHook) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onCleanup = append(l.onCleanup, h)
}

func (l *Lifecycle) hooks() (install, uninstall []Hook, cleanup []CleanupHook) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.onInstall, l.onUninstall, l.onCleanup
}

// AddWorkers registers the data-removal and event-purge workers on rt.
func (l *Lifecycle) AddWorkers(rt *runtime.Runtime) error {
	if err := runtime.AddWorker(rt, &removalWorker{l: l}); err != nil {
		return err
	}
	return runtime.AddWorker(rt, &purgeWorker{l: l})
}

// change is what a lifecycle event says about an installation.
type change struct {
	accountID     string
	status        store.InstallStatus
	applicationID string
	// install is the apps.install object of an apps.install.* event.
	install *installObject
}

// changeOf reads a lifecycle event. ok is false when the event changes nothing (an
// apps.install.updated whose status is neither installed nor uninstalled).
func changeOf(ev *store.Event) (c change, ok bool, err error) {
	c.accountID = ev.AccountID
	switch ev.Type {
	case EventAuthorized, EventDeauthorized:
		var app struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}
		// The application object is informative only: a thin or unusual payload still
		// installs or uninstalls.
		_ = ev.DataObject(&app)
		c.applicationID = app.ID
		c.status = store.Installed
		if ev.Type == EventDeauthorized {
			c.status = store.Uninstalled
		}
		return c, true, nil
	case EventInstallCreated, EventInstallUpdated, EventInstallDeleted:
		var obj installObject
		_ = ev.DataObject(&obj)
		if obj.Account != "" {
			c.accountID = obj.Account
		}
		c.applicationID = obj.App
		c.install = &obj
		switch {
		// "uninstalling" is the merchant's uninstall under way: apps.install.deleted
		// follows, and finds it done.
		case ev.Type == EventInstallDeleted || obj.Status == "uninstalled" || obj.Status == "uninstalling":
			c.status = store.Uninstalled
		case ev.Type == EventInstallCreated || obj.Status == "installed":
			c.status = store.Installed
		default:
			return c, false, nil
		}
		return c, true, nil
	}
	return c, false, fmt.Errorf("%s is not a lifecycle event", ev.Type)
}

// newer reports whether the event (created, id) comes after the installation's last one.
func newer(ev *store.Event, in store.Installation) bool {
	if !ev.Created.Equal(in.LastEventCreated) {
		return ev.Created.After(in.LastEventCreated)
	}
	return ev.ID > in.LastEventID
}

// StatusAfter tells the installation status of the event's account in the event's
// mode once the event is processed: the status a lifecycle event sets when it is newer
// than the stored state, else the stored status; ok is false for an account never
// installed. It reads outside the processing transaction (the gateway delivers an
// event before processing it), so a lifecycle event of the same account processed
// concurrently may still change the answer.
func (l *Lifecycle) StatusAfter(ctx context.Context, ev *store.Event) (status store.InstallStatus, ok bool, err error) {
	account := ev.AccountID
	var (
		c        change
		isChange bool
	)
	if IsLifecycleEvent(ev.Type) {
		if c, isChange, err = changeOf(ev); err != nil {
			return "", false, err
		}
		account = c.accountID
	}
	if account == "" {
		return "", false, nil
	}
	in, exists, err := l.installationOutsideTx(ctx, account, ev.Livemode)
	if err != nil {
		return "", false, err
	}
	if isChange && (!exists || newer(ev, in)) {
		return c.status, true, nil
	}
	if !exists {
		return "", false, nil
	}
	return in.Status, true, nil
}

// installationOutsideTx reads an account's installation in a mode, once per read memo
// that ctx carries (store.WithReadMemo).
func (l *Lifecycle) installationOutsideTx(ctx context.Context, account string, livemode bool) (in store.Installation, exists bool, err error) {
	type found struct {
		in     store.Installation
		exists bool
	}
	memo, key := store.ReadMemo(ctx), notInstalledKey{account, livemode}
	if memo != nil {
		if f, ok := memo.Load(key); ok {
			return f.(found).in, f.(found).exists, nil
		}
	}
	in, err = l.st.Installation(ctx, account, livemode)
	exists = err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Installation{}, false, err
	}
	if memo != nil {
		memo.Store(key, found{in, exists})
	}
	return in, exists, nil
}

// notInstalledKey memoizes, in a processing transaction, whether an account is not
// installed in a mode (store.TxMemo).
type notInstalledKey struct {
	accountID string
	livemode  bool
}

// HandleEvent is the built-in event handler (an events.BuiltIn). For a lifecycle event
// it updates the installation of (account, livemode) unless a newer event already did,
// and runs the hooks on a change of status; for any other event of a connected
// account it sets ev.NotInstalled when the account has not installed the app in the
// event's mode (read once per transaction that carries a store.TxMemo). ctx must
// carry the processing transaction.
func (l *Lifecycle) HandleEvent(ctx context.Context, ev *store.Event) error {
	tx, ok := store.TxFrom(ctx)
	if !ok {
		return errors.New("install: HandleEvent needs the processing transaction in its context")
	}
	if !IsLifecycleEvent(ev.Type) {
		if ev.AccountID == "" {
			return nil // the platform's own event
		}
		memo, key := store.TxMemo(ctx), notInstalledKey{ev.AccountID, ev.Livemode}
		if notInstalled, ok := memo[key].(bool); ok {
			ev.NotInstalled = notInstalled
			return nil
		}
		in, err := l.st.InstallationTx(ctx, tx, ev.AccountID, ev.Livemode)
		switch {
		case errors.Is(err, store.ErrNotFound):
			ev.NotInstalled = true
		case err != nil:
			return err
		default:
			ev.NotInstalled = in.Status != store.Installed
		}
		if memo != nil {
			memo[key] = ev.NotInstalled
		}
		return nil
	}
	// This event may change what the memo holds (and its savepoint may be rolled back).
	for k := range store.TxMemo(ctx) {
		if _, ok := k.(notInstalledKey); ok {
			delete(store.TxMemo(ctx), k)
		}
	}

	c, ok, err := changeOf(ev)
	if err != nil || !ok {
		return err
	}
	if c.accountID == "" {
		l.Logger().WarnContext(ctx, "lifecycle event without an account; ignored", "event_id", ev.ID, "type", ev.Type)
		return nil
	}
	// Locked even before the account's first row exists: concurrent lifecycle events
	// of one account and mode take turns here, so each compares with what the one
	// before it committed, and hooks run once per real change of status.
	prev, err := l.st.LockInstallationTx(ctx, tx, c.accountID, ev.Livemode)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if exists && !newer(ev, prev) {
		l.Logger().InfoContext(ctx, "lifecycle event older than the installation's state; ignored",
			"event_id", ev.ID, "type", ev.Type, "account_id", c.accountID, "last_event_id", prev.LastEventID)
		return nil
	}

	next := prev
	next.AccountID, next.Livemode, next.Status = c.accountID, ev.Livemode, c.status
	if c.applicationID != "" {
		next.ApplicationID = c.applicationID
	}
	next.LastEventCreated, next.LastEventID = ev.Created, ev.ID
	next.UpdatedAt = l.Now()
	if c.install != nil {
		c.install.applyTo(&next)
	}
	changed := !exists || prev.Status != c.status
	if changed {
		switch c.status {
		case store.Installed:
			next.InstalledAt, next.UninstalledAt = ev.Created, time.Time{}
		case store.Uninstalled:
			next.UninstalledAt = ev.Created
		}
	}
	if err := l.st.PutInstallationTx(ctx, tx, next); err != nil {
		return err
	}
	// An OAuth app's install carries its authorization code: traded for tokens on a
	// new install (or a return from uninstalled or reauthorization_required), before
	// the hooks, which may call Stripe with them.
	if c.install != nil && c.install.AuthCode != "" && c.status == store.Installed &&
		(!exists || prev.Status != store.Installed) && l.cfg.ExchangeAuthCode != nil {
		if err := l.cfg.ExchangeAuthCode(ctx, tx, next, c.install.AuthCode); err != nil {
			return fmt.Errorf("exchange the auth_code of %s: %w", next.AccountID, err)
		}
	}
	if !changed {
		return nil
	}

	onInstall, onUninstall, _ := l.hooks()
	hooks := onInstall
	if c.status == store.Uninstalled {
		hooks = onUninstall
		if err := l.enqueueRemoval(ctx, tx, next); err != nil {
			return err
		}
	}
	l.Logger().InfoContext(ctx, "installation changed", "account_id", next.AccountID,
		"livemode", next.Livemode, "status", next.Status, "event_id", ev.ID)
	for _, h := range hooks {
		if err := h(ctx, next); err != nil {
			return fmt.Errorf("%s hook for %s: %w", c.status, next.AccountID, err)
		}
	}
	return nil
}

// RemoveAccountDataArgs is the River job that runs the cleanup hooks of an account
// that uninstalled the app in one mode.
type RemoveAccountDataArgs struct {
	AccountID string `json:"account_id"`
	Livemode  bool   `json:"livemode"`
	// EventID is the uninstall event, so that a later uninstall gets its own job.
	EventID string `json:"event_id"`
}

// Kind implements river.JobArgs.
func (RemoveAccountDataArgs) Kind() string { return "appbackend.remove_account_data" }

// RerunAfterCrash implements runtime.Rerunnable: the removal commits with the job's
// completion, so a rerun after a crash redoes only what did not commit.
func (RemoveAccountDataArgs) RerunAfterCrash() bool { return true }

// PurgeAccountEventsArgs is the River job that deletes an uninstalled account's events
// of one mode once EventRetention has passed.
type PurgeAccountEventsArgs struct {
	AccountID string `json:"account_id"`
	Livemode  bool   `json:"livemode"`
	EventID   string `json:"event_id"`
}

// Kind implements river.JobArgs.
func (PurgeAccountEventsArgs) Kind() string { return "appbackend.purge_account_events" }

// RerunAfterCrash implements runtime.Rerunnable: deleting events twice deletes nothing
// more.
func (PurgeAccountEventsArgs) RerunAfterCrash() bool { return true }

func (l *Lifecycle) enqueueRemoval(ctx context.Context, tx *sql.Tx, in store.Installation) error {
	client, err := river.ClientFromContextSafely[*sql.Tx](ctx)
	if err != nil && l.client() != nil {
		client, err = l.client(), nil // outside a job: a reconciliation called directly
	}
	if err != nil {
		return fmt.Errorf("enqueue data removal for %s: %w", in.AccountID, err)
	}
	if _, err := client.InsertTx(ctx, tx, RemoveAccountDataArgs{AccountID: in.AccountID, Livemode: in.Livemode, EventID: in.LastEventID}, nil); err != nil {
		return fmt.Errorf("enqueue data removal for %s: %w", in.AccountID, err)
	}
	if l.cfg.EventRetention > 0 {
		args := PurgeAccountEventsArgs{AccountID: in.AccountID, Livemode: in.Livemode, EventID: in.LastEventID}
		at := l.Now().Add(l.cfg.EventRetention)
		if _, err := client.InsertTx(ctx, tx, args, &river.InsertOpts{ScheduledAt: at}); err != nil {
			return fmt.Errorf("enqueue event purge for %s: %w", in.AccountID, err)
		}
	}
	return nil
}

// stillUninstalled loads the installation in tx and reports whether the uninstall that
// enqueued a job still stands (no reinstall since).
func (l *Lifecycle) stillUninstalled(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) (bool, error) {
	// Locked, so that a reinstall waits for the cleanup instead of racing it.
	in, err := l.st.LockInstallationTx(ctx, tx, accountID, livemode)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return in.Status == store.Uninstalled, nil
}

type removalWorker struct {
	river.WorkerDefaults[RemoveAccountDataArgs]
	l *Lifecycle
}

func (w *removalWorker) Work(ctx context.Context, job *river.Job[RemoveAccountDataArgs]) error {
	l, a := w.l, job.Args
	return whileUninstalled(ctx, l, job, a.AccountID, a.Livemode, func(tx *sql.Tx) error {
		_, _, cleanup := l.hooks()
		hctx := store.WithTx(ctx, tx)
		for _, h := range cleanup {
			if err := h(hctx, a.AccountID, a.Livemode); err != nil {
				return fmt.Errorf("cleanup hook for %s: %w", a.AccountID, err)
			}
		}
		l.Logger().InfoContext(ctx, "removed account data", "account_id", a.AccountID, "livemode", a.Livemode)
		return nil
	})
}

type purgeWorker struct {
	river.WorkerDefaults[PurgeAccountEventsArgs]
	l *Lifecycle
}

func (w *purgeWorker) Work(ctx context.Context, job *river.Job[PurgeAccountEventsArgs]) error {
	l, a := w.l, job.Args
	return whileUninstalled(ctx, l, job, a.AccountID, a.Livemode, func(tx *sql.Tx) error {
		n, err := l.st.DeleteAccountEventsTx(ctx, tx, a.AccountID, a.Livemode, l.Now())
		if err != nil {
			return err
		}
		l.Logger().InfoContext(ctx, "purged account events", "account_id", a.AccountID, "livemode", a.Livemode, "deleted", n)
		return nil
	})
}

// whileUninstalled runs work in one transaction with the job's completion, but only if
// the account is still uninstalled in that mode: a reinstall in between cancels it.
func whileUninstalled[T river.JobArgs](ctx context.Context, l *Lifecycle, job *river.Job[T], accountID string, livemode bool, work func(tx *sql.Tx) error) error {
	return store.InTx(ctx, l.st.DB(), func(tx *sql.Tx) error {
		uninstalled, err := l.stillUninstalled(ctx, tx, accountID, livemode)
		if err != nil {
			return err
		}
		if uninstalled {
			if err := work(tx); err != nil {
				return err
			}
		}
		_, err = river.JobCompleteTx[riverdriver.Driver[*sql.Tx]](ctx, tx, job)
		return err
	})
}

// State is an account's installation in both modes, the answer of
// `GET /api/installation`: {"account_id":…,"live":{…}|null,"test":{…}|null}.
type State struct {
	AccountID string              `json:"account_id"`
	Live      *store.Installation `json:"live"`
	Test      *store.Installation `json:"test"`
}

// StateOf loads the installation state of an account in both modes.
func StateOf(ctx context.Context, st store.Installations, accountID string) (State, error) {
	s := State{AccountID: accountID}
	for _, livemode := range []bool{true, false} {
		in, err := st.Installation(ctx, accountID, livemode)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return State{}, err
		}
		if livemode {
			s.Live = &in
		} else {
			s.Test = &in
		}
	}
	return s, nil
}

// SourceInstallLink prefixes the ids of the installs GET /install/callback records:
// they come from a verified redirect, not from a Stripe event.
// The prefix sorts before Stripe's "evt_", so that a real event of the same second
// counts as the newer one.
const SourceInstallLink = "ab_install_link_"

// Record records that an account installed the app in a mode through an install link
// (a verified redirect rather than an event), as an account.application.authorized
// event at `at` would, and runs the install hooks if the status changed (a first
// install, a reinstall, a reauthorization). ref names the install (it becomes the
// installation's last event id). ctx must carry the transaction.
func (l *Lifecycle) Record(ctx context.Context, accountID string, livemode bool, applicationID, ref string, at time.Time) error {
	tx, ok := store.TxFrom(ctx)
	if !ok {
		return errors.New("install: Record needs a transaction in its context")
	}
	at = at.UTC().Truncate(time.Second)
	prev, err := l.st.LockInstallationTx(ctx, tx, accountID, livemode)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// The redirect happens now: it is newer than anything recorded, even across a
	// clock that lags Stripe's.
	if err == nil && !at.After(prev.LastEventCreated) {
		at = prev.LastEventCreated.Add(time.Second)
	}
	raw := fmt.Appendf(nil, `{"id":%q,"type":%q,"account":%q,"livemode":%t,"data":{"object":{"id":%q,"object":"application"}}}`,
		SourceInstallLink+ref, EventAuthorized, accountID, livemode, applicationID)
	return l.HandleEvent(ctx, &store.Event{
		ID: SourceInstallLink + ref, Type: EventAuthorized, AccountID: accountID, Livemode: livemode,
		Created: at, Raw: raw,
	})
}

// MarkReauthorizationRequired sets an installation's status to
// reauthorization_required (its OAuth refresh token was refused), in tx, and reports
// whether it changed. It stays so until a new install (Record) sets it back.
func (l *Lifecycle) MarkReauthorizationRequired(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) (store.Installation, bool, error) {
	in, err := l.st.LockInstallationTx(ctx, tx, accountID, livemode)
	if errors.Is(err, store.ErrNotFound) {
		return in, false, nil
	}
	if err != nil || in.Status != store.Installed {
		return in, false, err
	}
	in.Status = store.ReauthorizationRequired
	in.UpdatedAt = l.Now()
	if err := l.st.PutInstallationTx(ctx, tx, in); err != nil {
		return in, false, err
	}
	l.Logger().WarnContext(ctx, "installation needs reauthorization", "account_id", accountID, "livemode", livemode)
	return in, true, nil
}
