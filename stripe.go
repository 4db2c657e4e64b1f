package appbackend

import (
	"context"
	"database/sql"
	"errors"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// StripeClient is a stripe-go client bound to one merchant account and mode: every call
// carries Stripe-Account, writes carry an idempotency key, and one account's calls are
// bounded so that a busy merchant cannot starve the others.
//
// It is an alias of the public stripeclient.Client, whose go doc shows its fields and
// methods: no internal type is behind it.
type StripeClient = stripeclient.Client

// Stripe returns a Stripe client bound to the account and mode of ctx (with the
// account's OAuth access token, refreshed as needed, when it installed the app through
// OAuth; with the restricted key its merchant pasted, for a restricted-key app; else
// with the platform key and Stripe-Account):
//   - in an event handler or install hook, the event's account and mode;
//   - in a signed request, the caller's account, in the mode the app signed as
//     "livemode" in its payload, else the mode of the only configured key, else the
//     only mode the account installed the app in; otherwise a 400 mode_required error
//     asks the app to sign livemode.
//
// No account, or no key for that mode, is an error: a call never falls back to the
// platform account.
func (a *App) Stripe(ctx context.Context) (*StripeClient, error) {
	account, livemode, err := a.Account(ctx)
	if err != nil {
		return nil, err
	}
	// An account that installed an OAuth app is called with its access token, one that
	// pasted a restricted key with that key.
	if sc, err := a.accountClient(ctx, account, livemode); sc != nil || err != nil {
		return sc, err
	}
	return a.stripe.Client(account, stripeclient.ModeOf(livemode))
}

// Account returns the merchant account ctx acts for and its mode, as Stripe(ctx)
// chooses them (see there), without a Stripe call: the event's, hook's, job's or
// schedule run's account, or a signed request's caller. It is an error where ctx
// acts for no account (a platform schedule, a goroutine of your own) and, in a signed
// request, when the mode cannot be told (400 mode_required).
func (a *App) Account(ctx context.Context) (accountID string, livemode bool, err error) {
	if a.stripe == nil {
		return "", false, errors.New("appbackend: Account called before Run")
	}
	if account, mode, ok := stripeclient.AccountFrom(ctx); ok {
		return account, mode.Livemode(), nil
	}
	id, ok := appauth.FromContext(ctx)
	if !ok {
		return "", false, errors.New("appbackend: no account in this context: want a signed request, an event handler, a hook, a job or a per-account schedule run")
	}
	signed, err := stripeclient.SignedLivemode(id.Payload)
	if err != nil {
		return "", false, err
	}
	mode, err := a.stripe.ResolveMode(ctx, id.AccountID, signed, a.installedModes)
	if errors.Is(err, stripeclient.ErrModeRequired) {
		return "", false, modeRequired(id) // worded for a request with or without a body
	}
	if err != nil {
		return "", false, err
	}
	return id.AccountID, mode.Livemode(), nil
}

// installedModes tells in which modes the app is installed on an account, for
// Stripe's mode resolution.
func (a *App) installedModes(ctx context.Context, accountID string) (live, test bool, err error) {
	state, err := install.StateOf(ctx, a.db, accountID)
	if err != nil {
		return false, false, err
	}
	live = state.Live != nil && state.Live.Status == store.Installed
	test = state.Test != nil && state.Test.Status == store.Installed
	return live, test, nil
}

// openStripe builds the account-bound Stripe clients. The idempotency prefix is kept
// with the data, so that job ids reused after a database reset can never replay another
// database's writes within Stripe's 24-hour key window.
func (a *App) openStripe(ctx context.Context) error {
	prefix, err := a.settingOrCreate(ctx, "stripe.idempotency_prefix", func() string { return "ab" + randomHex(6) + "-" })
	if err != nil {
		return err
	}
	clients, err := stripeclient.New(stripeclient.Config{
		Keys:              stripeclient.Keys{Live: a.cfg.SecretKey, Test: a.cfg.TestSecretKey},
		APIBase:           a.cfg.APIBase,
		IdempotencyPrefix: prefix,
	})
	if err != nil {
		return err
	}
	a.stripe = clients
	return nil
}

// accountNameArgs is the job that records an installed account's display name
// (GET /v1/accounts/{id}). It runs after the install commits, so the install's
// transaction never waits on Stripe.
type accountNameArgs struct {
	AccountID string `json:"account_id"`
	Livemode  bool   `json:"livemode"`
}

func (accountNameArgs) Kind() string { return "appbackend.account_display_name" }

// RerunAfterCrash implements runtime.Rerunnable: looking a name up twice stores the
// same name.
func (accountNameArgs) RerunAfterCrash() bool { return true }

type accountNameWorker struct {
	river.WorkerDefaults[accountNameArgs]
	app *App
}

func (w *accountNameWorker) Work(ctx context.Context, job *river.Job[accountNameArgs]) error {
	a := w.app
	if !a.stripe.Has(stripeclient.ModeOf(job.Args.Livemode)) {
		return nil // no key for that mode: nothing to look up, and nothing to retry
	}
	sc, err := a.stripe.Client(job.Args.AccountID, stripeclient.ModeOf(job.Args.Livemode))
	if err != nil {
		return river.JobCancel(err)
	}
	name, err := sc.DisplayName(ctx)
	if err != nil {
		if stripeclient.IsRetryable(err) {
			return err
		}
		return river.JobCancel(err)
	}
	if name == "" {
		return nil
	}
	return store.InTx(ctx, a.db.DB(), func(tx *sql.Tx) error {
		in, err := a.db.LockInstallationTx(ctx, tx, job.Args.AccountID, job.Args.Livemode)
		if err != nil {
			return err
		}
		in.DisplayName = name
		return a.db.PutInstallationTx(ctx, tx, in)
	})
}
