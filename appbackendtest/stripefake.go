package appbackendtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// StripeRequest is one request a StripeFake received.
type StripeRequest struct {
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
func (r StripeRequest) Key() string { return strings.TrimPrefix(r.Authorization, "Bearer ") }

// Livemode reports whether the request was made with a live key.
func (r StripeRequest) Livemode() bool {
	mode, _ := keyMode(r.Key())
	return mode == "live"
}

// StripeResponse is a scripted answer of a StripeFake (see StripeFake.Script).
type StripeResponse struct {
	Status int
	// Body is sent as is; empty means a JSON error of type api_error for a 5xx,
	// invalid_request_error otherwise.
	Body   string
	Header http.Header
	// Perform makes the fake carry out the request first (creating the object,
	// saving the idempotent result) and then answer with this response, as when
	// Stripe did the work and the answer was lost.
	Perform bool
}

// StripeFake is a recording, in-memory Stripe API on a loopback HTTP server, for what
// stripe-mock cannot do: it keeps state per account and mode, replays idempotent
// writes, answers scripted failures and records every request. Safe for concurrent
// use.
//
// It answers any resource generically, as Stripe's API is shaped:
//
//   - POST /v1/{resource} creates an object: an id with the resource's prefix
//     ("cus_" for customers, "in_" for invoices, "pi_" for payment_intents, …, else
//     the singular name, "widget_" for widgets), "object" (the singular name,
//     "checkout.session" for checkout/sessions), "livemode", "created", and the
//     posted form parameters as fields: metadata[k]=v becomes "metadata": {"k": "v"},
//     items[0][price]=p a list of objects, an integer or true/false a number or a
//     boolean (except in metadata and *_decimal fields, which stay strings);
//   - GET /v1/{resource}/{id} returns the stored object, or 404 with Stripe's error
//     shape (resource_missing);
//   - POST /v1/{resource}/{id} updates it: fields replaced, nested objects merged,
//     metadata[k]= (empty) removing a key, as Stripe does;
//   - DELETE /v1/{resource}/{id} deletes it ({"id", "object", "deleted": true});
//   - GET /v1/{resource} lists them, newest first, in Stripe's list shape, with
//     limit (default 10), starting_after and ending_before, and filtered by any
//     other plain parameter equal to a top-level field (customer=cus_…).
//
// Objects live per Stripe-Account (none: the platform) and per mode (the key's
// sk_test_/sk_live_ prefix; an rk_ key only if the fake issued it, see restrictedkeys.go): an account never sees another's, nor test
// objects live ones. A path segment is taken for an id when it holds a digit or a
// capital letter, or names a stored object; resources are lowercase, so
// /v1/billing/meters is a resource and /v1/customers/cus_1 an object. Deeper paths
// (/v1/invoices/in_1/pay) are 404s unless scripted.
//
// Beside that, it knows GET /v1/account and /v1/accounts/{id} (a display name, see
// SetAccountName), GET /v1/balance (zero in usd) and the Secret Store
// (/v1/apps/secrets: set, find, delete, list, per scope) and the App Installs API
// (/v1/apps/installs, API version 2026-09-30.endive): GET lists the installs of the
// key's mode in Stripe's list shape (newest first; limit, starting_after,
// ending_before, has_more, url; filtered by app, account, status, channel and
// approval_required — the platform's key sees the merchants' installs only when it
// filters by app, as Stripe's does), GET …/{id} retrieves one, POST …/{id}
// reauthorizes and POST …/{id}/uninstall uninstalls (both through the installing
// account's Stripe-Account). Tests seed installs with PutInstall, and change them as a
// merchant would with ApproveInstall and DeleteInstall; App.InstallCreated,
// InstallUpdated and InstallDeleted also send the apps.install.* event. A write with an
// Idempotency-Key is answered again from its first result when repeated (header
// Idempotent-Replayed: true). A key without a mode prefix is a 401.
//
// Tests may seed objects with Put and read them back with Get and List.
type StripeFake struct {
	// URL is the API base to configure (Config.APIBase, STRIPE_API_BASE).
	URL string

	srv       *httptest.Server
	mu        sync.Mutex
	requests  []StripeRequest
	scripts   map[string][]StripeResponse
	delay     time.Duration
	inFlight  map[string]int
	maxFlight map[string]int
	saved     map[string]savedResponse
	objects   map[collectionKey]*collection
	names     map[string]string
	secrets   map[secretKey]fakeSecret
	seq       int
	oauth     oauthFake
	// restricted holds the rk_ keys the fake knows (restrictedkeys.go).
	restricted map[string]*restrictedGrant
	installs   fakeInstalls
}

type savedResponse struct {
	status int
	body   []byte
}

// collectionKey names the objects of one resource in one account and mode.
type collectionKey struct {
	mode, account, resource string
}

// collection holds objects in creation order.
type collection struct {
	ids  []string
	byID map[string]map[string]any
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

// NewStripeFake starts a StripeFake, closed when the test ends. Start starts one for
// each App unless told otherwise; NewStripeFake is for code that calls Stripe without
// an App.
func NewStripeFake(t testing.TB) *StripeFake {
	t.Helper()
	f := StartStripeFake()
	t.Cleanup(f.Close)
	return f
}

// StartStripeFake starts a StripeFake outside a test (an example, a TestMain); Close
// stops it.
func StartStripeFake() *StripeFake {
	f := &StripeFake{
		scripts:   make(map[string][]StripeResponse),
		inFlight:  make(map[string]int),
		maxFlight: make(map[string]int),
		saved:     make(map[string]savedResponse),
		objects:   make(map[collectionKey]*collection),
		names:     make(map[string]string),
		secrets:   make(map[secretKey]fakeSecret),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// Close stops the fake's server.
func (f *StripeFake) Close() { f.srv.Close() }

// Script queues responses for the next requests to method and path, in order; once
// they are used up, the fake answers normally again.
func (f *StripeFake) Script(method, path string, responses ...StripeResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := method + " " + path
	f.scripts[k] = append(f.scripts[k], responses...)
}

// SetDelay makes every request take at least d, so that concurrency shows.
func (f *StripeFake) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// SetAccountName sets the display name GET /v1/accounts/{id} answers for account.
func (f *StripeFake) SetAccountName(account, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names[account] = name
}

// Requests returns every request received so far, in order of arrival.
func (f *StripeFake) Requests() []StripeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// MaxInFlight is the most requests for account that were in progress at once.
func (f *StripeFake) MaxInFlight(account string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxFlight[account]
}

// Put stores obj as an object of resource ("invoices", "checkout/sessions") on
// account ("" for the platform) in a mode, replacing one with the same id, as if it
// had been created there, and returns the stored object: obj with "id" (generated
// when missing), "object", "livemode" and "created" filled in where obj has none.
//
//	fake.Put("acct_1", false, "invoices", map[string]any{"id": "in_1", "amount_due": 500})
func (f *StripeFake) Put(account string, livemode bool, resource string, obj map[string]any) map[string]any {
	resource = strings.Trim(resource, "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	stored := f.newObject(resource, livemode, deepCopy(obj)) // the test's map stays its own
	f.store(collectionKey{modeName(livemode), account, resource}, stored)
	return deepCopy(stored)
}

// Get returns a copy of the object of resource with id on account in a mode.
func (f *StripeFake) Get(account string, livemode bool, resource, id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.objects[collectionKey{modeName(livemode), account, strings.Trim(resource, "/")}]
	if c == nil || c.byID[id] == nil {
		return nil, false
	}
	return deepCopy(c.byID[id]), true
}

// List returns copies of the objects of resource on account in a mode, oldest first.
func (f *StripeFake) List(account string, livemode bool, resource string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.objects[collectionKey{modeName(livemode), account, strings.Trim(resource, "/")}]
	if c == nil {
		return nil
	}
	out := make([]map[string]any, 0, len(c.ids))
	for _, id := range c.ids {
		out = append(out, deepCopy(c.byID[id]))
	}
	return out
}

func (f *StripeFake) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "unparseable body")
		return
	}
	req := StripeRequest{
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
	var script *StripeResponse
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
func (f *StripeFake) handle(w http.ResponseWriter, req StripeRequest) {
	if req.Method == http.MethodPost && req.Path == "/v1/oauth/token" {
		status, body := f.oauthToken(req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	var mode string
	ok := false
	if strings.HasPrefix(req.Key(), "rk_") {
		// Restricted keys: see restrictedkeys.go.
		var status int
		var body []byte
		if mode, req.Account, status, body = f.restrictedAccess(req); status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(body)
			return
		}
		ok = true
	} else if mode, ok = keyMode(req.Key()); !ok {
		mode, req.Account, ok = f.oauthAccess(req)
	}
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

func (f *StripeFake) route(mode string, req StripeRequest) (int, []byte) {
	live := mode == "live"
	switch {
	case req.Method == http.MethodGet && req.Path == "/v1/account":
		id := req.Account
		if id == "" {
			id = "acct_platform"
		}
		return f.account(id)
	case req.Method == http.MethodGet && strings.HasPrefix(req.Path, "/v1/accounts/") && strings.Count(req.Path, "/") == 3:
		return f.account(strings.TrimPrefix(req.Path, "/v1/accounts/"))
	case req.Method == http.MethodGet && req.Path == "/v1/balance":
		return jsonBody(http.StatusOK, map[string]any{
			"object": "balance", "livemode": live,
			"available": []any{map[string]any{"amount": 0, "currency": "usd"}},
			"pending":   []any{map[string]any{"amount": 0, "currency": "usd"}},
		})
	case strings.HasPrefix(req.Path, "/v1/apps/secrets"):
		return f.secretStore(mode, req)
	case strings.HasPrefix(req.Path, "/"+thinEvents+"/"):
		return f.thinEvent(mode, req) // thinevents.go
	case req.Path == "/v1/apps/installs" || strings.HasPrefix(req.Path, "/v1/apps/installs/"):
		return f.installsAPI(mode, req)
	}
	return f.generic(mode, req)
}

// generic answers the CRUD of any resource (see StripeFake).
func (f *StripeFake) generic(mode string, req StripeRequest) (int, []byte) {
	rest, ok := strings.CutPrefix(req.Path, "/v1/")
	if !ok || rest == "" {
		return unrecognized(req)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	resource, id, deeper := f.splitPath(mode, req.Account, strings.Split(strings.Trim(rest, "/"), "/"))
	if deeper || resource == "" {
		return unrecognized(req)
	}
	key := collectionKey{mode, req.Account, resource}
	c := f.objects[key]
	if id == "" {
		switch req.Method {
		case http.MethodPost:
			obj := f.newObject(resource, mode == "live", formObject(req.Form))
			f.store(key, obj)
			return jsonBody(http.StatusOK, obj)
		case http.MethodGet:
			return f.list(c, req)
		}
		return unrecognized(req)
	}
	if c == nil || c.byID[id] == nil {
		return missing(resource, id)
	}
	obj := c.byID[id]
	switch req.Method {
	case http.MethodGet:
		return jsonBody(http.StatusOK, obj)
	case http.MethodPost:
		merge(obj, formObject(req.Form), false)
		return jsonBody(http.StatusOK, obj)
	case http.MethodDelete:
		delete(c.byID, id)
		c.ids = slices.DeleteFunc(c.ids, func(s string) bool { return s == id })
		return jsonBody(http.StatusOK, map[string]any{"id": id, "object": obj["object"], "deleted": true})
	}
	return unrecognized(req)
}

// splitPath splits the segments of a path after /v1/ into the resource, the object id
// (if any) and whether more segments follow the id.
func (f *StripeFake) splitPath(mode, account string, segments []string) (resource, id string, deeper bool) {
	for i, s := range segments {
		if s == "" {
			return "", "", true
		}
		soFar := strings.Join(segments[:i], "/")
		if i > 0 && (looksLikeID(soFar, s) || f.objects[collectionKey{mode, account, soFar}].has(s)) {
			return soFar, s, i < len(segments)-1
		}
	}
	return strings.Join(segments, "/"), "", false
}

func (c *collection) has(id string) bool { return c != nil && c.byID[id] != nil }

// looksLikeID reports whether a path segment after resource is an id rather than a
// resource name: it has the resource's id prefix or another of Stripe's ("cus_missing"
// and "ch_test" as well as "cus_1Missing"), or it has digits or capitals, which
// Stripe's resource names (lowercase letters and underscores) never have. An id
// taken for a resource name would answer a list, and a 200, where Stripe answers 404.
func looksLikeID(resource, s string) bool {
	if strings.HasPrefix(s, idPrefix(resource)) {
		return true
	}
	for _, p := range objectIDPrefixes {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return true
		}
	}
	return strings.ContainsFunc(s, func(r rune) bool { return r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' })
}

// newObject completes obj (taken over, not copied) as a stored object of resource.
// The caller holds f.mu.
func (f *StripeFake) newObject(resource string, livemode bool, obj map[string]any) map[string]any {
	if obj == nil {
		obj = map[string]any{}
	}
	if id, _ := obj["id"].(string); id == "" {
		f.seq++
		obj["id"] = idPrefix(resource) + "fake" + strconv.Itoa(f.seq)
	}
	if _, ok := obj["object"]; !ok {
		obj["object"] = objectName(resource)
	}
	if _, ok := obj["livemode"]; !ok {
		obj["livemode"] = livemode
	}
	if _, ok := obj["created"]; !ok {
		obj["created"] = time.Now().Unix()
	}
	return obj
}

// store adds or replaces obj in its collection. The caller holds f.mu.
func (f *StripeFake) store(key collectionKey, obj map[string]any) {
	c := f.objects[key]
	if c == nil {
		c = &collection{byID: map[string]map[string]any{}}
		f.objects[key] = c
	}
	id := obj["id"].(string)
	if c.byID[id] == nil {
		c.ids = append(c.ids, id)
	}
	c.byID[id] = obj
}

// list answers GET /v1/{resource}: newest first, filtered, one page.
func (f *StripeFake) list(c *collection, req StripeRequest) (int, []byte) {
	q := req.Query
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errorBody(http.StatusBadRequest, "invalid_request_error", "", "limit must be an integer between 1 and 100")
		}
		limit = n
	}
	var all []map[string]any
	if c != nil {
		for _, id := range slices.Backward(c.ids) {
			obj := c.byID[id]
			if matches(obj, q) {
				all = append(all, obj)
			}
		}
	}
	data, hasMore, _ := listPage(all, q, limit) // an unknown starting_after: from the start
	return jsonBody(http.StatusOK, map[string]any{"object": "list", "url": req.Path, "has_more": hasMore, "data": data})
}

// listPage is the page of all that Stripe's list parameters in q ask for (limit,
// starting_after, ending_before). knownAfter is false when starting_after names no
// object in all; the page then starts at the beginning.
func listPage(all []map[string]any, q url.Values, limit int) (data []any, hasMore, knownAfter bool) {
	start, end := 0, len(all)
	knownAfter = true
	if after := q.Get("starting_after"); after != "" {
		i := slices.IndexFunc(all, func(o map[string]any) bool { return o["id"] == after })
		knownAfter = i >= 0
		start = i + 1
	}
	if before := q.Get("ending_before"); before != "" {
		if i := slices.IndexFunc(all, func(o map[string]any) bool { return o["id"] == before }); i >= 0 {
			end = i
			start = max(0, end-limit)
		}
	}
	page := all[start:end]
	hasMore = len(page) > limit
	if hasMore {
		page = page[:limit]
	}
	data = make([]any, 0, len(page))
	for _, o := range page {
		data = append(data, o)
	}
	return data, hasMore, knownAfter
}

// matches reports whether obj has every plain list parameter of q as a field.
func matches(obj map[string]any, q url.Values) bool {
	for k, vs := range q {
		switch {
		case k == "limit" || k == "starting_after" || k == "ending_before" || strings.ContainsRune(k, '['):
			continue
		case fmt.Sprint(obj[k]) != vs[0]:
			return false
		}
	}
	return true
}

// formObject decodes Stripe's form encoding into an object: a[b]=v nests, a[0][b]=v
// and a[]=v make lists; expand parameters are no fields.
func formObject(form url.Values) map[string]any {
	obj := map[string]any{}
	keys := slices.Sorted(maps.Keys(form))
	for _, k := range keys {
		path := formPath(k)
		if len(path) == 0 || path[0] == "expand" {
			continue
		}
		for _, v := range form[k] {
			setPath(obj, path, formValue(path, v))
		}
	}
	for k, v := range obj {
		if k != "metadata" { // metadata keys are strings, even "0"
			obj[k] = lists(v)
		}
	}
	return obj
}

// formPath splits "a[b][0]" into a, b, 0 and "a[]" into a, "".
func formPath(key string) []string {
	name, rest, _ := strings.Cut(key, "[")
	path := []string{name}
	for rest != "" {
		part, after, ok := strings.Cut(rest, "]")
		if !ok {
			break
		}
		path = append(path, part)
		rest = strings.TrimPrefix(after, "[")
	}
	return path
}

// formValue types a form value as Stripe's JSON would: integers and booleans, except
// in metadata and decimal strings.
func formValue(path []string, v string) any {
	if path[0] == "metadata" || strings.HasSuffix(path[len(path)-1], "_decimal") {
		return v
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n
	}
	if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
		return b
	}
	return v
}

// setPath sets a nested value; list indexes are kept as map keys until lists turns
// them into slices, and an empty index appends.
func setPath(m map[string]any, path []string, v any) {
	for i, k := range path {
		if i == len(path)-1 {
			if k == "" {
				k = strconv.Itoa(len(m))
			}
			m[k] = v
			return
		}
		if path[i+1] == "" && i+1 == len(path)-1 {
			next, _ := m[k].(map[string]any)
			if next == nil {
				next = map[string]any{}
				m[k] = next
			}
			next[strconv.Itoa(len(next))] = v
			return
		}
		next, _ := m[k].(map[string]any)
		if next == nil {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
}

// lists turns maps whose keys are exactly 0…n-1 into slices, recursively.
func lists(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k, e := range m {
		if k != "metadata" {
			m[k] = lists(e)
		}
	}
	if len(m) == 0 {
		return m
	}
	out := make([]any, len(m))
	for k, e := range m {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(m) || strconv.Itoa(i) != k {
			return m
		}
		out[i] = e
	}
	return out
}

// merge applies an update to obj: nested objects merge, anything else is replaced,
// and an empty metadata value removes its key.
func merge(obj, update map[string]any, inMetadata bool) {
	for k, v := range update {
		if inMetadata && v == "" {
			delete(obj, k)
			continue
		}
		if um, ok := v.(map[string]any); ok {
			if om, ok := obj[k].(map[string]any); ok {
				merge(om, um, inMetadata || k == "metadata")
				continue
			}
			if k == "metadata" {
				om := map[string]any{}
				merge(om, um, true)
				obj[k] = om
				continue
			}
		}
		obj[k] = v
	}
}

// objectIDPrefixes are Stripe's id prefixes of common resources.
var objectIDPrefixes = map[string]string{
	"accounts": "acct_", "application_fees": "fee_", "balance_transactions": "txn_",
	"billing/meters": "mtr_", "billing_portal/sessions": "bps_", "charges": "ch_",
	"checkout/sessions": "cs_", "coupons": "co_", "credit_notes": "cn_", "customers": "cus_",
	"disputes": "dp_", "events": "evt_", "files": "file_", "invoiceitems": "ii_",
	"invoices": "in_", "payment_intents": "pi_", "payment_links": "plink_",
	"payment_methods": "pm_", "payouts": "po_", "plans": "plan_", "prices": "price_",
	"products": "prod_", "promotion_codes": "promo_", "quotes": "qt_", "refunds": "re_",
	"setup_intents": "seti_", "shipping_rates": "shr_", "subscription_items": "si_",
	"subscription_schedules": "sub_sched_", "subscriptions": "sub_", "tax_ids": "txi_", "tax_rates": "txr_",
	"test_helpers/test_clocks": "clock_", "transfers": "tr_", "webhook_endpoints": "we_",
}

// idPrefix is the id prefix of a resource's objects: Stripe's, or the singular name.
func idPrefix(resource string) string {
	if p, ok := objectIDPrefixes[resource]; ok {
		return p
	}
	name := objectName(resource)
	return name[strings.LastIndexByte(name, '.')+1:] + "_"
}

// objectName is the "object" of a resource's objects: "invoice" for invoices,
// "checkout.session" for checkout/sessions.
func objectName(resource string) string {
	parts := strings.Split(resource, "/")
	last := parts[len(parts)-1]
	switch {
	case strings.HasSuffix(last, "ies"):
		last = strings.TrimSuffix(last, "ies") + "y"
	case strings.HasSuffix(last, "sses"), strings.HasSuffix(last, "xes"):
		last = strings.TrimSuffix(last, "es")
	case strings.HasSuffix(last, "s"):
		last = strings.TrimSuffix(last, "s")
	}
	parts[len(parts)-1] = last
	return strings.Join(parts, ".")
}

func modeName(livemode bool) string {
	if livemode {
		return "live"
	}
	return "test"
}

func (f *StripeFake) account(id string) (int, []byte) {
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

func (f *StripeFake) secretStore(mode string, req StripeRequest) (int, []byte) {
	params := req.Form
	if req.Method == http.MethodGet {
		params = req.Query
	}
	scope, user := params.Get("scope[type]"), params.Get("scope[user]")
	switch {
	case scope != "account" && scope != "user":
		return errorBody(http.StatusBadRequest, "invalid_request_error", "", "scope[type] must be account or user")
	case scope == "user" && user == "":
		return errorBody(http.StatusBadRequest, "invalid_request_error", "", "scope[user] is required for a user scope")
	case scope == "account" && user != "":
		return errorBody(http.StatusBadRequest, "invalid_request_error", "", "scope[user] is not allowed for an account scope")
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
			return errorBody(http.StatusBadRequest, "invalid_request_error", "", "name and payload are required")
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
			return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing", "No such secret: '"+k.name+"'")
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
			return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing", "No such secret: '"+k.name+"'")
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
	return unrecognized(req)
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

// deepCopy copies a JSON-shaped value, so that callers never share the fake's maps.
func deepCopy(obj map[string]any) map[string]any {
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err) // only JSON values are stored
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func jsonBody(status int, v any) (int, []byte) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the fake's own maps are marshalled
	}
	return status, b
}

// errorBody is Stripe's error shape; code may be empty.
func errorBody(status int, typ, code, message string) (int, []byte) {
	e := map[string]any{"type": typ, "message": message}
	if code != "" {
		e["code"] = code
	}
	return jsonBody(status, map[string]any{"error": e})
}

func unrecognized(req StripeRequest) (int, []byte) {
	return errorBody(http.StatusNotFound, "invalid_request_error", "", "Unrecognized request URL ("+req.Method+": "+req.Path+")")
}

func missing(resource, id string) (int, []byte) {
	name := objectName(resource)
	return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing",
		"No such "+strings.ReplaceAll(name, "_", " ")+": '"+id+"'")
}

func writeError(w http.ResponseWriter, status int, typ, message string) {
	_, body := errorBody(status, typ, "", message)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func nilIfZero(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}
