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
	"github.com/stretchr/testify/require"
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
			require.Equal(t, http.StatusUnauthorized, res.status, "%s %s with %s = %d, want 401", rt.method, rt.path, cred.name, res.status)
			if strings.HasPrefix(rt.path, "/admin/api/") {
				assertAPIError(t, res, "unauthorized")
			} else if !strings.Contains(res.body, `name="token"`) {
				require.FailNow(t, fmt.Sprintf("%s %s with %s: the 401 page has no login form", rt.method, rt.path, cred.name))
			}
		}
	}
	got := b.replays()
	require.Empty(t, got, "unauthenticated requests replayed %v", got)
}

func assertAPIError(t *testing.T, res response, wantCode string) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	err := json.Unmarshal([]byte(res.body), &body)
	require.False(t, err != nil || body.Error.Code != wantCode || body.Error.Message == "", "error body = %s, want {\"error\":{\"code\":%q,…}}", res.body, wantCode)
	ct := res.header.Get("Content-Type")
	require.Equal(t, "application/json", ct, "error Content-Type = %q, want application/json", ct)
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
		require.Equal(t, rt.want, res.status, "%s %s with the bearer token = %d, want %d\n%s", rt.method, rt.path, res.status, rt.want, res.body)
	}
}

func TestLoginSetsASessionCookie(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, request{method: "GET", path: "/admin/"})
	require.Equal(t, http.StatusUnauthorized, res.status, "GET /admin/ without a session = %d without the login form", res.status)
	require.Contains(t, res.body, `<form method="post" action="/admin/login">`, "GET /admin/ without a session = %d without the login form", res.status)
	wrong := b.do(t, request{method: "POST", path: "/admin/login", form: url.Values{"token": {"guess"}}})
	if wrong.status != http.StatusUnauthorized || len(wrong.resp.Cookies()) != 0 || !strings.Contains(wrong.body, "not the admin token") {
		require.FailNow(t, fmt.Sprintf("login with a wrong token = %d, cookies %v; want 401, none, and a message", wrong.status, wrong.resp.Cookies()))
	}

	c := b.login(t)
	require.False(t, !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/admin/", "cookie over plain HTTP = %+v; want HttpOnly, SameSite=Strict, Path=/admin/, not Secure", c)
	require.False(t, c.Secure, "cookie over plain HTTP = %+v; want HttpOnly, SameSite=Strict, Path=/admin/, not Secure", c)
	require.NotContains(t, c.Value, testToken, "the session cookie holds the token")
	res = b.do(t, request{method: "GET", path: "/admin/", cookie: c})
	require.Equal(t, http.StatusOK, res.status, "GET /admin/ with the session = %d, want 200 with the accounts", res.status)
	require.Contains(t, res.body, "Corner Bookshop", "GET /admin/ with the session = %d, want 200 with the accounts", res.status)
	if res := b.do(t, request{method: "GET", path: "/admin/api/stats", cookie: c}); res.status != http.StatusOK {
		require.FailNow(t, fmt.Sprintf("GET /admin/api/stats with the session = %d, want 200", res.status))
	}
	if res := b.do(t, request{method: "GET", path: "/admin/login", cookie: c}); res.status != http.StatusSeeOther {
		require.FailNow(t, fmt.Sprintf("GET /admin/login once signed in = %d, want 303 to the dashboard", res.status))
	}

	out := b.do(t, request{method: "POST", path: "/admin/logout", cookie: c})
	cleared := slices.ContainsFunc(out.resp.Cookies(), func(k *http.Cookie) bool { return k.Name == admin.SessionCookie && k.MaxAge < 0 })
	if out.status != http.StatusSeeOther || !cleared {
		require.FailNow(t, fmt.Sprintf("logout = %d, cookies %v; want 303 and the cookie removed", out.status, out.resp.Cookies()))
	}
}

func TestSessionCookieIsSecureBehindHTTPS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.do(t, request{method: "POST", path: "/admin/login", form: url.Values{"token": {testToken}},
		header: http.Header{"X-Forwarded-Proto": {"https"}}})
	cs := res.resp.Cookies()
	require.Len(t, cs, 1, "cookie behind an HTTPS proxy = %v, want one Secure cookie", cs)
	require.True(t, cs[0].Secure, "cookie behind an HTTPS proxy = %v, want one Secure cookie", cs)
}

func TestSessionsEnd(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	b := setup(t, func(c *admin.Config) { c.Archetype.Now = func() time.Time { return clock() }; c.SessionTTL = time.Hour })
	c := b.login(t)
	res := b.do(t, request{method: "GET", path: "/admin/api/stats", cookie: c})
	require.Equal(t, http.StatusOK, res.status, "fresh session = %d, want 200", res.status)
	clock = func() time.Time { return now.Add(time.Hour + time.Second) }
	res = b.do(t, request{method: "GET", path: "/admin/api/stats", cookie: c})
	require.Equal(t, http.StatusUnauthorized, res.status, "session after its TTL = %d, want 401", res.status)

	// A new token ends the sessions of the old one.
	rotated, err := admin.New(admin.Config{Token: "rotated-token-5f2a9c7e1b3d", Store: b.st})
	require.NoError(t, err)
	clock = func() time.Time { return now }
	r, _ := http.NewRequest("GET", "/admin/api/stats", nil)
	r.AddCookie(c)
	rec := httptest.NewRecorder()
	rotated.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		require.FailNow(t, fmt.Sprintf("old session under a new token = %d, want 401", rec.Code))
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
		require.Equal(t, http.StatusForbidden, res.status, "cross-origin %s = %d, want 403", tc.name, res.status)
		if len(res.resp.Cookies()) != 0 {
			require.FailNow(t, fmt.Sprintf("cross-origin %s set cookies %v", tc.name, res.resp.Cookies()))
		}
	}
	got := b.replays()
	require.Empty(t, got, "cross-origin posts replayed %v", got)
	sameOrigin := b.do(t, request{method: "POST", path: "/admin/events/" + deadEventID + "/replay", form: url.Values{}, cookie: c,
		header: http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {b.srv.URL}}})
	require.Equal(t, http.StatusSeeOther, sameOrigin.status, "same-origin replay = %d, want 303", sameOrigin.status)
}

func TestNoCORSAndStrictHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, rt := range routes {
		res := b.do(t, request{method: rt.method, path: rt.path, bearer: testToken,
			header: http.Header{"Origin": {"https://dashboard.stripe.com"}}})
		for k := range res.header {
			require.False(t, strings.HasPrefix(k, "Access-Control-"), "%s %s answers %s", rt.method, rt.path, k)
		}
		csp := res.header.Get("Content-Security-Policy")
		require.Contains(t, csp, "default-src 'none'", "%s %s: Content-Security-Policy = %q", rt.method, rt.path, csp)
		require.NotContains(t, csp, "script-src", "%s %s: Content-Security-Policy = %q", rt.method, rt.path, csp)
		require.Equal(t, "DENY", res.header.Get("X-Frame-Options"), "%s %s: framing or caching allowed: %v", rt.method, rt.path, res.header)
		require.Equal(t, "no-store", res.header.Get("Cache-Control"), "%s %s: framing or caching allowed: %v", rt.method, rt.path, res.header)
		require.NotContains(t, res.body, "<script", "%s %s: the page has a script", rt.method, rt.path)
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
		require.NotContains(t, res.body, testToken, "a %d response shows the token:\n%s", res.status, res.body)
		for k, vs := range res.header {
			for _, v := range vs {
				require.NotContains(t, v, testToken, "header %s shows the token", k)
			}
		}
	}
	if logs := b.logs.String(); strings.Contains(logs, testToken) {
		require.FailNow(t, fmt.Sprintf("the log shows the token:\n%s", logs))
	} else if !strings.Contains(logs, "admin login refused") {
		require.FailNow(t, fmt.Sprintf("the refused login was not logged:\n%s", logs))
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.do(t, request{method: "POST", path: "/admin/api/events/" + deadEventID + "/replay", bearer: testToken})
	require.Equal(t, http.StatusAccepted, res.status, "API replay = %d, want 202\n%s", res.status, res.body)
	var ev struct{ ID, Status string }
	err := json.Unmarshal([]byte(res.body), &ev)
	require.NoError(t, err, "API replay body = %s, want the event", res.body)
	require.Equal(t, deadEventID, ev.ID, "API replay body = %s, want the event", res.body)

	c := b.login(t)
	form := b.do(t, request{method: "POST", path: "/admin/events/" + failedEventID + "/replay", form: url.Values{}, cookie: c})
	if want := "/admin/events/" + failedEventID + "?replayed=1"; form.status != http.StatusSeeOther || form.header.Get("Location") != want {
		require.FailNow(t, fmt.Sprintf("form replay = %d to %q, want 303 to %q", form.status, form.header.Get("Location"), want))
	}
	if got, want := b.replays(), []string{deadEventID, failedEventID}; !slices.Equal(got, want) {
		require.FailNow(t, fmt.Sprintf("Replay called with %v, want %v", got, want))
	}

	missing := b.do(t, request{method: "POST", path: "/admin/api/events/evt_missing/replay", bearer: testToken})
	require.Equal(t, http.StatusNotFound, missing.status, "replay of an unknown event = %d, want 404", missing.status)
	assertAPIError(t, missing, "not_found")
}

func TestReplayUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *admin.Config) { c.Replay = nil })
	res := b.do(t, request{method: "POST", path: "/admin/api/events/" + deadEventID + "/replay", bearer: testToken})
	require.Equal(t, http.StatusServiceUnavailable, res.status, "replay without a processor = %d, want 503", res.status)
	assertAPIError(t, res, "unavailable")
	page := b.do(t, request{method: "GET", path: "/admin/events/" + deadEventID, bearer: testToken})
	require.NotContains(t, page.body, `id="replay"`, "the event page offers a replay button without a processor")
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
			require.FailNow(t, fmt.Sprintf("%s: %d %s", tc.name, res.status, res.body))
			continue
		}
		var ids []string
		for _, e := range got.Data {
			ids = append(ids, e.ID)
		}
		require.False(t, tc.wantIDs != nil && !slices.Equal(ids, tc.wantIDs), "%s: ids %v, want %v", tc.name, ids, tc.wantIDs)
		require.False(t, tc.wantIDs == nil && len(ids) != tc.wantCount, "%s: %d events, want %d", tc.name, len(ids), tc.wantCount)
		require.True(t, got.HasMore == tc.wantMore, "%s: has_more %v, want %v", tc.name, got.HasMore, tc.wantMore)
	}
	for _, bad := range []string{"status=exploded", "limit=0", "limit=abc", "mode=staging"} {
		res := b.do(t, request{method: "GET", path: "/admin/api/events?" + bad, bearer: testToken})
		require.Equal(t, http.StatusBadRequest, res.status, "?%s = %d, want 400", bad, res.status)
		assertAPIError(t, res, "bad_request")
	}

	one := b.do(t, request{method: "GET", path: "/admin/api/events/" + deadEventID, bearer: testToken})
	var ev struct {
		ID, Status string
		Attempts   int
		LastError  string `json:"last_error"`
		Raw        struct{ ID, Type string }
	}
	err := json.Unmarshal([]byte(one.body), &ev)
	require.NoError(t, err, "event: %v\n%s", err, one.body)
	require.False(t, ev.Status != "dead" || ev.Attempts != 8 || ev.LastError != deadError || ev.Raw.ID != deadEventID || ev.Raw.Type != "invoice.payment_failed", "event = %+v, want the dead event with 8 attempts, its error and raw payload", ev)
	res := b.do(t, request{method: "GET", path: "/admin/api/events/evt_nope", bearer: testToken})
	require.Equal(t, 404, res.status, "unknown event = %d, want 404", res.status)
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
		err := json.Unmarshal([]byte(res.body), &got)
		require.NoError(t, err, "?%s: %d %s", query, res.status, res.body)
		require.Equal(t, 200, res.status, "?%s: %d %s", query, res.status, res.body)
		return got.Data
	}
	all := get("")
	require.Len(t, all, len(seedAccounts), "all installations: %d, want %d", len(all), len(seedAccounts))
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
		require.True(t, slices.Equal(ids, tc.want), "?%s: %v, want %v", tc.query, ids, tc.want)
	}
	bakery := get("q=bakery")[0]
	require.False(t, bakery.Mode != "live" || bakery.Status != "installed" || bakery.DisplayName == nil || *bakery.DisplayName != "Rye & Crumb Bakery" ||
		bakery.InstalledAt == nil || bakery.LastEvent == nil || bakery.LastEvent.ID != deadEventID, "bakery = %+v, want live, installed, named, with the dead invoice event as its last", bakery)
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
	err := json.Unmarshal([]byte(res.body), &got)
	require.NoError(t, err, "%v\n%s", err, res.body)
	live := got.Installations["live"]
	require.Equal(t, 7, live.Installed, "live = %+v, want 7 installed, 3 uninstalled", live)
	require.Equal(t, 3, live.Uninstalled, "live = %+v, want 7 installed, 3 uninstalled", live)
	test := got.Installations["test"]
	require.Equal(t, 2, test.Installed, "test = %+v, want 2 installed, 1 uninstalled", test)
	require.Equal(t, 1, test.Uninstalled, "test = %+v, want 2 installed, 1 uninstalled", test)
	wantEvents := map[string]int{"pending": 1, "processed": len(seedAccounts) + 4 + 1, "failed": 1, "dead": 1}
	require.Equal(t, fmt.Sprint(wantEvents), fmt.Sprint(got.Events), "events = %v, want %v", got.Events, wantEvents)
	require.NotNil(t, got.LastEvent["live"], "last_event_received_at = %v, want both modes", got.LastEvent)
	require.NotNil(t, got.LastEvent["test"], "last_event_received_at = %v, want both modes", got.LastEvent)
	installs, uninstalls := 0, 0
	for _, d := range got.Daily {
		installs += d.Installs
		uninstalls += d.Uninstalls
	}
	require.False(t, len(got.Daily) != admin.ChartDays || installs != len(seedAccounts) || uninstalls != 4, "daily: %d days, %d installs, %d uninstalls; want %d, %d, 4", len(got.Daily), installs, uninstalls, admin.ChartDays, len(seedAccounts))
	if today := time.Now().UTC().Format(time.DateOnly); got.Daily[len(got.Daily)-1].Date != today {
		require.FailNow(t, fmt.Sprintf("last day %s, want today %s", got.Daily[len(got.Daily)-1].Date, today))
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
	require.NoError(t, err)
	require.NoError(t, rt.Build())
	withJobs, err := admin.New(admin.Config{Token: testToken, Store: b.st, Jobs: rt.River()})
	require.NoError(t, err)
	tx, err := b.st.DB().BeginTx(t.Context(), nil)
	require.NoError(t, err)
	require.NoError(t, proc.EnqueueTx(t.Context(), tx, "evt_1PendingCustomer"))
	require.NoError(t, tx.Commit())

	r, _ := http.NewRequest("GET", "/admin/api/jobs", nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	withJobs.ServeHTTP(rec, r)
	var got struct {
		Recent, Failures, Upcoming []struct{ Kind, State, Args string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
		require.FailNow(t, fmt.Sprintf("jobs = %d %s", rec.Code, rec.Body))
	}
	require.False(t, len(got.Recent) != 1 || got.Recent[0].Kind != "appbackend.process_events" || !strings.Contains(got.Recent[0].Args, "evt_1PendingCustomer"), "recent jobs = %+v, want the process_events job", got.Recent)
	require.False(t, len(got.Upcoming) != 1 || got.Upcoming[0].State != "available" || len(got.Failures) != 0, "upcoming %+v, failures %+v; want the available job and no failure", got.Upcoming, got.Failures)

	page := b.do(t, request{method: "GET", path: "/admin/jobs", bearer: testToken})
	require.False(t, !strings.Contains(page.body, "nightly-sync") || !strings.Contains(page.body, "7 accounts") || !strings.Contains(page.body, "not available"), "jobs page lacks the schedule or the unavailable queue note:\n%s", page.body)
	api := b.do(t, request{method: "GET", path: "/admin/api/schedules", bearer: testToken})
	require.Contains(t, api.body, `"name":"nightly-sync"`, "schedules API = %s", api.body)
	require.Contains(t, api.body, `"last_run_at":null`, "schedules API = %s", api.body)

	none := setup(t)
	if page := none.do(t, request{method: "GET", path: "/admin/jobs", bearer: testToken}); !strings.Contains(page.body, "No schedules.") {
		require.FailNow(t, fmt.Sprintf("jobs page without schedules lacks %q", "No schedules."))
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
		require.Equal(t, 200, res.status)
		for _, w := range tc.want {
			require.Contains(t, res.body, w, "%s lacks %s", tc.path, w)
		}
	}
	res := b.do(t, request{method: "GET", path: "/admin/events?status=bogus", bearer: testToken})
	require.Equal(t, 400, res.status, "events page with a bad status = %d, want 400", res.status)
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
		_, err := admin.New(tc.cfg)
		require.Error(t, err, "%s: New succeeded", tc.name)
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
	require.NoError(t, err)
	for _, path := range []string{"/admin/", "/admin/api/events"} {
		r, _ := http.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 500 || strings.Contains(rec.Body.String(), "malformed") {
			require.FailNow(t, fmt.Sprintf("%s with a failing store = %d %q, want 500 without detail", path, rec.Code, rec.Body))
		}
	}
}
