package stripeclient

import (
	"github.com/stripe/stripe-go/v85"
)

// RestrictedKeyClient returns a client bound to accountID in mode that calls Stripe with
// the account's own restricted key from keys (no Stripe-Account header: the key names
// the account): for apps installed with stripe_api_access_type "restricted_api_key",
// whose merchants paste the rk_… key Stripe showed them. Unlike OAuthClient it needs no
// platform key for the mode. Idempotency, the per-account bound and the back-off are
// Client's; after a 401 the source is asked once more with the refused key as stale, and
// answers either a newer key or an error (the merchant must paste a new one).
func (c *Clients) RestrictedKeyClient(accountID string, mode Mode, keys TokenSource) (*Client, error) {
	if !mode.valid() {
		return nil, refuse("", "unknown Stripe mode \""+string(mode)+"\"")
	}
	mc := c.mode(mode)
	if mc == nil {
		mc = c.keyless[mode]
	}
	if err := checkAccountID(accountID); err != nil {
		return nil, err
	}
	// The key stripe-go sends is replaced by the source's in the transport, per attempt.
	cl := call{account: accountID, token: keys}
	sc := stripe.NewClient("restricted_api_key", stripe.WithBackends(c.bind(mc, cl)))
	return &Client{Client: sc, account: accountID, mode: mode, clients: c, mc: mc, call: cl}, nil
}
