// Package oauth keeps the OAuth 2.0 tokens of Stripe Apps installed with
// stripe_api_access_type "oauth": it exchanges an install's code for tokens at
// POST /v1/oauth/token, stores them sealed (internal/secretbox) per account and mode,
// and refreshes them before they expire, ONE refresh at a time per account and mode
// across goroutines and replicas.
//
// The refresh runs inside a database transaction that holds the token row (SELECT …
// FOR UPDATE on PostgreSQL; on SQLite the write transaction holds the database's one
// write lock): it reads the refresh token, calls Stripe, and stores the rotated
// refresh token in that same transaction, so no one can read a refresh token that
// Stripe has already revoked. A waiter that gets the row next finds a fresh access
// token and does not refresh again. invalid_grant marks the installation
// reauthorization_required instead of retrying forever.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAPIBase is Stripe's API, where /v1/oauth/token lives.
const DefaultAPIBase = "https://api.stripe.com"

// ErrInvalidGrant: Stripe refused the code or refresh token (used, revoked, expired or
// another app's). The merchant must install again.
var ErrInvalidGrant = errors.New("invalid_grant")

// Token is what POST /v1/oauth/token answers.
type Token struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	Livemode     bool   `json:"livemode"`
	StripeUserID string `json:"stripe_user_id"`
	// ExpiresIn is the access token's lifetime in seconds; Stripe documents about an
	// hour, and an answer without it is taken as one hour.
	ExpiresIn int64 `json:"expires_in"`
}

// DefaultLifetime is the access token lifetime assumed when Stripe gives none.
const DefaultLifetime = time.Hour

func (t Token) lifetime() time.Duration {
	if t.ExpiresIn > 0 {
		return time.Duration(t.ExpiresIn) * time.Second
	}
	return DefaultLifetime
}

// Endpoint calls Stripe's token endpoint with the platform key of a mode.
type Endpoint struct {
	// APIBase replaces DefaultAPIBase (a fake in tests).
	APIBase string
	// Key returns the platform secret key of a mode ("" if none is configured).
	Key func(livemode bool) string
	// HTTP is the client; nil is one with a 30s timeout.
	HTTP *http.Client
}

// Exchange trades an install's authorization code for tokens.
func (e *Endpoint) Exchange(ctx context.Context, livemode bool, code string) (Token, error) {
	return e.post(ctx, livemode, url.Values{"grant_type": {"authorization_code"}, "code": {code}})
}

// Refresh trades a refresh token for a new access token (and maybe a new refresh
// token: Stripe may rotate it, revoking the old one).
func (e *Endpoint) Refresh(ctx context.Context, livemode bool, refreshToken string) (Token, error) {
	return e.post(ctx, livemode, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

func (e *Endpoint) post(ctx context.Context, livemode bool, form url.Values) (Token, error) {
	key := ""
	if e.Key != nil {
		key = e.Key(livemode)
	}
	if key == "" {
		mode := "test"
		if livemode {
			mode = "live"
		}
		return Token{}, fmt.Errorf("oauth: no platform secret key for %s mode", mode)
	}
	base := strings.TrimRight(e.APIBase, "/")
	if base == "" {
		base = DefaultAPIBase
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := e.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("oauth: token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Token{}, fmt.Errorf("oauth: token endpoint: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// Stripe's OAuth errors: {"error":"invalid_grant","error_description":"…"};
		// API-style errors: {"error":{"type":…,"message":…}}.
		var oe struct {
			Error       json.RawMessage `json:"error"`
			Description string          `json:"error_description"`
		}
		_ = json.Unmarshal(body, &oe)
		var code string
		if json.Unmarshal(oe.Error, &code) == nil && code == "invalid_grant" {
			return Token{}, fmt.Errorf("%w: %s", ErrInvalidGrant, oe.Description)
		}
		var apiErr struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(oe.Error, &apiErr) == nil && apiErr.Code == "invalid_grant" {
			return Token{}, fmt.Errorf("%w: %s", ErrInvalidGrant, apiErr.Message)
		}
		if code == "" {
			code = apiErr.Message
		}
		return Token{}, fmt.Errorf("oauth: token endpoint answered %d: %s %s", resp.StatusCode, code, oe.Description)
	}
	var t Token
	if err := json.Unmarshal(body, &t); err != nil {
		return Token{}, fmt.Errorf("oauth: token endpoint: %w", err)
	}
	if t.AccessToken == "" || t.RefreshToken == "" {
		return Token{}, errors.New("oauth: token endpoint answered without access_token or refresh_token")
	}
	return t, nil
}
