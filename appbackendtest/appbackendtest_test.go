package appbackendtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
)

// stripeCall sends a request to a StripeFake as stripe-go would and decodes the answer.
func stripeCall(t *testing.T, fake *appbackendtest.StripeFake, key, account, method, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if method == http.MethodGet {
		if len(form) > 0 {
			path += "?" + form.Encode()
		}
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, fake.URL+path, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if account != "" {
		req.Header.Set("Stripe-Account", account)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func TestStripeFakeCreatesReadsUpdatesListsAndDeletesAnyObject(t *testing.T) {
	t.Parallel()
	fake := appbackendtest.NewStripeFake(t)
	const key, acct = appbackendtest.TestSecretKey, "acct_1"

	for _, tc := range []struct {
		resource, wantPrefix, wantObject string
	}{
		{"invoices", "in_", "invoice"},
		{"customers", "cus_", "customer"},
		{"payment_intents", "pi_", "payment_intent"},
		{"checkout/sessions", "cs_", "checkout.session"},
		{"billing/meters", "mtr_", "billing.meter"},
		{"widgets", "widget_", "widget"},
		{"entitlements/features", "feature_", "entitlements.feature"},
		{"tax_ids", "txi_", "tax_id"},
	} {
		status, obj := stripeCall(t, fake, key, acct, http.MethodPost, "/v1/"+tc.resource, url.Values{"description": {"x"}})
		require.Equal(t, http.StatusOK, status, "%s: %v", tc.resource, obj)
		require.True(t, strings.HasPrefix(obj["id"].(string), tc.wantPrefix), "%s: id %v, want prefix %s", tc.resource, obj["id"], tc.wantPrefix)
		require.Equal(t, tc.wantObject, obj["object"], tc.resource)
		require.Equal(t, false, obj["livemode"], tc.resource)
		require.NotNil(t, obj["created"], tc.resource)
	}

	// Form parameters become typed fields, nested objects and lists.
	status, inv := stripeCall(t, fake, key, acct, http.MethodPost, "/v1/invoices", url.Values{
		"customer": {"cus_1"}, "auto_advance": {"false"}, "days_until_due": {"30"},
		"metadata[order]": {"42"}, "metadata[channel]": {"web"},
		"custom_fields[0][name]": {"PO"}, "custom_fields[0][value]": {"7"},
		"unit_amount_decimal": {"12"}, "expand[]": {"customer"},
	})
	require.Equal(t, http.StatusOK, status, inv)
	id := inv["id"].(string)
	require.Equal(t, "cus_1", inv["customer"])
	require.Equal(t, false, inv["auto_advance"])
	require.EqualValues(t, 30, inv["days_until_due"])
	require.Equal(t, map[string]any{"order": "42", "channel": "web"}, inv["metadata"], "metadata values stay strings")
	require.Equal(t, []any{map[string]any{"name": "PO", "value": float64(7)}}, inv["custom_fields"])
	require.Equal(t, "12", inv["unit_amount_decimal"], "decimals stay strings")
	require.NotContains(t, inv, "expand")

	status, got := stripeCall(t, fake, key, acct, http.MethodGet, "/v1/invoices/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, inv, got)

	// An update replaces fields and merges metadata; an empty value removes a key.
	status, got = stripeCall(t, fake, key, acct, http.MethodPost, "/v1/invoices/"+id, url.Values{
		"description": {"updated"}, "metadata[channel]": {""}, "metadata[note]": {"n"},
	})
	require.Equal(t, http.StatusOK, status, got)
	require.Equal(t, "updated", got["description"])
	require.Equal(t, map[string]any{"order": "42", "note": "n"}, got["metadata"])
	stored, ok := fake.Get(acct, false, "invoices", id)
	require.True(t, ok)
	require.Equal(t, got, stored)

	// A missing object is Stripe's 404.
	status, got = stripeCall(t, fake, key, acct, http.MethodGet, "/v1/invoices/in_missing1", nil)
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, map[string]any{"type": "invalid_request_error", "code": "resource_missing", "message": "No such invoice: 'in_missing1'"}, got["error"])

	// Objects are per account and per mode.
	status, _ = stripeCall(t, fake, key, "acct_2", http.MethodGet, "/v1/invoices/"+id, nil)
	require.Equal(t, http.StatusNotFound, status, "another account")
	status, _ = stripeCall(t, fake, "sk_live_x", acct, http.MethodGet, "/v1/invoices/"+id, nil)
	require.Equal(t, http.StatusNotFound, status, "the other mode")
	status, _ = stripeCall(t, fake, key, "", http.MethodGet, "/v1/invoices/"+id, nil)
	require.Equal(t, http.StatusNotFound, status, "the platform")

	// Delete.
	status, got = stripeCall(t, fake, key, acct, http.MethodDelete, "/v1/invoices/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"id": id, "object": "invoice", "deleted": true}, got)
	_, ok = fake.Get(acct, false, "invoices", id)
	require.False(t, ok)

	// Deeper paths are not guessed at.
	status, _ = stripeCall(t, fake, key, acct, http.MethodPost, "/v1/invoices/in_1/pay", nil)
	require.Equal(t, http.StatusNotFound, status)
}

func TestStripeFakeListsNewestFirstByPages(t *testing.T) {
	t.Parallel()
	fake := appbackendtest.NewStripeFake(t)
	for i := range 5 {
		customer := "cus_even"
		if i%2 == 1 {
			customer = "cus_odd"
		}
		fake.Put("acct_1", false, "charges", map[string]any{"id": fmt.Sprintf("ch_%d", i), "customer": customer})
	}
	fake.Put("acct_1", true, "charges", map[string]any{"id": "ch_live"})

	ids := func(list map[string]any) []string {
		var out []string
		for _, o := range list["data"].([]any) {
			out = append(out, o.(map[string]any)["id"].(string))
		}
		return out
	}
	status, page := stripeCall(t, fake, appbackendtest.TestSecretKey, "acct_1", http.MethodGet, "/v1/charges", url.Values{"limit": {"2"}})
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "list", page["object"])
	require.Equal(t, "/v1/charges", page["url"])
	require.Equal(t, []string{"ch_4", "ch_3"}, ids(page))
	require.Equal(t, true, page["has_more"])
	_, page = stripeCall(t, fake, appbackendtest.TestSecretKey, "acct_1", http.MethodGet, "/v1/charges", url.Values{"limit": {"2"}, "starting_after": {"ch_1"}})
	require.Equal(t, []string{"ch_0"}, ids(page))
	require.Equal(t, false, page["has_more"])
	_, page = stripeCall(t, fake, appbackendtest.TestSecretKey, "acct_1", http.MethodGet, "/v1/charges", url.Values{"customer": {"cus_odd"}})
	require.Equal(t, []string{"ch_3", "ch_1"}, ids(page), "filtered by a field")

	// stripe-go pages through them all.
	sc := stripe.NewClient(appbackendtest.TestSecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: &fake.URL})))
	params := &stripe.ChargeListParams{}
	params.Limit = stripe.Int64(2)
	params.SetStripeAccount("acct_1")
	var all []string
	for ch, err := range sc.V1Charges.List(t.Context(), params).All(t.Context()) {
		require.NoError(t, err)
		all = append(all, ch.ID)
	}
	require.Equal(t, []string{"ch_4", "ch_3", "ch_2", "ch_1", "ch_0"}, all)
	require.Len(t, fake.List("acct_1", false, "charges"), 5, "test mode only")
	require.Equal(t, "ch_0", fake.List("acct_1", false, "charges")[0]["id"], "List is oldest first")
}

func TestStripeFakeReplaysIdempotentWrites(t *testing.T) {
	t.Parallel()
	fake := appbackendtest.NewStripeFake(t)
	sc := stripe.NewClient(appbackendtest.TestSecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: &fake.URL})))
	var ids []string
	for range 2 {
		params := &stripe.CustomerCreateParams{}
		params.SetIdempotencyKey("same-key")
		params.SetStripeAccount("acct_1")
		cus, err := sc.V1Customers.Create(t.Context(), params)
		require.NoError(t, err)
		ids = append(ids, cus.ID)
	}
	require.Equal(t, ids[0], ids[1])
	require.Len(t, fake.List("acct_1", false, "customers"), 1)
}

func TestCallerSignsAsTheDashboard(t *testing.T) {
	t.Parallel()
	type seen struct {
		User    string          `json:"user"`
		Account string          `json:"account"`
		Roles   []string        `json:"roles"`
		Payload json.RawMessage `json:"payload"`
		Query   string          `json:"query"`
		Method  string          `json:"method"`
	}
	echo := func(w http.ResponseWriter, r *http.Request) {
		id, _ := appbackend.IdentityFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{id.UserID, id.AccountID, id.Roles, id.Payload, r.URL.Query().Get("page"), r.Method})
	}
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.HandleFunc("POST /api/echo", echo)
		app.HandleFunc("PATCH /api/echo", echo)
		app.HandleFunc("GET /api/echo", echo)
		app.HandleFunc("DELETE /api/echo", echo)
	})
	caller := app.As("usr_1", "acct_1")
	decode := func(res *appbackendtest.Response) seen {
		t.Helper()
		require.Equal(t, http.StatusOK, res.Status, res)
		var s seen
		res.JSON(t, &s)
		return s
	}

	s := decode(caller.Post(t, "/api/echo", nil))
	require.Equal(t, seen{User: "usr_1", Account: "acct_1", Payload: json.RawMessage("null"), Method: "POST"}, s, "the default signature proves no payload")

	s = decode(caller.WithRoles("admin", "role_custom1").WithLivemode(true).Post(t, "/api/echo", map[string]any{"amount": 100}))
	require.Equal(t, []string{"admin", "role_custom1"}, s.Roles)
	require.JSONEq(t, `{"amount":100,"stripe_roles":[{"id":"admin","name":"Admin","type":"builtIn"},{"id":"role_custom1","name":"Role custom1","type":"custom"}],"livemode":true}`, string(s.Payload))

	s = decode(caller.Do(t, http.MethodPatch, "/api/echo", `{"b":1,"a":2}`))
	require.Equal(t, `{"b":1,"a":2}`, string(s.Payload), "JSON text is signed as given")

	s = decode(caller.Get(t, "/api/echo?page=2"))
	require.Equal(t, seen{User: "usr_1", Account: "acct_1", Payload: json.RawMessage("null"), Query: "2", Method: "GET"}, s)
	s = decode(caller.Delete(t, "/api/echo"))
	require.Equal(t, "DELETE", s.Method)
	require.Equal(t, "acct_1", s.Account)

	res := caller.Get(t, "/api/nothing_here")
	require.Equal(t, http.StatusNotFound, res.Status, res)
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
}

func TestInstallUninstallAndInstallation(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var hooks []string
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnInstall(func(ctx context.Context, in appbackend.Installation) error {
			mu.Lock()
			defer mu.Unlock()
			hooks = append(hooks, fmt.Sprintf("install %s live=%v", in.AccountID, in.Livemode))
			return nil
		})
		app.OnUninstall(func(ctx context.Context, in appbackend.Installation) error {
			mu.Lock()
			defer mu.Unlock()
			hooks = append(hooks, fmt.Sprintf("uninstall %s live=%v", in.AccountID, in.Livemode))
			return nil
		})
	})

	_, ok := app.Installation(t, "acct_1", false)
	require.False(t, ok)
	in := app.Install(t, "acct_1", false)
	require.Equal(t, "installed", string(in.Status))
	in = app.Install(t, "acct_1", true)
	require.True(t, in.Livemode)
	in = app.Uninstall(t, "acct_1", false)
	require.Equal(t, "uninstalled", string(in.Status))
	live, ok := app.Installation(t, "acct_1", true)
	require.True(t, ok)
	require.Equal(t, "installed", string(live.Status), "each mode on its own")

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"install acct_1 live=false", "install acct_1 live=true", "uninstall acct_1 live=false"}, hooks,
		"the hooks ran when Install and Uninstall returned")
}

// recordingT is a testing.TB whose Fatal is recorded instead of ending the test, for
// testing the kit's failures.
type recordingT struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (r *recordingT) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingT) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// fails runs f with a recordingT and returns its fatal message ("" if none).
func fails(t *testing.T, f func(t testing.TB)) string {
	r := &recordingT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

func TestWaitForEventFailsWithTheLastErrorOfADeadEvent(t *testing.T) {
	t.Parallel()
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnEvent("invoice.paid", func(context.Context, appbackend.Event) error {
			return errors.New("the ledger is closed")
		})
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) { cfg.EventMaxAttempts = 2 }))

	id := app.Deliver(t, appbackendtest.Event{Type: "invoice.paid", Account: "acct_1"})
	msg := fails(t, func(rt testing.TB) { app.WaitForEvent(rt, id) })
	require.Contains(t, msg, "is dead after 2 attempts")
	require.Contains(t, msg, "the ledger is closed")
}

func TestCallsRefuseWhatTheyCannotSign(t *testing.T) {
	t.Parallel()
	app := appbackendtest.Start(t, nil)
	msg := fails(t, func(rt testing.TB) { app.As("usr_1", "acct_1").WithRoles("admin").Get(rt, "/api/whoami") })
	require.Contains(t, msg, "a GET has no body")
	msg = fails(t, func(rt testing.TB) { app.As("usr_1", "acct_1").Post(rt, "/api/whoami", []string{"not an object"}) })
	require.Contains(t, msg, "payload must be a JSON object")
}

func TestStartUsesTheChosenDatabase(t *testing.T) {
	t.Parallel()
	app := appbackendtest.Start(t, nil)
	require.Equal(t, os.Getenv(appbackendtest.EnvDatabase) == "postgres", app.Postgres())
	require.Equal(t, app.Postgres(), strings.HasPrefix(app.Database, "postgres"))
	require.NoError(t, app.DB().PingContext(t.Context()))
}

func TestWithStripeMock(t *testing.T) {
	t.Parallel()
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.HandleFunc("POST /api/customer", func(w http.ResponseWriter, r *http.Request) {
			sc, err := app.Stripe(r.Context())
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			cus, err := sc.V1Customers.Create(r.Context(), &stripe.CustomerCreateParams{Email: stripe.String("jenny@example.test")})
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"id": cus.ID})
		})
	}, appbackendtest.WithStripeMock())
	require.Nil(t, app.Fake)
	res := app.As("usr_1", "acct_1").Post(t, "/api/customer", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	var out struct{ ID string }
	res.JSON(t, &out)
	require.True(t, strings.HasPrefix(out.ID, "cus_"), out.ID)
}

// An id after a resource is an id whatever its letters: an object that does not
// exist is Stripe's 404 resource_missing, never a 200 list, and stripe-go returns an
// error for it (a test of the "customer was deleted" path must fail for the right
// reason).
func TestStripeFakeAnswers404ForAnyMissingID(t *testing.T) {
	t.Parallel()
	fake := appbackendtest.NewStripeFake(t)
	const key, acct = appbackendtest.TestSecretKey, "acct_1"
	for _, tc := range []struct{ path, object string }{
		{"/v1/customers/cus_missing", "customer"},
		{"/v1/customers/cus_1Missing", "customer"},
		{"/v1/charges/ch_test", "charge"},
		{"/v1/refunds/re_abc", "refund"},
		{"/v1/widgets/widget_abc", "widget"},
		{"/v1/customers/pm_abc", "customer"}, // another resource's prefix: still an id
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			status, got := stripeCall(t, fake, key, acct, method, tc.path, nil)
			require.Equal(t, http.StatusNotFound, status, "%s %s: %v", method, tc.path, got)
			e, _ := got["error"].(map[string]any)
			require.Equal(t, "resource_missing", e["code"], "%s %s", method, tc.path)
			require.Contains(t, e["message"], "No such "+tc.object, "%s %s", method, tc.path)
		}
	}
	sc := stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: &fake.URL})))
	cus, err := sc.V1Customers.Retrieve(t.Context(), "cus_missing", nil)
	var se *stripe.Error
	require.ErrorAs(t, err, &se, "Retrieve(cus_missing) = %+v", cus)
	require.Equal(t, stripe.ErrorCodeResourceMissing, se.Code)
	require.Equal(t, http.StatusNotFound, se.HTTPStatusCode)

	// Nested resource names are still resources, not ids.
	status, got := stripeCall(t, fake, key, acct, http.MethodPost, "/v1/test_helpers/test_clocks", url.Values{"frozen_time": {"1700000000"}})
	require.Equal(t, http.StatusOK, status, got)
	require.Equal(t, "test_helpers.test_clock", got["object"])
	status, got = stripeCall(t, fake, key, acct, http.MethodGet, "/v1/checkout/sessions", nil)
	require.Equal(t, http.StatusOK, status, got)
	require.Equal(t, "list", got["object"])
}
