package appauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/stretchr/testify/require"
)

// whoami is the handler behind Protect in these tests: it echoes the identity and the
// body it reads, proving both reach the handler.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, ok := FromContext(r.Context())
	if !ok {
		http.Error(w, "no identity", http.StatusInternalServerError)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"user_id": id.UserID, "account_id": id.AccountID, "roles": id.Roles,
		"payload": id.Payload, "signed_as": id.SignedAs.String(), "body": string(body),
	})
})

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func serve(t *testing.T, h http.Handler, r *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := response{status: rec.Code, header: rec.Header()}
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &res.body); err != nil {
			require.FailNow(t, fmt.Sprintf("response body %q is not JSON: %v", rec.Body.String(), err))
		}
	}
	return res
}

func signedRequest(method, target, header string, body string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	if header != "" {
		r.Header.Set(SignatureHeader, header)
	}
	return r
}

func TestProtect(t *testing.T) {
	t.Parallel()

	def := newSigned(t)
	withData := newSigned(t, withPayload(`{"amount":100}`))
	unsigned := `{"note":"hi","user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`

	tests := []struct {
		name        string
		request     func() *http.Request
		wantStatus  int
		wantCode    string // error code, or "" for a success
		wantMessage string
		check       func(t *testing.T, body map[string]any)
	}{
		{name: "default signature", wantStatus: 200,
			request: func() *http.Request { return signedRequest("POST", "/api/whoami", def.header, unsigned) },
			check: func(t *testing.T, body map[string]any) {
				want := map[string]any{"user_id": testUser, "account_id": testAccount, "roles": nil, "payload": nil, "signed_as": "default", "body": unsigned}
				assertJSONEqual(t, body, want)
			}},
		{name: "signed payload", wantStatus: 200,
			request: func() *http.Request {
				return signedRequest("POST", "/api/whoami", withData.header, string(withData.body))
			},
			check: func(t *testing.T, body map[string]any) {
				want := map[string]any{"user_id": testUser, "account_id": testAccount, "roles": nil,
					"payload": map[string]any{"amount": 100.0}, "signed_as": "body", "body": string(withData.body)}
				assertJSONEqual(t, body, want)
			}},
		{name: "GET with the identity in the query", wantStatus: 200,
			request: func() *http.Request {
				return signedRequest("GET", "/api/whoami?user_id=usr_K6yd2CbXLO9A5G&account_id=acct_1JSkf6FRwUQjTSJE", def.header, "")
			},
			check: func(t *testing.T, body map[string]any) {
				require.EqualValues(t, testUser, body["user_id"], "body = %v, want user %s and an empty body", body, testUser)
				require.EqualValues(t, "", body["body"], "body = %v, want user %s and an empty body", body, testUser)
			}},
		{name: "missing header", wantStatus: 401, wantCode: "signature_missing", wantMessage: "no Stripe-Signature header",
			request: func() *http.Request { return signedRequest("POST", "/api/whoami", "", defaultBody) }},
		{name: "malformed header", wantStatus: 401, wantCode: "signature_invalid",
			wantMessage: "malformed Stripe-Signature header: a v1 signature is not 64 hexadecimal digits",
			request:     func() *http.Request { return signedRequest("POST", "/api/whoami", "t=1700000000,v1=abc", defaultBody) }},
		{name: "two signature headers", wantStatus: 401, wantCode: "signature_invalid", wantMessage: "more than one Stripe-Signature header",
			request: func() *http.Request {
				r := signedRequest("POST", "/api/whoami", def.header, defaultBody)
				r.Header.Add(SignatureHeader, def.header)
				return r
			}},
		{name: "v0 only", wantStatus: 401, wantCode: "signature_invalid", wantMessage: "Stripe-Signature header has no v1 signature",
			request: func() *http.Request {
				return signedRequest("POST", "/api/whoami", "t=1700000000,v0="+sigA, defaultBody)
			}},
		{name: "wrong secret", wantStatus: 401, wantCode: "signature_invalid", wantMessage: "no signature matches",
			request: func() *http.Request {
				return signedRequest("POST", "/api/whoami", newSigned(t, withSecrets("absec_wrong")).header, defaultBody)
			}},
		{name: "tampered body", wantStatus: 401, wantCode: "signature_invalid", wantMessage: "no signature matches",
			request: func() *http.Request {
				return signedRequest("POST", "/api/whoami", withData.header, strings.Replace(string(withData.body), "100", "1000", 1))
			}},
		{name: "expired", wantStatus: 401, wantCode: "signature_expired", wantMessage: "signature timestamp is too old",
			request: func() *http.Request {
				return signedRequest("POST", "/api/whoami", newSigned(t, signedAt(testNow.Add(-time.Hour))).header, defaultBody)
			}},
		{name: "future", wantStatus: 401, wantCode: "signature_expired", wantMessage: "signature timestamp is in the future",
			request: func() *http.Request {
				return signedRequest("POST", "/api/whoami", newSigned(t, signedAt(testNow.Add(time.Hour))).header, defaultBody)
			}},
		{name: "body not JSON", wantStatus: 400, wantCode: "bad_request",
			wantMessage: "request body is not valid JSON: unexpected character 'u', expected a value at offset 0",
			request:     func() *http.Request { return signedRequest("POST", "/api/whoami", def.header, "user_id=usr_1") }},
		{name: "no identity", wantStatus: 400, wantCode: "bad_request", wantMessage: "user_id and account_id strings are required",
			request: func() *http.Request { return signedRequest("POST", "/api/whoami", def.header, `{"user_id":"usr_1"}`) }},
		{name: "GET without identity", wantStatus: 400, wantCode: "bad_request", wantMessage: "user_id and account_id strings are required",
			request: func() *http.Request { return signedRequest("GET", "/api/whoami", def.header, "") }},
		{name: "body over the limit", wantStatus: 413, wantCode: "body_too_large", wantMessage: "request body is larger than 1048576 bytes",
			request: func() *http.Request {
				return signedRequest("POST", "/api/whoami", def.header, `{"pad":"`+strings.Repeat("x", DefaultMaxBody)+`"}`)
			}},
		{name: "body over the limit without Content-Length", wantStatus: 413, wantCode: "body_too_large",
			wantMessage: "request body is larger than 1048576 bytes",
			request: func() *http.Request {
				r := signedRequest("POST", "/api/whoami", def.header, `{"pad":"`+strings.Repeat("x", DefaultMaxBody)+`"}`)
				r.ContentLength = -1
				return r
			}},
		{name: "body failing to read", wantStatus: 400, wantCode: "bad_request", wantMessage: "could not read the request body",
			request: func() *http.Request {
				r := signedRequest("POST", "/api/whoami", def.header, "")
				r.Body = io.NopCloser(iotest.ErrReader(io.ErrUnexpectedEOF))
				r.ContentLength = -1
				return r
			}},
	}
	v := newTestVerifier(t, testSecret)
	h := v.Protect(whoami)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := serve(t, h, tt.request())
			require.Equal(t, tt.wantStatus, res.status, "status = %d, want %d (body %v)", res.status, tt.wantStatus, res.body)
			got := res.header.Get("Access-Control-Allow-Origin")
			require.Equal(t, "*", got, "Access-Control-Allow-Origin = %q, want *", got)
			if tt.wantCode != "" {
				want := map[string]any{"error": map[string]any{"code": tt.wantCode, "message": tt.wantMessage}}
				assertJSONEqual(t, res.body, want)
				got := res.header.Get("Content-Type")
				require.Equal(t, "application/json", got, "Content-Type = %q, want application/json", got)
			}
			if tt.check != nil {
				tt.check(t, res.body)
			}
		})
	}
}

func TestProtectMaxBody(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, testSecret)
	req := newSigned(t)
	tests := []struct {
		name       string
		limit      int64
		wantStatus int
	}{
		{"limit equal to the body", int64(len(req.body)), 200},
		{"limit one byte short", int64(len(req.body)) - 1, 413},
		{"zero means the default", 0, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := v.Middleware(WithMaxBody(tt.limit))(whoami)
			for _, contentLength := range []int64{int64(len(req.body)), -1} {
				r := signedRequest("POST", "/api/whoami", req.header, string(req.body))
				r.ContentLength = contentLength
				res := serve(t, h, r)
				require.Equal(t, tt.wantStatus, res.status, "Content-Length %d: status = %d, want %d", contentLength, res.status, tt.wantStatus)
			}
		})
	}
}

func TestProtectPreflight(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, testSecret)
	called := false
	h := v.Protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	r := httptest.NewRequest("OPTIONS", "/api/whoami", nil)
	r.Header.Set("Origin", "null")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "stripe-signature,content-type")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusNoContent {
		require.FailNow(t, fmt.Sprintf("status = %d, want 204", rec.Code))
	}
	require.False(t, called, "the protected handler ran for a preflight")
	want := map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
		"Access-Control-Allow-Headers": "Stripe-Signature, Content-Type",
		"Access-Control-Max-Age":       "7200",
	}
	for name, value := range want {
		got := rec.Header().Get(name)
		require.Equal(t, value, got)
	}
	if rec.Body.Len() != 0 {
		require.FailNow(t, fmt.Sprintf("body = %q, want none", rec.Body.String()))
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	h := CORS(http.NotFoundHandler())
	tests := []struct {
		method     string
		wantStatus int
	}{
		{"OPTIONS", 204},
		{"GET", 404},
		{"POST", 404},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, "/api/missing", nil))
			if rec.Code != tt.wantStatus {
				require.FailNow(t, fmt.Sprintf("status = %d, want %d", rec.Code, tt.wantStatus))
			}
			got := rec.Header().Get("Access-Control-Allow-Origin")
			require.Equal(t, "*", got, "Access-Control-Allow-Origin = %q, want *", got)
			if got, want := rec.Header().Get("Access-Control-Allow-Headers") != "", tt.method == "OPTIONS"; got != want {
				require.FailNow(t, fmt.Sprintf("Access-Control-Allow-Headers present = %v, want %v", got, want))
			}
		})
	}
}

func TestRequireRole(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, testSecret)
	roles := func(json string) signed { return newSigned(t, withPayload(`{"stripe_roles":`+json+`}`)) }
	tests := []struct {
		name       string
		require    []string
		req        signed
		wantStatus int
	}{
		{"has the role", []string{"admin"}, roles(`[{"id":"admin","name":"Administrator","type":"builtIn"}]`), 200},
		{"has one of the roles", []string{"admin", "developer"}, roles(`[{"id":"view_only","type":"builtIn"},{"id":"developer","type":"builtIn"}]`), 200},
		{"has another role", []string{"admin"}, roles(`[{"id":"view_only","name":"View only","type":"builtIn"}]`), 403},
		{"custom role named admin", []string{"admin"}, roles(`[{"id":"rol_123","name":"admin","type":"custom"}]`), 403},
		{"role without id named admin", []string{"admin"}, roles(`[{"name":"admin","type":"custom"}]`), 403},
		{"default signature", []string{"admin"}, newSigned(t), 403},
		{"no role required", nil, roles(`[{"id":"admin"}]`), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := v.Protect(RequireRole(tt.require...)(whoami))
			res := serve(t, h, signedRequest("POST", "/api/x", tt.req.header, string(tt.req.body)))
			require.Equal(t, tt.wantStatus, res.status, "status = %d, want %d (%v)", res.status, tt.wantStatus, res.body)
			require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"), "Access-Control-Allow-Origin missing")
			if tt.wantStatus == 403 {
				errBody, _ := res.body["error"].(map[string]any)
				require.EqualValues(t, "role_required", errBody["code"], "body = %v, want code role_required", res.body)
			}
		})
	}
}

func TestRequireRoleWithoutIdentity(t *testing.T) {
	t.Parallel()
	res := serve(t, RequireRole("admin")(whoami), httptest.NewRequest("GET", "/", nil))
	want := map[string]any{"error": map[string]any{"code": "role_required", "message": "this route requires the role admin"}}
	require.Equal(t, 403, res.status, "status = %d, want 403", res.status)
	assertJSONEqual(t, res.body, want)
}

func TestIdentityContext(t *testing.T) {
	t.Parallel()
	id, ok := FromContext(t.Context())
	require.False(t, ok, "FromContext(empty) = %v, %v; want nil, false", id, ok)
	require.Nil(t, id, "FromContext(empty) = %v, %v; want nil, false", id, ok)
	want := &Identity{UserID: "usr_1"}
	if got, ok := FromContext(NewContext(t.Context(), want)); !ok || got != want {
		require.FailNow(t, fmt.Sprintf("FromContext = %v, %v; want %v, true", got, ok, want))
	}
	if id, ok := FromContext(NewContext(t.Context(), nil)); ok || id != nil {
		require.FailNow(t, fmt.Sprintf("FromContext(nil identity) = %v, %v; want nil, false", id, ok))
	}
}

func TestHasRole(t *testing.T) {
	t.Parallel()
	id := &Identity{Roles: []string{"developer", "view_only"}}
	tests := []struct {
		name string
		id   *Identity
		ids  []string
		want bool
	}{
		{"one of them", id, []string{"admin", "developer"}, true},
		{"none of them", id, []string{"admin", "super_admin"}, false},
		{"no ids", id, nil, false},
		{"nil identity", nil, []string{"admin"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.id.HasRole(tt.ids...)
			require.True(t, got == tt.want, "HasRole(%q) = %v, want %v", tt.ids, got, tt.want)
		})
	}
}

func assertJSONEqual(t *testing.T, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	require.Equal(t, string(w), string(g))
}

// TestSignatureFailure: one classification of the sentinels, which HTTPError, the
// webhook receiver and the metrics share.
func TestSignatureFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		want     string
		wantCode string
	}{
		{"no header", ErrNotSigned, FailureMissing, "signature_missing"},
		{"malformed header", ErrMalformedHeader, FailureMalformed, "signature_invalid"},
		{"no timestamp", ErrNoTimestamp, FailureMalformed, "signature_invalid"},
		{"no v1", ErrNoSignatures, FailureMalformed, "signature_invalid"},
		{"too old", ErrTooOld, FailureExpired, "signature_expired"},
		{"in the future", fmt.Errorf("verify: %w", ErrTooNew), FailureExpired, "signature_expired"},
		{"no match", ErrNoValidSignature, FailureInvalid, "signature_invalid"},
		{"bad body", ErrBadBody, "", "bad_request"},
		{"no identity", ErrNoIdentity, "", "bad_request"},
		{"busy", ErrBusy, "", "unavailable"},
		{"elsewhere", errors.New("disk full"), "", ""},
		{"nil", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := SignatureFailure(tt.err)
			require.Equal(t, tt.want, got, "SignatureFailure(%v) = %q, want %q", tt.err, got, tt.want)
			if tt.err == nil {
				return
			}
			var e *apierror.Error
			if errors.As(HTTPError(tt.err), &e) != (tt.wantCode != "") {
				require.FailNow(t, fmt.Sprintf("HTTPError(%v) = %v, want code %q", tt.err, HTTPError(tt.err), tt.wantCode))
			}
			if e != nil && string(e.Code) != tt.wantCode {
				require.FailNow(t, fmt.Sprintf("HTTPError(%v).Code = %q, want %q", tt.err, e.Code, tt.wantCode))
			}
		})
	}
}
