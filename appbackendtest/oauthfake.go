package appbackendtest

import (
	"fmt"
	"net/http"
	"time"
)

// OAuthStats counts what a StripeFake's token endpoint (POST /v1/oauth/token) did.
type OAuthStats struct {
	// Exchanges are authorization codes traded for tokens; Refreshes successful
	// refresh_token grants.
	Exchanges, Refreshes int
	// InvalidGrants are refused grants of either kind; RevokedRefreshUses those that
	// presented a refresh token the fake had already rotated away (the race an OAuth
	// backend must never lose); ReusedCodes codes presented a second time.
	InvalidGrants, RevokedRefreshUses, ReusedCodes int
	// ExpiredAccess counts API calls made with an expired access token.
	ExpiredAccess int
}

type oauthFake struct {
	lifetime time.Duration
	codes    map[string]*oauthGrant // code → grant; used once
	refresh  map[string]*oauthGrant // refresh token → grant
	access   map[string]*oauthGrant // access token → grant
	stats    OAuthStats
}

type oauthGrant struct {
	account   string
	livemode  bool
	used      bool      // a code exchanged, a refresh token rotated away or revoked
	expiresAt time.Time // of an access token
	revoked   bool
}

func (o *oauthFake) init() {
	if o.codes == nil {
		o.codes = map[string]*oauthGrant{}
		o.refresh = map[string]*oauthGrant{}
		o.access = map[string]*oauthGrant{}
	}
}

// IssueOAuthCode returns an authorization code for account in a mode, as Stripe puts
// it on the install redirect of an OAuth app; POST /v1/oauth/token trades it once.
func (f *StripeFake) IssueOAuthCode(account string, livemode bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oauth.init()
	f.seq++
	code := fmt.Sprintf("ac_fake%d", f.seq)
	f.oauth.codes[code] = &oauthGrant{account: account, livemode: livemode}
	return code
}

// SetOAuthTokenLifetime sets the lifetime (expires_in) of the access tokens the fake
// issues from now on; default one hour.
func (f *StripeFake) SetOAuthTokenLifetime(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oauth.lifetime = d
}

// RevokeOAuth revokes every refresh and access token of account (as Stripe does when
// the merchant uninstalls): the next refresh is an invalid_grant.
func (f *StripeFake) RevokeOAuth(account string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oauth.init()
	for _, m := range []map[string]*oauthGrant{f.oauth.refresh, f.oauth.access} {
		for _, g := range m {
			if g.account == account {
				g.revoked = true
			}
		}
	}
}

// OAuthStats returns the token endpoint's counters.
func (f *StripeFake) OAuthStats() OAuthStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.oauth.stats
}

func (f *StripeFake) issue(g *oauthGrant) map[string]any {
	f.seq++
	mode := modeName(g.livemode)
	lifetime := f.oauth.lifetime
	if lifetime <= 0 {
		lifetime = time.Hour
	}
	access := fmt.Sprintf("oat_%s_fake%d", mode, f.seq)
	refresh := fmt.Sprintf("ort_%s_fake%d", mode, f.seq)
	f.oauth.access[access] = &oauthGrant{account: g.account, livemode: g.livemode, expiresAt: time.Now().Add(lifetime)}
	f.oauth.refresh[refresh] = &oauthGrant{account: g.account, livemode: g.livemode}
	return map[string]any{
		"access_token": access, "refresh_token": refresh, "token_type": "bearer",
		"scope": "stripe_apps", "livemode": g.livemode, "stripe_user_id": g.account,
		"stripe_publishable_key": "pk_" + mode + "_fake", "expires_in": int64(lifetime / time.Second),
	}
}

// oauthToken answers POST /v1/oauth/token: authorization_code and refresh_token
// grants, authenticated with a platform secret key of the grant's mode. Every refresh
// rotates the refresh token and revokes the one presented.
func (f *StripeFake) oauthToken(req StripeRequest) (int, []byte) {
	mode, ok := keyMode(req.Key())
	if !ok {
		return errorBody(http.StatusUnauthorized, "invalid_request_error", "", "Invalid API Key provided")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oauth.init()
	invalid := func(why string) (int, []byte) {
		f.oauth.stats.InvalidGrants++
		return jsonBody(http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": why})
	}
	switch req.Form.Get("grant_type") {
	case "authorization_code":
		g := f.oauth.codes[req.Form.Get("code")]
		switch {
		case g == nil:
			return invalid("Authorization code does not exist")
		case g.used:
			f.oauth.stats.ReusedCodes++
			return invalid("Authorization code has already been used")
		case modeName(g.livemode) != mode:
			return invalid("Authorization code is for the other mode")
		}
		g.used = true
		f.oauth.stats.Exchanges++
		return jsonBody(http.StatusOK, f.issue(g))
	case "refresh_token":
		g := f.oauth.refresh[req.Form.Get("refresh_token")]
		switch {
		case g == nil:
			return invalid("Refresh token does not exist")
		case g.used:
			f.oauth.stats.RevokedRefreshUses++
			return invalid("Refresh token has been rotated and is no longer valid")
		case g.revoked:
			return invalid("Refresh token has been revoked")
		case modeName(g.livemode) != mode:
			return invalid("Refresh token is for the other mode")
		}
		g.used = true
		f.oauth.stats.Refreshes++
		return jsonBody(http.StatusOK, f.issue(g))
	}
	return errorBody(http.StatusBadRequest, "invalid_request_error", "", "grant_type must be authorization_code or refresh_token")
}

// oauthAccess resolves an OAuth access token: its mode and account. An expired or
// revoked token is counted and refused (ok false: a 401).
func (f *StripeFake) oauthAccess(req StripeRequest) (mode, account string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.oauth.access[req.Key()]
	if g == nil || g.revoked {
		return "", "", false
	}
	if time.Now().After(g.expiresAt) {
		f.oauth.stats.ExpiredAccess++
		return "", "", false
	}
	if req.Account != "" && req.Account != g.account {
		return "", "", false
	}
	return modeName(g.livemode), g.account, true
}
