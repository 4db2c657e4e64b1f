package appbackendtest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend"
)

// FakeAppID is the app id (app_…) of the installs a StripeFake holds unless told
// otherwise. Set Config.AppID to it (WithConfig) for the reconciliation of installs,
// which lists GET /v1/apps/installs?app=Config.AppID.
const FakeAppID = "app_appbackendtest"

// AppInstall describes an app install (Stripe's apps.install object) for
// StripeFake.PutInstall and App.InstallCreated. Only Account is required.
type AppInstall struct {
	// ID is the install's id; empty means a new appinst_test_… (or appinst_live_…).
	ID       string
	Account  string
	Livemode bool
	// App defaults to FakeAppID; Status to "installed"; Channel to "public".
	App     string
	Status  string
	Channel string
	// PermissionsGranted defaults to event_read; PermissionsPending to none.
	// ApprovalRequired is set when anything is pending.
	PermissionsGranted []string
	PermissionsPending []string
	EndpointsGranted   []string
	EndpointsPending   []string
	CSPGranted         map[string][]string // content_security_policy_granted: connect_src, image_src
	CSPPending         map[string][]string
	CreatedBy          string
	// AuthCode is the install's auth_code, as an OAuth app's install carries it; OAuth
	// issues a fresh one from the fake's token endpoint (IssueOAuthCode) instead.
	AuthCode string
	OAuth    bool
	// Created is Stripe's created time; zero means now.
	Created time.Time
}

// fakeInstalls holds a StripeFake's installs per mode, in creation order.
type fakeInstalls struct {
	ids  map[string][]string
	byID map[string]map[string]any
}

func installMode(livemode bool) string { return modeName(livemode) }

// PutInstall stores an install as Stripe would list it (GET /v1/apps/installs), as if
// the merchant had installed the app, and returns the stored object. No event is
// sent: App.InstallCreated sends apps.install.created; a PutInstall alone is an
// install whose event never arrived, which the reconciliation repairs.
func (f *StripeFake) PutInstall(in AppInstall) map[string]any {
	if in.Account == "" {
		panic("appbackendtest: PutInstall without an Account")
	}
	if in.OAuth && in.AuthCode == "" {
		in.AuthCode = f.IssueOAuthCode(in.Account, in.Livemode)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.ID == "" {
		f.seq++
		in.ID = fmt.Sprintf("appinst_%s_fake%d", installMode(in.Livemode), f.seq)
	}
	obj := installObject(in)
	f.storeInstall(in.Livemode, obj)
	return deepCopy(obj)
}

func installObject(in AppInstall) map[string]any {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	list := func(l []string) []any {
		out := []any{}
		for _, s := range l {
			out = append(out, s)
		}
		return out
	}
	csp := func(m map[string][]string) map[string]any {
		return map[string]any{"connect_src": list(m["connect_src"]), "image_src": list(m["image_src"])}
	}
	granted := in.PermissionsGranted
	if granted == nil {
		granted = []string{"event_read"}
	}
	created := in.Created
	if created.IsZero() {
		created = time.Now()
	}
	pending := len(in.PermissionsPending) > 0 || len(in.EndpointsPending) > 0 ||
		len(in.CSPPending["connect_src"]) > 0 || len(in.CSPPending["image_src"]) > 0
	return map[string]any{
		"id": in.ID, "object": "apps.install", "account": in.Account, "app": or(in.App, FakeAppID),
		"approval_required": pending, "auth_code": nilIfEmpty(in.AuthCode), "channel": or(in.Channel, "public"),
		"content_security_policy_granted": csp(in.CSPGranted), "content_security_policy_pending": csp(in.CSPPending),
		"created": created.Unix(), "created_by": nilIfEmpty(in.CreatedBy),
		"endpoints_granted": list(in.EndpointsGranted), "endpoints_pending": list(in.EndpointsPending),
		"livemode": in.Livemode, "permissions_granted": list(granted), "permissions_pending": list(in.PermissionsPending),
		"status": or(in.Status, "installed"),
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// storeInstall adds or replaces an install. The caller holds f.mu.
func (f *StripeFake) storeInstall(livemode bool, obj map[string]any) {
	if f.installs.byID == nil {
		f.installs = fakeInstalls{ids: map[string][]string{}, byID: map[string]map[string]any{}}
	}
	id, mode := obj["id"].(string), installMode(livemode)
	if f.installs.byID[mode+" "+id] == nil {
		f.installs.ids[mode] = append(f.installs.ids[mode], id)
	}
	f.installs.byID[mode+" "+id] = obj
}

// GetInstall returns a copy of the install with id in a mode.
func (f *StripeFake) GetInstall(livemode bool, id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj := f.installs.byID[installMode(livemode)+" "+id]
	if obj == nil {
		return nil, false
	}
	return deepCopy(obj), true
}

// Installs returns copies of the installs of a mode, oldest first.
func (f *StripeFake) Installs(livemode bool) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	mode := installMode(livemode)
	out := []map[string]any{}
	for _, id := range f.installs.ids[mode] {
		out = append(out, deepCopy(f.installs.byID[mode+" "+id]))
	}
	return out
}

// DeleteInstall removes an install, as Stripe does once an uninstall completed: it is
// listed no more. No event is sent (App.InstallDeleted sends apps.install.deleted);
// a DeleteInstall alone is an uninstall whose event never arrived.
func (f *StripeFake) DeleteInstall(livemode bool, id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mode := installMode(livemode)
	obj := f.installs.byID[mode+" "+id]
	if obj == nil {
		return nil, false
	}
	delete(f.installs.byID, mode+" "+id)
	f.installs.ids[mode] = slices.DeleteFunc(f.installs.ids[mode], func(s string) bool { return s == id })
	obj["status"] = "uninstalled"
	return deepCopy(obj), true
}

// ApproveInstall is the merchant approving what an install has pending in the
// Dashboard: the pending permissions, endpoints and CSP entries become granted and
// approval_required false. It returns the install (no event is sent; see
// App.InstallUpdated).
func (f *StripeFake) ApproveInstall(livemode bool, id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj := f.installs.byID[installMode(livemode)+" "+id]
	if obj == nil {
		return nil, false
	}
	move := func(granted, pending map[string]any, key string) {
		g, _ := granted[key].([]any)
		p, _ := pending[key].([]any)
		granted[key], pending[key] = append(g, p...), []any{}
	}
	for _, k := range []string{"permissions", "endpoints"} {
		g, _ := obj[k+"_granted"].([]any)
		p, _ := obj[k+"_pending"].([]any)
		obj[k+"_granted"], obj[k+"_pending"] = append(g, p...), []any{}
	}
	gc, _ := obj["content_security_policy_granted"].(map[string]any)
	pc, _ := obj["content_security_policy_pending"].(map[string]any)
	if gc != nil && pc != nil {
		move(gc, pc, "connect_src")
		move(gc, pc, "image_src")
	}
	obj["approval_required"] = false
	return deepCopy(obj), true
}

// installsAPI answers /v1/apps/installs: the list (Stripe's pagination; the app's
// installs across accounts for the platform filtering by app, else the installs on
// the calling account), retrieve, reauthorize (POST …/{id}) and uninstall (POST
// …/{id}/uninstall, through Stripe-Account of the installing account).
func (f *StripeFake) installsAPI(mode string, req StripeRequest) (int, []byte) {
	rest := strings.Trim(strings.TrimPrefix(req.Path, "/v1/apps/installs"), "/")
	id, action, _ := strings.Cut(rest, "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == "" {
		if req.Method != http.MethodGet {
			return unrecognized(req)
		}
		return f.listInstalls(mode, req)
	}
	obj := f.installs.byID[mode+" "+id]
	// The developer (the platform's key) and the installing account see an install.
	if obj == nil || (req.Account != "" && obj["account"] != req.Account) {
		return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing", "No such app install: '"+id+"'")
	}
	switch {
	case req.Method == http.MethodGet && action == "":
		return jsonBody(http.StatusOK, obj)
	case req.Method == http.MethodPost && action == "":
		// An app developer reauthorizes through Stripe-Account and cannot grant new
		// access: the install is answered as it is (ApproveInstall is the merchant's).
		if req.Account == "" {
			return errorBody(http.StatusBadRequest, "invalid_request_error", "", "reauthorize an install on the installing account (Stripe-Account)")
		}
		return jsonBody(http.StatusOK, obj)
	case req.Method == http.MethodPost && action == "uninstall":
		if req.Account == "" {
			return errorBody(http.StatusBadRequest, "invalid_request_error", "", "uninstall an install on the installing account (Stripe-Account)")
		}
		obj["status"] = "uninstalling"
		return jsonBody(http.StatusOK, obj)
	}
	return unrecognized(req)
}

// listInstalls is GET /v1/apps/installs, newest first. The caller holds f.mu.
func (f *StripeFake) listInstalls(mode string, req StripeRequest) (int, []byte) {
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
	for _, id := range slices.Backward(f.installs.ids[mode]) {
		obj := f.installs.byID[mode+" "+id]
		switch {
		case req.Account != "" && obj["account"] != req.Account:
			continue
		// Without app, a developer's own key sees the installs on its own account,
		// none here: it must filter by its app to see the merchants'.
		case req.Account == "" && q.Get("app") == "":
			continue
		case q.Get("app") != "" && obj["app"] != q.Get("app"):
			continue
		case q.Get("account") != "" && obj["account"] != q.Get("account"):
			continue
		case q.Get("status") != "" && obj["status"] != q.Get("status"):
			continue
		case q.Get("channel") != "" && obj["channel"] != q.Get("channel"):
			continue
		case q.Get("approval_required") != "" && fmt.Sprint(obj["approval_required"]) != q.Get("approval_required"):
			continue
		}
		all = append(all, obj)
	}
	data, hasMore, knownAfter := listPage(all, q, limit)
	if !knownAfter {
		return errorBody(http.StatusBadRequest, "invalid_request_error", "resource_missing", "No such app install: '"+q.Get("starting_after")+"'")
	}
	return jsonBody(http.StatusOK, map[string]any{"object": "list", "url": "/v1/apps/installs", "has_more": hasMore, "data": data})
}

// InstallCreated stores in (see StripeFake.PutInstall) and delivers
// apps.install.created carrying it, as Stripe does when a merchant installs the app;
// it waits until the event is processed (the OnInstall hooks ran, an OAuth install's
// auth_code was exchanged) and returns the installation.
func (a *App) InstallCreated(t testing.TB, in AppInstall) appbackend.Installation {
	t.Helper()
	obj := a.fake(t).PutInstall(in)
	return a.installEvent(t, "apps.install.created", obj, appbackend.InstallStatusInstalled)
}

// InstallUpdated delivers apps.install.updated carrying the fake's install id as it
// is now (after ApproveInstall, say), waits until it is processed and returns the
// installation.
func (a *App) InstallUpdated(t testing.TB, livemode bool, id string) appbackend.Installation {
	t.Helper()
	obj, ok := a.fake(t).GetInstall(livemode, id)
	if !ok {
		t.Fatalf("appbackendtest: InstallUpdated: no install %s in the StripeFake", id)
	}
	want := appbackend.InstallStatusInstalled
	if obj["status"] != "installed" {
		want = appbackend.InstallStatusUninstalled
	}
	return a.installEvent(t, "apps.install.updated", obj, want)
}

// InstallDeleted removes the install id from the fake (StripeFake.DeleteInstall) and
// delivers apps.install.deleted carrying it, as Stripe does when a merchant
// uninstalls the app; it waits until the event is processed and the data-removal job
// that follows finished (the OnUninstall and OnCleanup hooks ran).
func (a *App) InstallDeleted(t testing.TB, livemode bool, id string) appbackend.Installation {
	t.Helper()
	obj, ok := a.fake(t).DeleteInstall(livemode, id)
	if !ok {
		t.Fatalf("appbackendtest: InstallDeleted: no install %s in the StripeFake", id)
	}
	in := a.installEvent(t, "apps.install.deleted", obj, appbackend.InstallStatusUninstalled)
	a.waitForRemoval(t, in.LastEventID)
	return in
}

func (a *App) fake(t testing.TB) *StripeFake {
	t.Helper()
	if a.Fake == nil {
		t.Fatal("appbackendtest: installs need the app's StripeFake (not stripe-mock or another API base)")
	}
	return a.Fake
}

func (a *App) installEvent(t testing.TB, eventType string, obj map[string]any, want appbackend.InstallStatus) appbackend.Installation {
	t.Helper()
	account, _ := obj["account"].(string)
	livemode, _ := obj["livemode"].(bool)
	// The event is as old as the install (AppInstall.Created), so that a test can
	// place it before a reconciliation's grace.
	var created time.Time
	if c, ok := obj["created"].(float64); ok && eventType == "apps.install.created" {
		created = time.Unix(int64(c), 0)
	}
	id := a.Deliver(t, Event{Type: eventType, Account: account, Livemode: livemode, Object: obj, Created: created})
	a.WaitForEvent(t, id)
	in, ok := a.Installation(t, account, livemode)
	if !ok || in.Status != want {
		t.Fatalf("appbackendtest: after %s, the installation of %s is %+v, want %s", eventType, account, in, want)
	}
	return in
}

// WaitForInstallReconciles waits until every reconciliation of installs enqueued so
// far (the one the app runs at start, with Config.AppID set) finished, so that it
// cannot see, or race, what a test changes in the fake's installs afterwards.
func (a *App) WaitForInstallReconciles(t testing.TB) {
	t.Helper()
	client := a.riverClient(t)
	res, err := client.JobList(context.Background(), river.NewJobListParams().Kinds("appbackend.reconcile_installs").First(100))
	if err != nil {
		t.Fatalf("appbackendtest: list install reconciliations: %v", err)
	}
	for _, job := range res.Jobs {
		if status := a.WaitForJob(t, job.ID); status.State != "completed" {
			t.Fatalf("appbackendtest: the install reconciliation job %d ended %s: %v", job.ID, status.State, status.Errors)
		}
	}
}

// ReconcileInstalls runs the reconciliation of installs now (App.ReconcileInstalls:
// Stripe's list of installs against the installations, in every mode with a key), waits
// for the data-removal jobs of the uninstalls it repaired, and returns what it did.
func (a *App) ReconcileInstalls(t testing.TB) appbackend.InstallReconcileResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	res, err := a.App.ReconcileInstalls(ctx)
	if err != nil {
		t.Fatalf("appbackendtest: reconcile installs: %v", err)
	}
	for _, r := range res.Uninstalled {
		a.waitForRemoval(t, r.LastEventID)
	}
	return res
}
