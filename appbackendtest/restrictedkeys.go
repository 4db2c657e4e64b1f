package appbackendtest

import (
	"fmt"
	"net/http"
	"strings"
)

// Restricted keys in the fake: a restricted-key app's merchant pastes the rk_live_…/
// rk_test_… key Stripe generated for the install. The fake knows which account and mode
// each key it issued (or was told about) belongs to, answers a call made with one as that
// account (no Stripe-Account needed), and answers 401, as Stripe does, for a key it does
// not know or has revoked.

type restrictedGrant struct {
	account       string // "" for a platform restricted key (STRIPE_SECRET_KEY=rk_…)
	livemode      bool
	revoked       bool
	noAccountRead bool
}

// IssueRestrictedKey returns a new restricted key of account in a mode, as Stripe shows
// the merchant on installing a restricted-key app.
func (f *StripeFake) IssueRestrictedKey(account string, livemode bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	key := fmt.Sprintf("rk_%s_51Fake%dRestricted%s", modeName(livemode), f.seq, strings.Repeat("x", 24))
	f.registerRestricted(key, &restrictedGrant{account: account, livemode: livemode})
	return key
}

// AddRestrictedKey makes key a restricted key of account in a mode; account "" makes it
// a restricted key of the platform itself (a platform configured with rk_… keys).
func (f *StripeFake) AddRestrictedKey(key, account string, livemode bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registerRestricted(key, &restrictedGrant{account: account, livemode: livemode})
}

// RevokeRestrictedKey makes Stripe refuse key from now on (401), as when the merchant
// rolls or deletes it, or uninstalls the app.
func (f *StripeFake) RevokeRestrictedKey(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.restricted[key]; g != nil {
		g.revoked = true
	}
}

// DenyAccountRead makes GET /v1/account with key answer 403, as for a key without the
// permission to read the account; Stripe's message names the account.
func (f *StripeFake) DenyAccountRead(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.restricted[key]; g != nil {
		g.noAccountRead = true
	}
}

func (f *StripeFake) registerRestricted(key string, g *restrictedGrant) {
	if f.restricted == nil {
		f.restricted = map[string]*restrictedGrant{}
	}
	f.restricted[key] = g
}

// redactKey is how Stripe prints a key in an error: its prefix and last four characters.
func redactKey(key string) string {
	if len(key) < 12 {
		return "***"
	}
	return key[:8] + "*********" + key[len(key)-4:]
}

// restrictedAccess answers for a request made with an rk_ key: ok with the key's mode
// and the account it acts as, or the refusal to send (status, body).
func (f *StripeFake) restrictedAccess(req StripeRequest) (mode, account string, status int, body []byte) {
	key := req.Key()
	f.mu.Lock()
	g := f.restricted[key]
	var grant restrictedGrant
	if g != nil {
		grant = *g
	}
	f.mu.Unlock()
	if g == nil || grant.revoked {
		status, body = errorBody(http.StatusUnauthorized, "invalid_request_error", "", "Invalid API Key provided: "+redactKey(key))
		return "", "", status, body
	}
	mode = modeName(grant.livemode)
	if grant.account == "" {
		return mode, req.Account, 0, nil // the platform's own restricted key
	}
	if req.Account != "" && req.Account != grant.account {
		status, body = errorBody(http.StatusForbidden, "invalid_request_error", "",
			fmt.Sprintf("The provided key '%s' does not have access to account '%s' (or that account does not exist). Application access may have been revoked.", redactKey(key), req.Account))
		return "", "", status, body
	}
	if grant.noAccountRead && req.Method == http.MethodGet && req.Path == "/v1/account" {
		status, body = errorBody(http.StatusForbidden, "permission_error", "",
			fmt.Sprintf("The provided key '%s' does not have the required permissions for this endpoint on account '%s'. Having the 'rak_accounts_kyc_basic_read' permission would allow this request to continue.", redactKey(key), grant.account))
		return "", "", status, body
	}
	return mode, grant.account, 0, nil
}
