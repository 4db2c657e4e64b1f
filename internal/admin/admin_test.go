package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
)

// routes lists every admin route, and some that do not exist.
var routes = []struct{ method, path string }{
	{"GET", "/admin/"},
	{"GET", "/admin/events"},
	{"GET", "/admin/events?status=dead"},
	{"GET", "/admin/events/" + deadEventID},
	{"POST", "/admin/events/" + deadEventID + "/replay"},
	{"GET", "/admin/jobs"},
	{"GET", "/admin/login"},
	{"POST", "/admin/login"},
	{"POST", "/admin/logout"},
	{"GET", "/admin/api/installations"},
	{"GET", "/admin/api/events"},
	{"GET", "/admin/api/events/" + deadEventID},
	{"POST", "/admin/api/events/" + deadEventID + "/replay"},
	{"GET", "/admin/api/jobs"},
	{"GET", "/admin/api/schedules"},
	{"GET", "/admin/api/stats"},
	{"GET", "/admin/nothing-here"},
	{"GET", "/admin/api/nothing-here"},
	{"DELETE", "/admin/api/events/" + deadEventID},
}

func TestEveryRouteNeedsTheToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	forged := &http.Cookie{Name: admin.SessionCookie, Value: "v1.99999999999.forged"}
	for _, rt := range routes {
		for _, cred := range []struct {
			name string
			req  request
		}{
			{"no credentials", request{}},
			{"wrong bearer", request{bearer: "not-the-token"}},
			{"token as a cookie value", request{cookie: &http.Cookie{Name: admin.SessionCookie, Value: testToken}}},
			{"forged session", request{cookie: forged}},
			{"basic auth", request{header: http.Header{"Authorization": {"Basic " + testToken}}}},
		} {
			req := cred.req
			req.method, req.path = rt.method, rt.path
			if rt.method == "POST" {
				req.form = url.Values{}
			}
			res := b.do(t, req)
			if res.status != http.StatusUnauthorized {
				t.Errorf("%s %s with %s = %d, want 401", rt.method, rt.path, cred.name, res.status)
			}
			if strings.HasPrefix(rt.path, "/admin/api/") {
				assertAPIError(t, res, "unauthorized")
			} else if !strings.Contains(res.body, `name="token"`) {
				t.Errorf("%s %s with %s: the 401 page has no login form", rt.method, rt.path, cred.name)
			}
		}
	}
	if got := b.replays(); len(got) != 0 {
		t.Errorf("unauthenticated requests replayed %v", got)
	}
}

func assertAPIError(t *testing.T, res response, wantCode string) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil || body.Error.Code != wantCode || body.Error.Message == "" {
		t.Errorf("error body = %s, want {\"error\":{\"code\":%q,…}}", res.body, wantCode)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
}

func TestBearerTokenOpensEveryRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, rt := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/admin/", 200},
		{"GET", "/admin/events", 200},
		{"GET", "/admin/events/" + deadEventID, 200},
		{"GET", "/admin/jobs", 200},
		{"GET", "/admin/api/installations", 200},
		{"GET", "/admin/api/events", 200},
		{"GET", "/admin/api/events/" + deadEventID, 200},
		{"GET", "/admin/api/stats", 200},
		{"GET", "/admin/api/schedules", 200},
		{"GET", "/admin/api/jobs", 503}, // no job lister configured
		{"POST", "/admin/api/events/" + deadEventID + "/replay", 202},
		{"GET", "/admin/api/nothing-here", 404},
		{"DELETE", "/admin/api/events/" + deadEventID, 404},
		{"GET", "/admin/nothing-here", 404},
	} {
		res := b.do(t, request{method: rt.method, path: rt.path, bearer: testToken})
		if res.status != rt.want {
			t.Errorf("%s %s with the bearer token = %d, want %d\n%s", rt.method, rt.path, res.status, rt.want, res.body)
		}
	}
}

func TestLoginSetsASessionCookie(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, request{method: "GET", path: "/admin/"})
	if res.status != http.StatusUnauthorized || !strings.Contains(res.body, `<form method="post" action="/admin/login">`) {
		t.Fatalf("GET /admin/ without a session = %d without the login form", res.status)
	}
	wrong := b.do(t, request{method: "POST", path: "/admin/login", form: url.Values{"token": {"guess"}}})
	if wrong.status != http.StatusUnauthorized || len(wrong.resp.Cookies()) != 0 || !strings.Contains(wrong.body, "not the admin token") {
		t.Errorf("login with a wrong token = %d, cookies %v; want 401, none, and a message", wrong.status, wrong.resp.Cookies())
	}

	c := b.login(t)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/admin/" || c.Secure {
		t.Errorf("cookie over plain HTTP = %+v; want HttpOnly, SameSite=Strict, Path=/admin/, not Secure", c)
	}
	if strings.Contains(c.Value, testToken) {
		t.Error("the session cookie holds the token")
	}
	res = b.do(t, request{method: "GET", path: "/admin/", cookie: c})
	if res.status != http.StatusOK || !strings.Contains(res.body, "Corner Bookshop") {
		t.Errorf("GET /admin/ with the session = %d, want 200 with the accounts", res.status)
	}
	if res := b.do(t, request{method: "GET", path: "/admin/api/stats", cookie: c}); res.status != http.StatusOK {
		t.Errorf("GET /admin/api/stats with the session = %d, want 200", res.status)
	}
	if res := b.do(t, request{method: "GET", path: "/admin/login", cookie: c}); res.status != http.StatusSeeOther {
		t.Errorf("GET /admin/login once signed in = %d, want 303 to the dashboard", res.status)
	}

	out := b.do(t, request{method: "POST", path: "/admin/logout", cookie: c})
	cleared := slices.ContainsFunc(out.resp.Cookies(), func(k *http.Cookie) bool { return k.Name == admin.SessionCookie && k.MaxAge < 0 })
	if out.status != http.StatusSeeOther || !cleared {
		t.Errorf("logout = %d, cookies %v; want 303 and the cookie removed", out.status, out.resp.Cookies())
	}
}

func TestSessionCookieIsSecureBehindHTTPS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.do(t, request{method: "POST", path: "/admin/login", form: url.Values{"token": {testToken}},
		header: http.Header{"X-Forwarded-Proto": {"https"}}})
	cs := res.resp.Cookies()
	if len(cs) != 1 || !cs[0].Secure {
		t.Errorf("cookie behind an HTTPS proxy = %v, want one Secure cookie", cs)
	}
}

func TestSessionsEnd(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	b := setup(t, func(c *admin.Config) { c.Archetype.Now = func() time.Time { return clock() }; c.SessionTTL = time.Hour })
	c := b.login(t)
	if res := b.do(t, request{method: "GET", path: "/admin/api/stats", cookie: c}); res.status != http.StatusOK {
		t.Fatalf("fresh session = %d, want 200", res.status)
	}
	clock = func() time.Time { return now.Add(time.Hour + time.Second) }
	if res := b.do(t, request{method: "GET", path: "/admin/api/stats", cookie: c}); res.status != http.StatusUnauthorized {
		t.Errorf("session after its TTL = %d, want 401", res.status)
	}

	// A new token ends the sessions of the old one.
	rotated, err := admin.New(admin.Config{Token: "rotated-token-5f2a9c7e1b3d", Store: b.st})
	if err != nil {
		t.Fatal(err)
	}
	clock = func() time.Time { return now }
	r, _ := http.NewRequest("GET", "/admin/api/stats", nil)
	r.AddCookie(c)
	rec := httptest.NewRecorder()
	rotated.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("old session under a new token = %d, want 401", rec.Code)
	}
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.login(t)
	crossSite := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
	oldBrowser := http.Header{"Origin": {"https://evil.example"}} // no Sec-Fetch-Site
	for _, tc := range []struct {
		name string
		req  request
	}{
		{"login", request{method: "POST", path: "/admin/login", form: url.Values{"token": {testToken}}, header: crossSite}},
		{"form replay", request{method: "POST", path: "/admin/events/" + deadEventID + "/replay", form: url.Values{}, cookie: c, header: crossSite}},
		{"API replay", request{method: "POST", path: "/admin/api/events/" + deadEventID + "/replay", bearer: testToken, header: crossSite}},
		{"logout", request{method: "POST", path: "/admin/logout", cookie: c, header: crossSite}},
		{"replay from a browser without Sec-Fetch-Site", request{method: "POST", path: "/admin/events/" + deadEventID + "/replay", form: url.Values{}, cookie: c, header: oldBrowser}},
	} {
		res := b.do(t, tc.req)
		if res.status != http.StatusForbidden {
			t.Errorf("cross-origin %s = %d, want 403", tc.name, res.status)
		}
		if len(res.resp.Cookies()) != 0 {
			t.Errorf("cross-origin %s set cookies %v", tc.name, res.resp.Cookies())
		}
	}
	if got := b.replays(); len(got) != 0 {
		t.Errorf("cross-origin posts replayed %v", got)
	}
	sameOrigin := b.do(t, request{method: "POST", path: "/admin/events/" + deadEventID + "/replay", form: url.Values{}, cookie: c,
		header: http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {b.srv.URL}}})
	if sameOrigin.status != http.StatusSeeOther {
		t.Errorf("same-origin replay = %d, want 303", sameOrigin.status)
	}
}

func TestNoCORSAndStrictHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, rt := range routes {
		res := b.do(t, request{method: rt.method, path: rt.path, bearer: testToken,
			header: http.Header{"Origin": {"https://dashboard.stripe.com"}}})
		for k := range res.header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s %s answers %s", rt.method, rt.path, k)
			}
		}
		if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s %s: Content-Security-Policy = %q", rt.method, rt.path, csp)
		}
		if res.header.Get("X-Frame-Options") != "DENY" || res.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: framing or caching allowed: %v", rt.method, rt.path, res.header)
		}
		if strings.Contains(res.body, "<script") {
			t.Errorf("%s %s: the page has a script", rt.method, rt.path)
		}
	}
}

// TestTokenNeverShown walks every page and API route, through failures and
// successes, and looks for the token in bodies, headers and the log.
func TestTokenNeverShown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var seen []response
	seen = append(seen, b.do(t, request{method: "POST", path: "/admin/login", form: url.Values{"token": {testToken + "x"}}}))
	seen = append(seen, b.do(t, request{method: "POST", path: "/admin/login", form: url.Values{"token": {testToken}}}))
	c := b.login(t)
	for _, rt := range routes {
		for _, req := range []request{{cookie: c}, {bearer: testToken}, {}} {
			req.method, req.path = rt.method, rt.path
			seen = append(seen, b.do(t, req))
		}
	}
	for _, res := range seen {
		if strings.Contains(res.body, testToken) {
			t.Errorf("a %d response shows the token:\n%s", res.status, res.body)
		}
		for k, vs := range res.header {
			for _, v := range vs {
				if strings.Contains(v, testToken) {
					t.Errorf("header %s shows the token", k)
				}
			}
		}
	}
	if logs := b.logs.String(); strings.Contains(logs, testToken) {
		t.Errorf("the log shows the token:\n%s", logs)
	} else if !strings.Contains(logs, "admin login refused") {
		t.Errorf("the refused login was not logged:\n%s", logs)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.do(t, request{method: "POST", path: "/admin/api/events/" + deadEventID + "/replay", bearer: testToken})
	if res.status != http.StatusAccepted {
		t.Fatalf("API replay = %d, want 202\n%s", res.status, res.body)
	}
	var ev struct{ ID, Status string }
	if err := json.Unmarshal([]byte(res.body), &ev); err != nil || ev.ID != deadEventID {
		t.Errorf("API replay body = %s, want the event", res.body)
	}

	c := b.login(t)
	form := b.do(t, request{method: "POST", path: "/admin/events/" + failedEventID + "/replay", form: url.Values{}, cookie: c})
	if want := "/admin/events/" + failedEventID + "?replayed=1"; form.status != http.StatusSeeOther || form.header.Get("Location") != want {
		t.Errorf("form replay = %d to %q, want 303 to %q", form.status, form.header.Get("Location"), want)
	}
	if got, want := b.replays(), []string{deadEventID, failedEventID}; !slices.Equal(got, want) {
		t.Errorf("Replay called with %v, want %v", got, want)
	}

	missing := b.do(t, request{method: "POST", path: "/admin/api/events/evt_missing/replay", bearer: testToken})
	if missing.status != http.StatusNotFound {
		t.Errorf("replay of an unknown event = %d, want 404", missing.status)
	}
	assertAPIError(t, missing, "not_found")
}

func TestReplayUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *admin.Config) { c.Replay = nil })
	res := b.do(t, request{method: "POST", path: "/admin/api/events/" + deadEventID + "/replay", bearer: testToken})
	if res.status != http.StatusServiceUnavailable {
		t.Errorf("replay without a processor = %d, want 503", res.status)
	}
	assertAPIError(t, res, "unavailable")
	page := b.do(t, request{method: "GET", path: "/admin/events/" + deadEventID, bearer: testToken})
	if strings.Contains(page.body, `id="replay"`) {
		t.Error("the event page offers a replay button without a processor")
	}
}

type eventList struct {
	Data []struct {
		ID, Type, Status string
		AccountID        string `json:"account_id"`
		Attempts         int
	}
	HasMore bool `json:"has_more"`
}

func TestAPIEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name      string
		query     string
		wantIDs   []string // in order; nil: only the count is checked
		wantCount int
		wantMore  bool
	}{
		{name: "dead", query: "status=dead", wantIDs: []string{deadEventID}},
		{name: "failed", query: "status=failed", wantIDs: []string{failedEventID}},
		{name: "by type", query: "type=invoice.paid", wantIDs: []string{"evt_1InvoicePaid"}},
		{name: "by account, newest first", query: "account=acct_1StudioNorth", wantIDs: []string{"evt_uninstall_acct_1StudioNorth", "evt_install_acct_1StudioNorth"}},
		{name: "test mode", query: "mode=test&type=customer.created", wantIDs: []string{"evt_1PendingCustomer"}},
		{name: "limit", query: "limit=2", wantCount: 2, wantMore: true},
		{name: "everything", query: "", wantCount: len(seedAccounts) + 4 + 4},
	} {
		res := b.do(t, request{method: "GET", path: "/admin/api/events?" + tc.query, bearer: testToken})
		var got eventList
		if err := json.Unmarshal([]byte(res.body), &got); err != nil || res.status != 200 {
			t.Errorf("%s: %d %s", tc.name, res.status, res.body)
			continue
		}
		var ids []string
		for _, e := range got.Data {
			ids = append(ids, e.ID)
		}
		if tc.wantIDs != nil && !slices.Equal(ids, tc.wantIDs) {
			t.Errorf("%s: ids %v, want %v", tc.name, ids, tc.wantIDs)
		}
		if tc.wantIDs == nil && len(ids) != tc.wantCount {
			t.Errorf("%s: %d events, want %d", tc.name, len(ids), tc.wantCount)
		}
		if got.HasMore != tc.wantMore {
			t.Errorf("%s: has_more %v, want %v", tc.name, got.HasMore, tc.wantMore)
		}
	}
	for _, bad := range []string{"status=exploded", "limit=0", "limit=abc", "mode=staging"} {
		res := b.do(t, request{method: "GET", path: "/admin/api/events?" + bad, bearer: testToken})
		if res.status != http.StatusBadRequest {
			t.Errorf("?%s = %d, want 400", bad, res.status)
		}
		assertAPIError(t, res, "bad_request")
	}

	one := b.do(t, request{method: "GET", path: "/admin/api/events/" + deadEventID, bearer: testToken})
	var ev struct {
		ID, Status string
		Attempts   int
		LastError  string `json:"last_error"`
		Raw        struct{ ID, Type string }
	}
	if err := json.Unmarshal([]byte(one.body), &ev); err != nil {
		t.Fatalf("event: %v\n%s", err, one.body)
	}
	if ev.Status != "dead" || ev.Attempts != 8 || ev.LastError != deadError || ev.Raw.ID != deadEventID || ev.Raw.Type != "invoice.payment_failed" {
		t.Errorf("event = %+v, want the dead event with 8 attempts, its error and raw payload", ev)
	}
	if res := b.do(t, request{method: "GET", path: "/admin/api/events/evt_nope", bearer: testToken}); res.status != 404 {
		t.Errorf("unknown event = %d, want 404", res.status)
	}
}

func TestAPIInstallations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	type installation struct {
		AccountID   string `json:"account_id"`
		Livemode    bool
		Mode        string
		Status      string
		DisplayName *string                    `json:"display_name"`
		InstalledAt *time.Time                 `json:"installed_at"`
		LastEvent   *struct{ ID, Type string } `json:"last_event"`
	}
	get := func(query string) []installation {
		res := b.do(t, request{method: "GET", path: "/admin/api/installations?" + query, bearer: testToken})
		var got struct{ Data []installation }
		if err := json.Unmarshal([]byte(res.body), &got); err != nil || res.status != 200 {
			t.Fatalf("?%s: %d %s", query, res.status, res.body)
		}
		return got.Data
	}
	if all := get(""); len(all) != len(seedAccounts) {
		t.Errorf("all installations: %d, want %d", len(all), len(seedAccounts))
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"q=bakery", []string{"acct_1RyeCrumbBakery"}},
		{"q=ACCT_1KILN", []string{"acct_1Kiln"}},
		{"mode=test&status=installed", []string{"acct_1GardenSupply", "acct_1Sandbox"}},
		{"status=uninstalled&mode=live", []string{"acct_1Kiln", "acct_1StudioNorth", "acct_1Velocity"}},
	} {
		var ids []string
		for _, in := range get(tc.query) {
			ids = append(ids, in.AccountID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("?%s: %v, want %v", tc.query, ids, tc.want)
		}
	}
	bakery := get("q=bakery")[0]
	if bakery.Mode != "live" || bakery.Status != "installed" || bakery.DisplayName == nil || *bakery.DisplayName != "Rye & Crumb Bakery" ||
		bakery.InstalledAt == nil || bakery.LastEvent == nil || bakery.LastEvent.ID != deadEventID {
		t.Errorf("bakery = %+v, want live, installed, named, with the dead invoice event as its last", bakery)
	}
}

func TestAPIStats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.do(t, request{method: "GET", path: "/admin/api/stats", bearer: testToken})
	var got struct {
		Installations map[string]struct{ Installed, Uninstalled int }
		Events        map[string]int
		LastEvent     map[string]*time.Time `json:"last_event_received_at"`
		Daily         []struct {
			Date                 string
			Installs, Uninstalls int
		}
	}
	if err := json.Unmarshal([]byte(res.body), &got); err != nil {
		t.Fatalf("%v\n%s", err, res.body)
	}
	if live := got.Installations["live"]; live.Installed != 7 || live.Uninstalled != 3 {
		t.Errorf("live = %+v, want 7 installed, 3 uninstalled", live)
	}
	if test := got.Installations["test"]; test.Installed != 2 || test.Uninstalled != 1 {
		t.Errorf("test = %+v, want 2 installed, 1 uninstalled", test)
	}
	wantEvents := map[string]int{"pending": 1, "processed": len(seedAccounts) + 4 + 1, "failed": 1, "dead": 1}
	if fmt.Sprint(got.Events) != fmt.Sprint(wantEvents) {
		t.Errorf("events = %v, want %v", got.Events, wantEvents)
	}
	if got.LastEvent["live"] == nil || got.LastEvent["test"] == nil {
		t.Errorf("last_event_received_at = %v, want both modes", got.LastEvent)
	}
	installs, uninstalls := 0, 0
	for _, d := range got.Daily {
		installs += d.Installs
		uninstalls += d.Uninstalls
	}
	if len(got.Daily) != admin.ChartDays || installs != len(seedAccounts) || uninstalls != 4 {
		t.Errorf("daily: %d days, %d installs, %d uninstalls; want %d, %d, 4", len(got.Daily), installs, uninstalls, admin.ChartDays, len(seedAccounts))
	}
	if today := time.Now().UTC().Format(time.DateOnly); got.Daily[len(got.Daily)-1].Date != today {
		t.Errorf("last day %s, want today %s", got.Daily[len(got.Daily)-1].Date, today)
	}
}

func TestJobsAndSchedules(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *admin.Config) {
		c.Schedules = func(context.Context) ([]admin.ScheduleRow, error) {
			return []admin.ScheduleRow{{Name: "nightly-sync", Spec: "0 3 * * *", Scope: "per account", Accounts: 7,
				NextRunAt: time.Now().Add(5 * time.Hour)}}, nil
		}
	})
	// A runtime that is never started: its River client lists and inserts jobs.
	rt := runtime.New(runtime.Config{})
	rt.Open(b.st)
	proc, err := events.New(rt, events.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Build(); err != nil {
		t.Fatal(err)
	}
	withJobs, err := admin.New(admin.Config{Token: testToken, Store: b.st, Jobs: rt.River()})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := b.st.DB().BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.EnqueueTx(t.Context(), tx, "evt_1PendingCustomer"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	r, _ := http.NewRequest("GET", "/admin/api/jobs", nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	withJobs.ServeHTTP(rec, r)
	var got struct {
		Recent, Failures, Upcoming []struct{ Kind, State, Args string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
		t.Fatalf("jobs = %d %s", rec.Code, rec.Body)
	}
	if len(got.Recent) != 1 || got.Recent[0].Kind != "appbackend.process_events" || !strings.Contains(got.Recent[0].Args, "evt_1PendingCustomer") {
		t.Errorf("recent jobs = %+v, want the process_events job", got.Recent)
	}
	if len(got.Upcoming) != 1 || got.Upcoming[0].State != "available" || len(got.Failures) != 0 {
		t.Errorf("upcoming %+v, failures %+v; want the available job and no failure", got.Upcoming, got.Failures)
	}

	page := b.do(t, request{method: "GET", path: "/admin/jobs", bearer: testToken})
	if !strings.Contains(page.body, "nightly-sync") || !strings.Contains(page.body, "7 accounts") || !strings.Contains(page.body, "not available") {
		t.Errorf("jobs page lacks the schedule or the unavailable queue note:\n%s", page.body)
	}
	api := b.do(t, request{method: "GET", path: "/admin/api/schedules", bearer: testToken})
	if !strings.Contains(api.body, `"name":"nightly-sync"`) || !strings.Contains(api.body, `"last_run_at":null`) {
		t.Errorf("schedules API = %s", api.body)
	}

	none := setup(t)
	if page := none.do(t, request{method: "GET", path: "/admin/jobs", bearer: testToken}); !strings.Contains(page.body, "No schedules.") {
		t.Errorf("jobs page without schedules lacks %q", "No schedules.")
	}
}

func TestPagesShowTheSeededData(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/admin/", []string{`id="installs-chart"`, `class="bar-install"`, `class="bar-uninstall"`, "Rye &amp; Crumb Bakery", "acct_1GardenSupply",
			`id="active-live">7<`, `id="active-test">2<`, "invoice.payment_failed"}},
		{"/admin/?q=studio", []string{"Studio North", "uninstalled"}},
		{"/admin/?q=lumen", []string{"Lumen Labs", "<th>Pending permissions</th>", "invoice_write, customer_write"}},
		{"/admin/?q=zzz", []string{"No account matches this search."}},
		{"/admin/events?status=dead", []string{deadEventID, "invoice.payment_failed", "context deadline exceeded"}},
		{"/admin/events/" + deadEventID, []string{`id="replay"`, "deadline exceeded", `&#34;type&#34;: &#34;invoice.payment_failed&#34;`, `id="event-attempts">8<`}},
		{"/admin/events/evt_1PendingCustomer", []string{`http-equiv="refresh"`, "Waiting to be processed"}},
	} {
		res := b.do(t, request{method: "GET", path: tc.path, bearer: testToken})
		if res.status != 200 {
			t.Errorf("%s = %d", tc.path, res.status)
		}
		for _, w := range tc.want {
			if !strings.Contains(res.body, w) {
				t.Errorf("%s lacks %s", tc.path, w)
			}
		}
	}
	if res := b.do(t, request{method: "GET", path: "/admin/events?status=bogus", bearer: testToken}); res.status != 400 {
		t.Errorf("events page with a bad status = %d, want 400", res.status)
	}
}

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name string
		cfg  admin.Config
	}{
		{"no token", admin.Config{Store: b.st}},
		{"no store", admin.Config{Token: testToken}},
		{"bad trusted origin", admin.Config{Token: testToken, Store: b.st, TrustedOrigins: []string{"not a url"}}},
	} {
		if _, err := admin.New(tc.cfg); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

// failingStore fails every read, as a database that went away.
type failingStore struct{ admin.Store }

var errDown = errors.New("sqlite: database disk image is malformed at /var/lib/appbackend.db")

func (failingStore) ListInstallations(context.Context, store.InstallationFilter) ([]store.Installation, error) {
	return nil, errDown
}
func (failingStore) ListEvents(context.Context, store.EventFilter) ([]store.Event, error) {
	return nil, errDown
}

func TestStoreErrorsAreInternal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h, err := admin.New(admin.Config{Token: testToken, Store: failingStore{b.st}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/admin/", "/admin/api/events"} {
		r, _ := http.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 500 || strings.Contains(rec.Body.String(), "malformed") {
			t.Errorf("%s with a failing store = %d %q, want 500 without detail", path, rec.Code, rec.Body)
		}
	}
}
