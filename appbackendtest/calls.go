package appbackendtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/jsjson"
	"github.com/appbackend/appbackend/internal/striperoles"
)

// httpClient is shared by every App; the timeout only bounds a hung server.
var httpClient = &http.Client{Timeout: WaitTimeout}

// Caller sends requests to an App as the UI extension does for a signed-in
// Dashboard user: signed with AppSecret the way Stripe signs fetchStripeSignature.
// Build one with App.As; WithRoles and WithLivemode return adjusted copies, so a
// Caller can be shared.
type Caller struct {
	app      *App
	userID   string
	account  string
	roles    []string
	livemode *bool
}

// As returns a Caller for the Dashboard user userID (usr_…) of account (acct_…).
func (a *App) As(userID, account string) Caller {
	return Caller{app: a, userID: userID, account: account}
}

// WithRoles returns a copy of c whose requests sign the user's roles, as a UI
// extension does by adding userContext.roles to its payload under stripe_roles: a
// list of RoleDefinition objects {"id", "name", "type"}, of which appbackend trusts
// the ids only (Identity.Roles, HasRole, appauth.RequireRole). ids are built-in role
// ids ("admin", "super_admin", "developer", "view_only", …), typed "builtIn", or a
// custom role's id, typed "custom". Roles are signed in the body, so only requests
// with a body carry them.
func (c Caller) WithRoles(ids ...string) Caller {
	c.roles = slices.Clone(ids)
	return c
}

// WithLivemode returns a copy of c whose requests sign "livemode", as an app does to
// tell app.Stripe(ctx) which mode the Dashboard is in: in the payload of a request with
// a body, in the query (?livemode=, signed) of a GET or DELETE.
func (c Caller) WithLivemode(live bool) Caller {
	c.livemode = &live
	return c
}

// Post sends a signed POST of path (/api/…) with payload as the additional signed
// payload, see Do.
func (c Caller) Post(t testing.TB, path string, payload any) *Response {
	t.Helper()
	return c.Do(t, http.MethodPost, path, payload)
}

// Get sends a signed GET of path, the user and account in its query string.
func (c Caller) Get(t testing.TB, path string) *Response {
	t.Helper()
	return c.Do(t, http.MethodGet, path, nil)
}

// Delete sends a signed DELETE of path, the user and account in its query string.
func (c Caller) Delete(t testing.TB, path string) *Response {
	t.Helper()
	return c.Do(t, http.MethodDelete, path, nil)
}

// Do sends a signed request and returns the app's response; it fails the test only
// if no response came.
//
// A POST, PUT or PATCH carries a JSON body, the signed string itself:
// JSON.stringify({...payload, stripe_roles, livemode, user_id, account_id}) as the
// UI extension sends it. payload is an object: a map, a struct, or JSON text as a
// string, []byte or json.RawMessage. With no payload, roles or livemode the body is
// the default {"user_id", "account_id"}, which proves only those two: the handler's
// Identity.Payload is then nil.
//
// A GET, HEAD or DELETE has no body: user_id and account_id go in the query string
// (added to any path already has), with livemode when WithLivemode set one, and only
// they are signed; payload and roles are refused there.
func (c Caller) Do(t testing.TB, method, path string, payload any) *Response {
	t.Helper()
	u, err := url.Parse(c.app.URL + path)
	if err != nil {
		t.Fatalf("appbackendtest: path %q: %v", path, err)
	}
	bodyless := method == http.MethodGet || method == http.MethodHead || method == http.MethodDelete
	if bodyless {
		if payload != nil || c.roles != nil {
			t.Fatalf("appbackendtest: a %s has no body to sign a payload or roles in; use POST", method)
		}
		q := u.Query()
		if c.livemode != nil {
			// As the UI client's get and del: fetchStripeSignature({livemode}), and
			// livemode in the query beside the ids.
			q.Set("livemode", fmt.Sprint(*c.livemode))
		}
		q.Set("user_id", c.userID)
		q.Set("account_id", c.account)
		u.RawQuery = q.Encode()
	}
	signed, err := c.signedPayload(payload)
	if err != nil {
		t.Fatalf("appbackendtest: %s %s: %v", method, path, err)
	}
	header, signedBody, err := appauth.Sign([]string{AppSecret}, time.Now(), c.userID, c.account, signed)
	if err != nil {
		t.Fatalf("appbackendtest: sign: %v", err)
	}
	var body []byte
	if !bodyless {
		body = signedBody
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatalf("appbackendtest: %v", err)
	}
	req.Header.Set(appauth.SignatureHeader, header)
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, req)
}

// signedPayload merges payload, roles and livemode into the JSON object text
// appauth.Sign takes; nil for the default signature.
func (c Caller) signedPayload(payload any) ([]byte, error) {
	var raw []byte
	switch p := payload.(type) {
	case nil:
	case string:
		raw = []byte(p)
	case []byte:
		raw = p
	case json.RawMessage:
		raw = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		raw = b
	}
	if raw == nil && c.roles == nil && c.livemode == nil {
		return nil, nil
	}
	obj := jsjson.NewObject()
	if raw != nil {
		v, err := jsjson.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("payload is not JSON: %w", err)
		}
		if v.Kind != jsjson.Object {
			return nil, fmt.Errorf("payload must be a JSON object, not %s", v.Kind)
		}
		obj = v
	}
	if c.roles != nil {
		obj.Members.Set(striperoles.Key, striperoles.Value(c.roles))
	}
	if c.livemode != nil {
		obj.Members.Set("livemode", jsjson.BoolValue(*c.livemode))
	}
	return jsjson.AppendStringify(nil, obj), nil
}

// Response is the app's answer to a request.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it is not JSON of v's shape.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("appbackendtest: response %d is not the JSON expected: %v\n%s", r.Status, err, r.Body)
	}
}

// ErrorCode is the code of an error response ({"error":{"code":…}}), "" for any
// other body.
func (r *Response) ErrorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// String is the status and the body, for failure messages:
//
//	require.Equal(t, http.StatusOK, res.Status, res)
func (r *Response) String() string {
	return fmt.Sprintf("%d %s: %s", r.Status, http.StatusText(r.Status), bytes.TrimSpace(r.Body))
}

// send sends req and reads the whole response.
func send(t testing.TB, req *http.Request) *Response {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("appbackendtest: %s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("appbackendtest: %s %s: read the response: %v", req.Method, req.URL.Path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}
