package oauth

import (
	"context"
	"database/sql"
	"errors"

	"github.com/appbackend/appbackend/internal/store"
)

// ExchangeInstallAuthCode trades an OAuth app's install auth_code (from an
// apps.install event or a listed install) for tokens and stores them in tx, with the
// exchange GET /install/callback uses: it is the install package's
// Config.ExchangeAuthCode. A code Stripe refuses cannot succeed later, so it is logged
// rather than retried; a failed call is retried with the event.
func (m *Manager) ExchangeInstallAuthCode(ctx context.Context, tx *sql.Tx, in store.Installation, code string) error {
	if m.cfg.Keys.Empty() {
		m.Logger().WarnContext(ctx, "an install carries an OAuth auth_code, but APPBACKEND_ENCRYPTION_KEY is not set to store its tokens",
			"account_id", in.AccountID, "livemode", in.Livemode)
		return nil
	}
	tok, err := m.cfg.Endpoint.Exchange(ctx, in.Livemode, code)
	switch {
	case errors.Is(err, ErrInvalidGrant):
		m.Logger().WarnContext(ctx, "Stripe refused an install's auth_code (already used or expired); the merchant must reauthorize if the app has no tokens",
			"account_id", in.AccountID, "livemode", in.Livemode)
		return nil
	case err != nil:
		return err
	case (tok.StripeUserID != "" && tok.StripeUserID != in.AccountID) || tok.Livemode != in.Livemode:
		m.Logger().WarnContext(ctx, "an install's auth_code is for another account or mode; its tokens are not stored",
			"account_id", in.AccountID, "livemode", in.Livemode, "stripe_user_id", tok.StripeUserID)
		return nil
	}
	return m.SaveTx(ctx, tx, in.AccountID, in.Livemode, "", tok)
}
