// Package stripetest provides what tests of code that calls Stripe need: Fake, a
// recording in-memory Stripe for what stripe-mock ignores (Stripe-Account, idempotent
// replays, state, scripted failures, concurrency), and MockURL, a running stripe-mock
// for request shapes.
package stripetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one request the Fake received.
type Request struct {
	Method string
	Path   string
	// Query holds a GET's parameters, Form a POST's.
	Query url.Values
	Form  url.Values
	// Account is the Stripe-Account header ("" for the platform).
	Account string
	// Authorization is the whole header ("Bearer sk_test_…").
	Authorization  string
	IdempotencyKey string
	Header         http.Header
}

// Key is the API key the request was made with.
func (r Request) Key() string { return strings.TrimPrefix(r.Authorization, "Bearer ") }

// Response is a scripted answer.
type Response struct {
	Status int
	// Body is sent as is; empty means a JSON error of type api_error for a 5xx,
	// invalid_request_error otherwise.
	Body   string
	Header http.Header
	// Perform makes the Fake carry out the request first (creating the customer,
	// saving the idempotent result) and then answer with this response, as when
	// Stripe did the work and the answer was lost.
	Perform bool
}

// Fake is a recording Stripe API on an httptest server. It knows customers (create,
// with idempotent replay by key, account and mode), accounts, the balance and the
// Secret Store; anything else is a 404. Scripted responses go first. Safe for
// concurrent use.
type Fake struct {
	// URL is the API base to configure (STRIPE_API_BASE).
	URL string

	srv       *httptest.Server
	mu        sync.Mutex
	requests  []Request
	scripts   map[string][]Response
	delay     time.Duration
	inFlight  map[string]int
	maxFlight map[string]int
	saved     map[string]savedResponse
	customers map[string]int
	names     map[string]string
	secrets   map[secretKey]fakeSecret
	seq       int
}

type savedResponse struct {
	status int
	body   []byte
}

type secretKey struct {
	mode, account, scope, user, name string
}

type fakeSecret struct {
	id        string
	payload   string
	expiresAt int64
	created   int64
}

// NewFake starts a Fake, closed when the test ends.
func NewFake(t testing.TB) *Fake {
	t.Helper()
	f := StartFake()
	t.Cleanup(f.Close)
	return f
}

// StartFake starts a Fake outside a test (an example, a TestMain); Close stops it.
func StartFake() *Fake {
	f := &Fake{
		scripts:   make(map[string][]Response),
		inFlight:  make(map[string]int),
		maxFlight: make(map[string]int),
		saved:     make(map[string]savedResponse),
		customers: make(map[string]int),
		names:     make(map[string]string),
		secrets:   make(map[secretKey]fakeSecret),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// Close stops the Fake's server.
func (f *Fake) Close() { f.srv.Close() }

// Script queues responses for the next requests to method and path, in order; once
// they are used up, the Fake answers normally again.
func (f *Fake) Script(method, path string, responses ...Response) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := method + " " + path
	f.scripts[k] = append(f.scripts[k], responses...)
}

// SetDelay makes every request take at least d, so that concurrency shows.
func (f *Fake) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// SetAccountName sets the display name GET /v1/accounts/{id} answers for account.
func (f *Fake) SetAccountName(account, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names[account] = name
}

// Requests returns every request received so far, in order of arrival.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// MaxInFlight is the most requests for account that were in progress at once.
func (f *Fake) MaxInFlight(account string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxFlight[account]
}

// Customers is how many customers were created on account in mode ("live" or "test").
func (f *Fake) Customers(account, mode string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.customers[mode+" "+account]
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "unparseable body")
		return
	}
	req := Request{
		Method:         r.Method,
		Path:           r.URL.Path,
		Query:          r.URL.Query(),
		Form:           r.PostForm,
		Account:        r.Header.Get("Stripe-Account"),
		Authorization:  r.Header.Get("Authorization"),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Header:         r.Header.Clone(),
	}

	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.inFlight[req.Account]++
	f.maxFlight[req.Account] = max(f.maxFlight[req.Account], f.inFlight[req.Account])
	delay := f.delay
	var script *Response
	if q := f.scripts[req.Method+" "+req.Path]; len(q) > 0 {
		script = &q[0]
		f.scripts[req.Method+" "+req.Path] = q[1:]
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight[req.Account]--
		f.mu.Unlock()
	}()
	if delay > 0 {
		time.Sleep(delay)
	}

	if script != nil {
		if script.Perform {
			f.handle(httptest.NewRecorder(), req)
		}
		for k, v := range script.Header {
			w.Header()[k] = v
		}
		if script.Body == "" {
			typ := "invalid_request_error"
			if script.Status >= 500 {
				typ = "api_error"
			}
			writeError(w, script.Status, typ, fmt.Sprintf("scripted %d", script.Status))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(script.Status)
		_, _ = w.Write([]byte(script.Body))
		return
	}
	f.handle(w, req)
}

// handle answers req as Stripe would, with idempotent replay of writes.
func (f *Fake) handle(w http.ResponseWriter, req Request) {
	mode, ok := keyMode(req.Key())
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "Invalid API Key provided: "+req.Key())
		return
	}
	replayKey := ""
	if req.IdempotencyKey != "" && req.Method != http.MethodGet {
		replayKey = mode + " " + req.Account + " " + req.IdempotencyKey
		f.mu.Lock()
		saved, ok := f.saved[replayKey]
		f.mu.Unlock()
		if ok {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(saved.status)
			_, _ = w.Write(saved.body)
			return
		}
	}
	status, body := f.route(mode, req)
	if replayKey != "" {
		f.mu.Lock()
		f.saved[replayKey] = savedResponse{status: status, body: body}
		f.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (f *Fake) route(mode string, req Request) (int, []byte) {
	live := mode == "live"
	switch {
	case req.Method == http.MethodPost && req.Path == "/v1/customers":
		f.mu.Lock()
		f.customers[mode+" "+req.Account]++
		f.seq++
		id := fmt.Sprintf("cus_fake%d", f.seq)
		f.mu.Unlock()
		return jsonBody(http.StatusOK, map[string]any{
			"id": id, "object": "customer", "livemode": live,
			"email": nilIfEmpty(req.Form.Get("email")), "name": nilIfEmpty(req.Form.Get("name")),
		})
	case req.Method == http.MethodGet && req.Path == "/v1/account":
		id := req.Account
		if id == "" {
			id = "acct_platform"
		}
		return f.account(id)
	case req.Method == http.MethodGet && strings.HasPrefix(req.Path, "/v1/accounts/"):
		return f.account(strings.TrimPrefix(req.Path, "/v1/accounts/"))
	case req.Method == http.MethodGet && req.Path == "/v1/balance":
		return jsonBody(http.StatusOK, map[string]any{
			"object": "balance", "livemode": live,
			"available": []any{map[string]any{"amount": 0, "currency": "usd"}},
			"pending":   []any{map[string]any{"amount": 0, "currency": "usd"}},
		})
	case strings.HasPrefix(req.Path, "/v1/apps/secrets"):
		return f.secretStore(mode, req)
	}
	return errorBody(http.StatusNotFound, "invalid_request_error", "Unrecognized request URL ("+req.Method+": "+req.Path+")")
}

func (f *Fake) account(id string) (int, []byte) {
	f.mu.Lock()
	name, ok := f.names[id]
	f.mu.Unlock()
	if !ok {
		name = "Fake merchant " + id
	}
	return jsonBody(http.StatusOK, map[string]any{
		"id": id, "object": "account",
		"business_profile": map[string]any{"name": name},
		"settings":         map[string]any{"dashboard": map[string]any{"display_name": name}},
	})
}

func (f *Fake) secretStore(mode string, req Request) (int, []byte) {
	params := req.Form
	if req.Method == http.MethodGet {
		params = req.Query
	}
	scope, user := params.Get("scope[type]"), params.Get("scope[user]")
	switch {
	case scope != "account" && scope != "user":
		return errorBody(http.StatusBadRequest, "invalid_request_error", "scope[type] must be account or user")
	case scope == "user" && user == "":
		return errorBody(http.StatusBadRequest, "invalid_request_error", "scope[user] is required for a user scope")
	case scope == "account" && user != "":
		return errorBody(http.StatusBadRequest, "invalid_request_error", "scope[user] is not allowed for an account scope")
	}
	k := secretKey{mode: mode, account: req.Account, scope: scope, user: user, name: params.Get("name")}
	render := func(k secretKey, s fakeSecret, withPayload bool) map[string]any {
		sc := map[string]any{"type": k.scope}
		if k.user != "" {
			sc["user"] = k.user
		}
		m := map[string]any{"id": s.id, "object": "apps.secret", "name": k.name, "livemode": mode == "live",
			"created": s.created, "expires_at": nilIfZero(s.expiresAt), "scope": sc}
		if withPayload {
			m["payload"] = s.payload
		}
		return m
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case req.Method == http.MethodPost && req.Path == "/v1/apps/secrets":
		if k.name == "" || !params.Has("payload") {
			return errorBody(http.StatusBadRequest, "invalid_request_error", "name and payload are required")
		}
		s, ok := f.secrets[k]
		if !ok {
			f.seq++
			s = fakeSecret{id: fmt.Sprintf("appsecret_fake%d", f.seq), created: time.Now().Unix()}
		}
		s.payload = params.Get("payload")
		s.expiresAt = 0
		if v := params.Get("expires_at"); v != "" {
			_, _ = fmt.Sscan(v, &s.expiresAt)
		}
		f.secrets[k] = s
		return jsonBody(http.StatusOK, render(k, s, false))
	case req.Method == http.MethodGet && req.Path == "/v1/apps/secrets/find":
		s, ok := f.secrets[k]
		if !ok {
			return errorBody(http.StatusNotFound, "invalid_request_error", "No such secret: '"+k.name+"'")
		}
		expanded := false
		for _, e := range params["expand[]"] {
			expanded = expanded || e == "payload"
		}
		for _, e := range params["expand[0]"] {
			expanded = expanded || e == "payload"
		}
		return jsonBody(http.StatusOK, render(k, s, expanded))
	case req.Method == http.MethodPost && req.Path == "/v1/apps/secrets/delete":
		s, ok := f.secrets[k]
		if !ok {
			return errorBody(http.StatusNotFound, "invalid_request_error", "No such secret: '"+k.name+"'")
		}
		delete(f.secrets, k)
		m := render(k, s, false)
		m["deleted"] = true
		return jsonBody(http.StatusOK, m)
	case req.Method == http.MethodGet && req.Path == "/v1/apps/secrets":
		data := []any{}
		for sk, s := range f.secrets {
			if sk.mode == k.mode && sk.account == k.account && sk.scope == k.scope && sk.user == k.user {
				data = append(data, render(sk, s, false))
			}
		}
		return jsonBody(http.StatusOK, map[string]any{"object": "list", "url": "/v1/apps/secrets", "has_more": false, "data": data})
	}
	return errorBody(http.StatusNotFound, "invalid_request_error", "Unrecognized request URL ("+req.Method+": "+req.Path+")")
}

// keyMode tells the mode of a secret or restricted key.
func keyMode(key string) (string, bool) {
	for _, prefix := range []string{"sk_", "rk_"} {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(rest, "live_"):
			return "live", true
		case strings.HasPrefix(rest, "test_"):
			return "test", true
		}
	}
	return "", false
}

func jsonBody(status int, v any) (int, []byte) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the Fake's own maps are marshalled
	}
	return status, b
}

func errorBody(status int, typ, message string) (int, []byte) {
	return jsonBody(status, map[string]any{"error": map[string]any{"type": typ, "message": message}})
}

func writeError(w http.ResponseWriter, status int, typ, message string) {
	_, body := errorBody(status, typ, message)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nilIfZero(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}
