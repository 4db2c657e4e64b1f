package stripeclient

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/internal/apierror"
)

// InstallsAPIVersion is the Stripe API version the App Installs API
// (/v1/apps/installs) needs. stripe-go v85 pins an older one and has no service for
// it, so these calls go through stripe-go's raw requests with this Stripe-Version.
const InstallsAPIVersion = "2026-09-30.endive"

// Statuses of an Install (its "status").
const (
	InstallStatusInstalled    = "installed"
	InstallStatusUninstalling = "uninstalling"
	InstallStatusUninstalled  = "uninstalled"
)

// Install is Stripe's App Install object ("object": "apps.install"): the app installed
// on one account in one mode, with the access the account granted and the access the
// app's latest version asks for that it has not approved yet.
type Install struct {
	ID      string `json:"id"` // appinst_…
	Object  string `json:"object"`
	Account string `json:"account"`
	App     string `json:"app"`
	// ApprovalRequired: the installer must authorize pending permissions, CSP entries
	// or endpoints (reauthorize).
	ApprovalRequired bool `json:"approval_required"`
	// AuthCode is the authorization code of an OAuth app's install, traded once at
	// POST /v1/oauth/token; empty for other apps.
	AuthCode                     string     `json:"auth_code"`
	Channel                      string     `json:"channel"` // public, testing, private
	ContentSecurityPolicyGranted InstallCSP `json:"content_security_policy_granted"`
	ContentSecurityPolicyPending InstallCSP `json:"content_security_policy_pending"`
	Created                      int64      `json:"created"`
	// CreatedBy is the embedding platform that created the install, if one did.
	CreatedBy          string   `json:"created_by"`
	EndpointsGranted   []string `json:"endpoints_granted"`
	EndpointsPending   []string `json:"endpoints_pending"`
	Livemode           bool     `json:"livemode"`
	PermissionsGranted []string `json:"permissions_granted"`
	PermissionsPending []string `json:"permissions_pending"`
	Status             string   `json:"status"`
}

// InstallCSP is an Install's content security policy entries.
type InstallCSP struct {
	ConnectSrc []string `json:"connect_src"`
	ImageSrc   []string `json:"image_src"`
}

// InstallListParams filters GET /v1/apps/installs. App is needed to list the app's
// installs across the accounts that installed it: without it Stripe lists the
// installs on the platform's own account.
type InstallListParams struct {
	App     string
	Account string
	Status  string
	// Limit is the page size (1–100; 0: 100).
	Limit int
}

// ListInstalls lists the installs of mode with the platform's key (no Stripe-Account),
// following Stripe's pagination (starting_after) until has_more is false. The
// iteration stops at the first error, which it yields.
func (c *Clients) ListInstalls(ctx context.Context, mode Mode, p InstallListParams) iter.Seq2[*Install, error] {
	return func(yield func(*Install, error) bool) {
		mc, err := c.modeOrErr(mode)
		if err != nil {
			yield(nil, err)
			return
		}
		backend := c.bind(mc, call{platform: true}).API
		q := url.Values{}
		if p.App != "" {
			q.Set("app", p.App)
		}
		if p.Account != "" {
			q.Set("account", p.Account)
		}
		if p.Status != "" {
			q.Set("status", p.Status)
		}
		limit := p.Limit
		if limit <= 0 || limit > 100 {
			limit = 100
		}
		q.Set("limit", strconv.Itoa(limit))
		for {
			var page struct {
				Object  string     `json:"object"`
				HasMore bool       `json:"has_more"`
				Data    []*Install `json:"data"`
			}
			if err := rawCall(ctx, backend, mc.key, http.MethodGet, "/v1/apps/installs", q, &page); err != nil {
				yield(nil, err)
				return
			}
			for _, in := range page.Data {
				if !yield(in, nil) {
					return
				}
			}
			if !page.HasMore || len(page.Data) == 0 {
				return
			}
			q.Set("starting_after", page.Data[len(page.Data)-1].ID)
		}
	}
}

// RetrieveInstall loads one install of mode by id with the platform's key.
func (c *Clients) RetrieveInstall(ctx context.Context, mode Mode, id string) (*Install, error) {
	mc, err := c.modeOrErr(mode)
	if err != nil {
		return nil, err
	}
	if err := checkInstallID(id); err != nil {
		return nil, err
	}
	var in Install
	err = rawCall(ctx, c.bind(mc, call{platform: true}).API, mc.key, http.MethodGet, "/v1/apps/installs/"+id, nil, &in)
	if err != nil {
		return nil, err
	}
	return &in, nil
}

// ReauthorizeInstall is POST /v1/apps/installs/{id} on the client's account
// (Stripe-Account): it asks Stripe to reauthorize the install, granting what the
// version being installed requests as far as the caller may (an app developer cannot
// grant new access: the merchant approves it in the Dashboard). It returns the
// install as Stripe left it.
func (c *Client) ReauthorizeInstall(ctx context.Context, id string) (*Install, error) {
	return c.installWrite(ctx, "/v1/apps/installs/"+id, id)
}

// UninstallInstall is POST /v1/apps/installs/{id}/uninstall on the client's account:
// Stripe uninstalls the app there (status "uninstalling", then an
// apps.install.deleted event).
func (c *Client) UninstallInstall(ctx context.Context, id string) (*Install, error) {
	return c.installWrite(ctx, "/v1/apps/installs/"+id+"/uninstall", id)
}

func (c *Client) installWrite(ctx context.Context, path, id string) (*Install, error) {
	if err := checkInstallID(id); err != nil {
		return nil, err
	}
	key := c.mc.key
	if c.call.token != nil {
		key = "oauth_access_token" // replaced by the token in the transport
	}
	var in Install
	if err := rawCall(ctx, c.clients.bind(c.mc, c.call).API, key, http.MethodPost, path, nil, &in); err != nil {
		return nil, err
	}
	return &in, nil
}

func checkInstallID(id string) error {
	if !strings.HasPrefix(id, "appinst_") || strings.ContainsAny(id, "/?#% ") {
		return refuse("", fmt.Sprintf("%q is not an app install id (appinst_…)", id))
	}
	return nil
}

// rawCall makes one request through stripe-go's raw-request support on a bound
// backend (so the binding, idempotency, limits, retries and error mapping are those
// of every other call) with the Installs API's Stripe-Version, and decodes the answer.
func rawCall(ctx context.Context, backend stripe.Backend, key, method, path string, form url.Values, v any) error {
	rb, ok := backend.(stripe.RawRequestBackend)
	if !ok {
		return refuse("", "the Stripe backend does not support raw requests")
	}
	content := ""
	if len(form) > 0 {
		if method == http.MethodGet {
			path += "?" + form.Encode()
		} else {
			content = form.Encode()
		}
	}
	params := &stripe.RawParams{Params: stripe.Params{
		Context: ctx,
		Headers: http.Header{"Stripe-Version": {InstallsAPIVersion}},
	}}
	resp, err := rb.RawRequest(method, path, key, content, params)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.RawJSON, v); err != nil {
		return &Error{Code: apierror.CodeStripeError, Status: http.StatusBadGateway, Retryable: true, Err: err,
			Message: "Stripe's answer to " + method + " " + strings.SplitN(path, "?", 2)[0] + " is not the JSON expected"}
	}
	return nil
}

// RawRequest implements stripe.RawRequestBackend over the binding, as Call does.
func (b *boundBackend) RawRequest(method, path, key, content string, params *stripe.RawParams) (*stripe.APIResponse, error) {
	rb, ok := b.next.(stripe.RawRequestBackend)
	if !ok {
		return nil, refuse("", "the Stripe backend does not support raw requests")
	}
	if params == nil {
		params = &stripe.RawParams{}
	}
	state, restore, err := b.bind(method, path, params)
	if err != nil {
		return nil, err
	}
	defer restore()
	resp, err := rb.RawRequest(method, path, key, content, params)
	return resp, mapError(err, state)
}
