package stripeclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/appbackend/appbackend/internal/apierror"
)

// ForwardRequest is a raw Stripe API request made on an account's behalf by a program
// that holds no key (the gateway's upstream).
type ForwardRequest struct {
	Method string
	// Path is the API path, "/v1/customers"; RawQuery its query without "?".
	Path     string
	RawQuery string
	Body     []byte
	// ContentType, IdempotencyKey and StripeVersion are passed on when set. A write
	// (POST, DELETE) without an idempotency key gets a new random one, so that the
	// retries of a 429 or a network failure cannot apply it twice.
	ContentType    string
	IdempotencyKey string
	StripeVersion  string
}

// Forward sends req to the Stripe API for accountID in mode, with the mode's key and
// Stripe-Account, through the same per-account bound and 429 back-off as every bound
// call. The answer is Stripe's, as is; read and close its body.
func (c *Clients) Forward(ctx context.Context, accountID string, mode Mode, req ForwardRequest) (*http.Response, error) {
	sc, err := c.Client(accountID, mode)
	if err != nil {
		return nil, err
	}
	return sc.Forward(ctx, req)
}

// Forward sends req to the Stripe API with c's credentials, as c's own calls go: the
// mode's key and Stripe-Account, or the account's OAuth access token (without
// Stripe-Account) for a client from OAuthClient; through the same per-account bound and
// 429 back-off. Path is sent as given (escaped). The answer is Stripe's, as is; read
// and close its body.
func (c *Client) Forward(ctx context.Context, req ForwardRequest) (*http.Response, error) {
	if c.clients == nil {
		return nil, refuse("", "Forward on a client that Clients did not make")
	}
	if !strings.HasPrefix(req.Path, "/v1/") && !strings.HasPrefix(req.Path, "/v2/") {
		return nil, refuse(apierror.CodeBadRequest, "only /v1/ and /v2/ Stripe API paths are forwarded")
	}
	url := strings.TrimSuffix(c.clients.apiBase(), "/") + req.Path
	if req.RawQuery != "" {
		url += "?" + req.RawQuery
	}
	body := req.Body
	hr, err := http.NewRequestWithContext(withCall(ctx, c.call), req.Method, url, bytes.NewReader(body))
	if err != nil {
		return nil, refuse(apierror.CodeBadRequest, "not a valid Stripe request")
	}
	if c.call.token == nil {
		// With a token, the transport sets Authorization per attempt (a refreshed
		// token on a 401).
		hr.Header.Set("Authorization", "Bearer "+c.mc.key)
		hr.Header.Set("Stripe-Account", c.account)
	}
	if req.ContentType != "" {
		hr.Header.Set("Content-Type", req.ContentType)
	} else if len(body) > 0 {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if req.StripeVersion != "" {
		hr.Header.Set("Stripe-Version", req.StripeVersion)
	}
	if key := req.IdempotencyKey; key != "" {
		hr.Header.Set("Idempotency-Key", key)
	} else if isWrite(req.Method) {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		hr.Header.Set("Idempotency-Key", c.clients.keyPrefix+"gw-"+hex.EncodeToString(b))
	}
	return c.mc.http.Do(hr)
}
