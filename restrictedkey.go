package appbackend

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
	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// Restricted-key apps (stripe_api_access_type "restricted_api_key"): on install Stripe
// shows the merchant a restricted key that they paste into the app's settings view. The
// view sends it, signed, to RestrictedKeyRoute; the key is checked against Stripe for the
// signed account and mode, sealed, and from then on Stripe(ctx) calls with it.

// RestrictedKeyRoute is the built-in signed route of restricted-key apps: POST stores the
// merchant's key ({"restricted_key":"rk_…"} in the signed payload), GET tells which key
// is stored (its last 4 characters at most).
const RestrictedKeyRoute = "/api/appbackend/restricted-key"

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

func (a *App) restrictedKeysReady() error {
	if a.oauth == nil || a.oauth.Keys().Empty() {
		return apierror.New(apierror.CodeUnavailable, "restricted keys cannot be stored: set APPBACKEND_ENCRYPTION_KEY")
	}
	return nil
}

// handleSaveRestrictedKey is POST RestrictedKeyRoute.
func (a *App) handleSaveRestrictedKey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, _ := appauth.FromContext(ctx)
	if err := a.restrictedKeysReady(); err != nil {
		a.writeError(w, r, err)
		return
	}
	// The key must be in the signed payload: a signature over the default pair alone
	// would let whoever holds it post any key for the account within its tolerance.
	var body struct {
		Key *string `json:"restricted_key"`
	}
	if !id.SignedAs.CoversBody() || json.Unmarshal(id.Payload, &body) != nil || body.Key == nil {
		a.writeError(w, r, installError(`send the key in the signed payload: fetchStripeSignature({restricted_key, livemode}) and that exact body (the UI client's saveRestrictedKey does this)`))
		return
	}
	key := strings.TrimSpace(*body.Key)
	keyLive, err := restrictedKeyMode(key)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	livemode, err := a.restrictedKeyRequestMode(ctx, id, keyLive)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.checkRestrictedKey(ctx, id.AccountID, livemode, key); err != nil {
		a.writeError(w, r, err)
		return
	}
	err = store.InTx(ctx, a.db.DB(), func(tx *sql.Tx) error {
		if err := a.oauth.SaveRestrictedKeyTx(ctx, tx, id.AccountID, livemode, id.UserID, key); err != nil {
			return err
		}
		return a.restoreInstalled(ctx, tx, id.AccountID, livemode)
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.logger.InfoContext(ctx, "restricted key stored", "account_id", id.AccountID, "user_id", id.UserID,
		"livemode", livemode, "key_last4", oauth.Last4(key))
	WriteJSON(w, http.StatusOK, restrictedKeyStatus{AccountID: id.AccountID, Livemode: livemode,
		RestrictedKey: &restrictedKeyInfo{Last4: oauth.Last4(key), Status: oauth.StatusActive, UserID: id.UserID}})
}

// handleRestrictedKeyStatus is GET RestrictedKeyRoute: the stored key's last 4
// characters and status in the request's mode, or null.
func (a *App) handleRestrictedKeyStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := a.restrictedKeysReady(); err != nil {
		a.writeError(w, r, err)
		return
	}
	account, livemode, err := a.Account(ctx)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := restrictedKeyStatus{AccountID: account, Livemode: livemode}
	rk, err := a.oauth.RestrictedKeyStatus(ctx, account, livemode)
	switch {
	case errors.Is(err, oauth.ErrNoRestrictedKey):
	case err != nil:
		a.writeError(w, r, err)
		return
	default:
		out.RestrictedKey = &restrictedKeyInfo{Last4: rk.Last4, Status: rk.Status, UserID: rk.UserID}
	}
	WriteJSON(w, http.StatusOK, out)
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

// restrictedKeyRequestMode is the mode the key is stored for: the request's, as
// Stripe(ctx) resolves it (the signed livemode first). A key of the other mode is
// refused; when the request cannot tell its mode, the key's is taken.
func (a *App) restrictedKeyRequestMode(ctx context.Context, id *appauth.Identity, keyLive bool) (bool, error) {
	_, livemode, err := a.Account(ctx)
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

func modeWord(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

// checkRestrictedKey asks Stripe which account key belongs to (GET /v1/account with the
// key, no Stripe-Account) and refuses it unless it is accountID's. A key Stripe rejects,
// or one of another account, is a 400; a failure to ask is a 502.
func (a *App) checkRestrictedKey(ctx context.Context, accountID string, livemode bool, key string) error {
	rejected := installError("Stripe rejected this restricted key (it was rolled, deleted, or mistyped): paste the key shown now in the app's settings")
	sc, err := a.stripe.RestrictedKeyClient(accountID, stripeclient.ModeOf(livemode), func(_ context.Context, stale string) (string, error) {
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
		a.logger.WarnContext(ctx, "checking a restricted key with Stripe failed", "account_id", accountID, "livemode", livemode, "err", err)
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
func (a *App) restoreInstalled(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) error {
	in, err := a.db.LockInstallationTx(ctx, tx, accountID, livemode)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || in.Status != store.ReauthorizationRequired {
		return err
	}
	in.Status = store.Installed
	return a.db.PutInstallationTx(ctx, tx, in)
}

// codeOf is the apierror code err carries, or "".
func codeOf(err error) apierror.Code {
	var e *apierror.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
