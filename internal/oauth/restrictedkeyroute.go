package oauth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// RestrictedKeyRoute is the built-in signed route of restricted-key apps
// (stripe_api_access_type "restricted_api_key"): on install Stripe shows the merchant
// a restricted key that they paste into the app's settings view, which sends it,
// signed, here. POST checks it against Stripe for the signed account and mode, seals
// and stores it ({"restricted_key":"rk_…"} in the signed payload); GET tells which key
// is stored (its last 4 characters at most). The key is never logged or echoed.
const RestrictedKeyRoute = "/api/appbackend/restricted-key"

// RestrictedKeysConfig configures [RestrictedKeys].
type RestrictedKeysConfig struct {
	Manager *Manager
	// Store holds the installations a new key restores from reauthorization_required.
	Store   store.Store
	Clients *stripeclient.Clients
	// AccountFunc is the account and mode a signed request acts for (App.Account).
	AccountFunc func(ctx context.Context) (string, bool, error)
	// WriteErrorFunc answers a request with err (the App's error writer).
	WriteErrorFunc func(w http.ResponseWriter, r *http.Request, err error)
	Archetype      *baseservice.Archetype
}

// RestrictedKeys serves RestrictedKeyRoute.
type RestrictedKeys struct {
	baseservice.Base
	cfg RestrictedKeysConfig
}

// NewRestrictedKeys returns the restricted-key route's service.
func NewRestrictedKeys(cfg RestrictedKeysConfig) *RestrictedKeys {
	k := &RestrictedKeys{cfg: cfg}
	k.Init(cfg.Archetype)
	return k
}

func installError(message string) error { return apierror.New(apierror.CodeBadRequest, message) }

// restrictedKeyPattern is what a pasted restricted key may look like; anything else is
// refused before Stripe is asked.
var restrictedKeyPattern = regexp.MustCompile(`^rk_(live|test)_[A-Za-z0-9]{8,255}$`)

// forbiddenAccount finds the account Stripe names when a restricted key may not read
// GET /v1/account ("… does not have the required permissions for this endpoint on
// account 'acct_…'"), so that a key without that permission is still checked.
var forbiddenAccount = regexp.MustCompile(`on account '(acct_[A-Za-z0-9_]+)'`)

// restrictedKeyStatus is the body of both methods of RestrictedKeyRoute.
type restrictedKeyStatus struct {
	AccountID     string             `json:"account_id"`
	Livemode      bool               `json:"livemode"`
	RestrictedKey *restrictedKeyInfo `json:"restricted_key"`
}

type restrictedKeyInfo struct {
	Last4  string `json:"last4"`
	Status string `json:"status"` // active | reauthorization_required
	UserID string `json:"user_id"`
}

func (k *RestrictedKeys) ready() error {
	if k.cfg.Manager == nil || k.cfg.Manager.Keys().Empty() {
		return apierror.New(apierror.CodeUnavailable, "restricted keys cannot be stored: set APPBACKEND_ENCRYPTION_KEY")
	}
	return nil
}

// ServeSave is POST RestrictedKeyRoute.
func (k *RestrictedKeys) ServeSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, _ := appauth.FromContext(ctx)
	if err := k.ready(); err != nil {
		k.cfg.WriteErrorFunc(w, r, err)
		return
	}
	// The key must be in the signed payload: a signature over the default pair alone
	// would let whoever holds it post any key for the account within its tolerance.
	var body struct {
		Key *string `json:"restricted_key"`
	}
	if !id.SignedAs.CoversBody() || json.Unmarshal(id.Payload, &body) != nil || body.Key == nil {
		k.cfg.WriteErrorFunc(w, r, installError(`send the key in the signed payload: fetchStripeSignature({restricted_key, livemode}) and that exact body (the UI client's saveRestrictedKey does this)`))
		return
	}
	key := strings.TrimSpace(*body.Key)
	keyLive, err := restrictedKeyMode(key)
	if err != nil {
		k.cfg.WriteErrorFunc(w, r, err)
		return
	}
	livemode, err := k.requestMode(ctx, id, keyLive)
	if err != nil {
		k.cfg.WriteErrorFunc(w, r, err)
		return
	}
	if err := k.check(ctx, id.AccountID, livemode, key); err != nil {
		k.cfg.WriteErrorFunc(w, r, err)
		return
	}
	err = store.InTx(ctx, k.cfg.Store.DB(), func(tx *sql.Tx) error {
		if err := k.cfg.Manager.SaveRestrictedKeyTx(ctx, tx, id.AccountID, livemode, id.UserID, key); err != nil {
			return err
		}
		return k.restoreInstalled(ctx, tx, id.AccountID, livemode)
	})
	if err != nil {
		k.cfg.WriteErrorFunc(w, r, err)
		return
	}
	k.Logger().InfoContext(ctx, "restricted key stored", "account_id", id.AccountID, "user_id", id.UserID,
		"livemode", livemode, "key_last4", Last4(key))
	apierror.WriteJSON(w, http.StatusOK, restrictedKeyStatus{AccountID: id.AccountID, Livemode: livemode,
		RestrictedKey: &restrictedKeyInfo{Last4: Last4(key), Status: StatusActive, UserID: id.UserID}})
}

// ServeStatus is GET RestrictedKeyRoute: the stored key's last 4
// characters and status in the request's mode, or null.
func (k *RestrictedKeys) ServeStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := k.ready(); err != nil {
		k.cfg.WriteErrorFunc(w, r, err)
		return
	}
	account, livemode, err := k.cfg.AccountFunc(ctx)
	if err != nil {
		k.cfg.WriteErrorFunc(w, r, err)
		return
	}
	out := restrictedKeyStatus{AccountID: account, Livemode: livemode}
	rk, err := k.cfg.Manager.RestrictedKeyStatus(ctx, account, livemode)
	switch {
	case errors.Is(err, ErrNoRestrictedKey):
	case err != nil:
		k.cfg.WriteErrorFunc(w, r, err)
		return
	default:
		out.RestrictedKey = &restrictedKeyInfo{Last4: rk.Last4, Status: rk.Status, UserID: rk.UserID}
	}
	apierror.WriteJSON(w, http.StatusOK, out)
}

// restrictedKeyMode checks that key looks like a restricted key and returns its mode.
// Its messages say what kind of key was pasted, never the key.
func restrictedKeyMode(key string) (live bool, err error) {
	switch {
	case key == "":
		return false, installError("restricted_key is empty: paste the restricted key (rk_live_… or rk_test_…) Stripe showed in the app's settings")
	case strings.HasPrefix(key, "sk_"):
		return false, installError("this is a secret key (sk_…), not the app's restricted key: paste the rk_live_… or rk_test_… key Stripe showed in the app's settings, and roll the secret key if it was shared")
	case strings.HasPrefix(key, "pk_"):
		return false, installError("this is a publishable key (pk_…), not the app's restricted key: paste the rk_live_… or rk_test_… key Stripe showed in the app's settings")
	case !restrictedKeyPattern.MatchString(key):
		return false, installError("this does not look like a restricted key: paste the whole rk_live_… or rk_test_… key Stripe showed in the app's settings")
	}
	return strings.HasPrefix(key, "rk_live_"), nil
}

// requestMode is the mode the key is stored for: the request's, as
// Stripe(ctx) resolves it (the signed livemode first). A key of the other mode is
// refused; when the request cannot tell its mode, the key's is taken.
func (k *RestrictedKeys) requestMode(ctx context.Context, id *appauth.Identity, keyLive bool) (bool, error) {
	_, livemode, err := k.cfg.AccountFunc(ctx)
	switch {
	case errors.Is(err, stripeclient.ErrModeRequired) || codeOf(err) == apierror.CodeModeRequired:
		return keyLive, nil
	case err != nil:
		return false, err
	case livemode != keyLive:
		return false, installError(fmt.Sprintf("this is a %s-mode key (rk_%s_…) but the request is for %s mode: paste the %s-mode key from the app's settings in %s mode",
			modeWord(keyLive), modeWord(keyLive), modeWord(livemode), modeWord(livemode), modeWord(livemode)))
	}
	return livemode, nil
}

// check asks Stripe which account key belongs to (GET /v1/account with the
// key, no Stripe-Account) and refuses it unless it is accountID's. A key Stripe rejects,
// or one of another account, is a 400; a failure to ask is a 502.
func (k *RestrictedKeys) check(ctx context.Context, accountID string, livemode bool, key string) error {
	rejected := installError("Stripe rejected this restricted key (it was rolled, deleted, or mistyped): paste the key shown now in the app's settings")
	sc, err := k.cfg.Clients.RestrictedKeyClient(accountID, stripeclient.ModeOf(livemode), func(_ context.Context, stale string) (string, error) {
		if stale != "" {
			return "", rejected // no second try: Stripe answered 401 for this very key
		}
		return key, nil
	})
	if err != nil {
		return err
	}
	owner := ""
	acct, err := sc.V1Accounts.Retrieve(ctx, &stripe.AccountRetrieveParams{})
	var se *stripe.Error
	switch {
	case err == nil:
		owner = acct.ID
	case errors.As(err, &se) && se.HTTPStatusCode == http.StatusUnauthorized:
		return rejected
	case errors.As(err, &se) && se.HTTPStatusCode == http.StatusForbidden:
		// A key without permission to read the account: Stripe names the account in
		// its refusal.
		if m := forbiddenAccount.FindStringSubmatch(se.Msg); m != nil {
			owner = m[1]
		} else {
			return installError("Stripe accepted this restricted key but did not say which account it is for: give the app the permission to read the account, or paste the key again")
		}
	case codeOf(err) == apierror.CodeBadRequest:
		return err // the source's refusal above
	default:
		k.Logger().WarnContext(ctx, "checking a restricted key with Stripe failed", "account_id", accountID, "livemode", livemode, "err", err)
		return apierror.New(apierror.CodeStripeError, "could not check the restricted key with Stripe; try again")
	}
	if owner != accountID {
		return installError("this restricted key is for another Stripe account: paste the key shown in the app's settings of " + accountID)
	}
	return nil
}

// restoreInstalled sets an installation that was reauthorization_required (its previous
// key was rejected) back to installed: a new key verified by Stripe is the merchant's
// reauthorization.
func (k *RestrictedKeys) restoreInstalled(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) error {
	in, err := k.cfg.Store.LockInstallationTx(ctx, tx, accountID, livemode)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || in.Status != store.ReauthorizationRequired {
		return err
	}
	in.Status = store.Installed
	return k.cfg.Store.PutInstallationTx(ctx, tx, in)
}

// codeOf is the apierror code err carries, or "".
func codeOf(err error) apierror.Code {
	var e *apierror.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
