package appbackend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/hook"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// Install links (GET /install, GET /install/callback) are internal/install's Links
// service; the App builds it once the lifecycle exists (openInstallLinks) and mounts it.

// DefaultInstallURL is Stripe's install/authorize page for install links and OAuth apps.
const DefaultInstallURL = install.DefaultInstallURL

// DefaultInstallStateTTL is how long a state from GET /install stays usable.
const DefaultInstallStateTTL = install.DefaultInstallStateTTL

// InstallSignedAs says what authenticated an install, recorded with it: an
// install_signature over InstallSignedContent with or without the state, or, for an
// OAuth app redirected without install_signature, the code exchange.
const (
	InstallSignedUserAccount      = install.InstallSignedUserAccount      // {"user_id":…,"account_id":…}: no state was sent
	InstallSignedStateUserAccount = install.InstallSignedStateUserAccount // {"state":…,"user_id":…,"account_id":…}
	InstallSignedOAuthCode        = install.InstallSignedOAuthCode        // no install_signature; Stripe's code exchange vouched
)

// InstallSignedContent is the exact string an install_signature covers, as Stripe's
// install-link documentation (and its Ruby sample) verifies it:
// JSON.stringify({state, user_id, account_id}), in that order, or
// JSON.stringify({user_id, account_id}) when the install link sent no state. Nothing
// else is accepted: the state is bound to the signature whenever there is one.
func InstallSignedContent(state, userID, accountID string) []byte {
	return install.InstallSignedContent(state, userID, accountID)
}

// openInstallLinks builds the install-link service over the lifecycle.
func (a *App) openInstallLinks() {
	a.links = install.NewLinks(install.LinksConfig{
		AppID: a.cfg.AppID, PublicURL: a.cfg.PublicURL, InstallURL: a.cfg.InstallURL, ReturnURL: a.cfg.InstallReturnURL,
		StateTTL: a.cfg.InstallStateTTL, AppSecrets: a.cfg.AppSecrets, Verifier: a.verifier,
		Store: a.db, Lifecycle: a.lifecycle, Tokens: a.oauth, WriteErrorFunc: a.WriteError,
		Archetype: &baseservice.Archetype{Logger: a.logger},
	})
}

// openOAuth builds the token manager over the database.
func (a *App) openOAuth() error {
	keys, err := secretbox.Parse(strings.Join(a.cfg.EncryptionKeys, ","))
	if err != nil {
		return fmt.Errorf("%w: APPBACKEND_ENCRYPTION_KEY: %v", ErrConfig, err)
	}
	kind, _, _ := setup.ParseDatabase(a.cfg.Database)
	a.oauth = oauth.New(oauth.Config{
		DB:       a.db.DB(),
		Postgres: kind == "postgres",
		Keys:     keys,
		Endpoint: &oauth.Endpoint{APIBase: a.cfg.APIBase, Key: func(live bool) string {
			if live {
				return a.cfg.SecretKey
			}
			return a.cfg.TestSecretKey
		}},
		Archetype:                 &baseservice.Archetype{Logger: a.logger},
		OnReauthorizationRequired: a.markReauthorizationRequired,
	})
	a.restrictedKeys = oauth.NewRestrictedKeys(oauth.RestrictedKeysConfig{
		Manager: a.oauth, Store: a.db, Clients: a.stripe, AccountFunc: a.Account,
		WriteErrorFunc: a.WriteError, Archetype: &baseservice.Archetype{Logger: a.logger},
	})
	return nil
}

// markReauthorizationRequired records an invalid_grant on the installation, in the
// refresh's transaction, and runs the OnReauthorizationRequired hooks.
func (a *App) markReauthorizationRequired(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) error {
	if a.lifecycle == nil {
		return nil
	}
	in, changed, err := a.lifecycle.MarkReauthorizationRequired(ctx, tx, accountID, livemode)
	if err != nil || !changed {
		return err
	}
	if err := a.onReauth.Trigger(store.WithTx(ctx, tx), in); err != nil {
		return fmt.Errorf("reauthorization hook for %s: %w", accountID, err)
	}
	return nil
}

// OnReauthorizationRequired registers h to run when Stripe refuses an OAuth
// installation's refresh token (invalid_grant) and the installation becomes
// reauthorization_required, in the transaction that records it. Tell the merchant to
// install again (GET /install). It panics on a nil h or after Run (see OnEvent).
func (a *App) OnReauthorizationRequired(h InstallHook) {
	a.mustRegister("OnReauthorizationRequired")
	a.onReauth.Bind("OnReauthorizationRequired", hook.Default, bindInstallHook("OnReauthorizationRequired", h))
}

// deleteOAuthTokens is the uninstall hook that forgets an account's tokens.
func (a *App) deleteOAuthTokens(ctx context.Context, in store.Installation) error {
	tx, ok := store.TxFrom(ctx)
	if !ok || a.oauth == nil {
		return nil
	}
	return a.oauth.DeleteTx(ctx, tx, in.AccountID, in.Livemode)
}

// accountClient returns the client of (account, mode) when the account calls Stripe
// with its own credentials: its OAuth access token (an OAuth app) or the restricted key
// its merchant pasted (a restricted-key app); else nil, for the platform key.
func (a *App) accountClient(ctx context.Context, account string, livemode bool) (*StripeClient, error) {
	if a.oauth == nil {
		return nil, nil
	}
	kind, err := a.oauth.AuthKind(ctx, account, livemode)
	if err != nil {
		return nil, err
	}
	switch kind {
	case oauth.AuthOAuth:
		return a.stripe.OAuthClient(account, stripeclient.ModeOf(livemode), func(ctx context.Context, stale string) (string, error) {
			tok, err := a.oauth.AccessToken(ctx, account, livemode, stale)
			if errors.Is(err, oauth.ErrReauthorizationRequired) {
				return "", apierror.New(apierror.CodeForbidden, "the account "+account+" must install the app again: its authorization was revoked (reauthorization_required)")
			}
			return tok, err
		})
	case oauth.AuthRestrictedKey:
		return a.stripe.RestrictedKeyClient(account, stripeclient.ModeOf(livemode), func(ctx context.Context, stale string) (string, error) {
			key, err := a.oauth.RestrictedAPIKey(ctx, account, livemode, stale)
			if errors.Is(err, oauth.ErrRestrictedKeyRejected) {
				return "", apierror.New(apierror.CodeForbidden, "the account "+account+" must paste a new restricted key in the app's settings: Stripe rejected the stored one (reauthorization_required)")
			}
			return key, err
		})
	}
	return nil, nil
}
