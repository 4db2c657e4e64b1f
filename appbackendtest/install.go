package appbackendtest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
)

// InstallSignature is the install_signature Stripe puts on an install link's redirect
// for userID and accountID when the link sent no state, signed at t with secret: a
// Stripe-Signature value over JSON.stringify({user_id, account_id}).
func InstallSignature(secret string, t time.Time, userID, accountID string) string {
	return InstallSignatureWithState(secret, t, "", userID, accountID)
}

// InstallSignatureWithState is the install_signature of a redirect that carries state
// (what GET /install sends): a Stripe-Signature value over
// JSON.stringify({state, user_id, account_id}), as Stripe's install-link documentation
// verifies it; without state when state is "".
func InstallSignatureWithState(secret string, t time.Time, state, userID, accountID string) string {
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), appauth.ComputeSignature(secret, t.Unix(), appbackend.InstallSignedContent(state, userID, accountID)))
}

// InstallRedirect is the redirect Stripe makes back to GET /install/callback after an
// install. Zero fields take working defaults: User usr_test, the kit's AppSecret, now,
// test mode (livemode=false on the redirect), and (with OAuth) a fresh code from the
// app's StripeFake.
type InstallRedirect struct {
	Account string
	User    string
	// OAuth adds a code, as for an app with stripe_api_access_type "oauth"; Code
	// chooses it (default: StripeFake.IssueOAuthCode in the redirect's mode).
	OAuth bool
	Code  string
	// Livemode is the install's mode: a test install's redirect carries livemode=false.
	Livemode bool
	// Secret signs install_signature (default AppSecret); SignedAt is its timestamp;
	// Signature replaces it whole; NoSignature leaves it out (as some OAuth redirects
	// do, which carry stripe_user_id instead).
	Secret      string
	SignedAt    time.Time
	Signature   string
	NoSignature bool
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       WaitTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// BeginInstall is a browser's GET /install?query: it returns the state Stripe would
// receive and the cookie the browser keeps. It fails the test unless the answer is a
// redirect to Stripe's install page with a state.
func (a *App) BeginInstall(t testing.TB, query url.Values) (state string, cookie *http.Cookie) {
	t.Helper()
	resp, err := noRedirect.Get(a.URL + "/install?" + query.Encode())
	if err != nil {
		t.Fatalf("appbackendtest: GET /install: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("appbackendtest: GET /install answered %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("state") == "" {
		t.Fatalf("appbackendtest: GET /install redirected to %q, without a state", resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == "appbackend_install" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("appbackendtest: GET /install set no appbackend_install cookie")
	}
	return loc.Query().Get("state"), cookie
}

// CompleteInstall is Stripe's redirect back to GET /install/callback with state, as
// the browser holding cookie (nil: another browser) follows it. The answer is not
// followed further: a 302 to APPBACKEND_INSTALL_RETURN_URL, the "installed" page, or
// an error.
func (a *App) CompleteInstall(t testing.TB, state string, cookie *http.Cookie, r InstallRedirect) *Response {
	t.Helper()
	if r.User == "" {
		r.User = "usr_test"
	}
	if r.Secret == "" {
		r.Secret = AppSecret
	}
	if r.SignedAt.IsZero() {
		r.SignedAt = time.Now()
	}
	sig := r.Signature
	if sig == "" {
		sig = InstallSignatureWithState(r.Secret, r.SignedAt, state, r.User, r.Account)
	}
	q := url.Values{"user_id": {r.User}, "account_id": {r.Account}}
	if state != "" {
		q.Set("state", state)
	}
	if r.NoSignature {
		q.Set("stripe_user_id", r.Account)
	} else {
		q.Set("install_signature", sig)
	}
	if !r.Livemode {
		q.Set("livemode", "false")
	}
	if r.OAuth {
		code := r.Code
		if code == "" {
			if a.Fake == nil {
				t.Fatal("appbackendtest: an OAuth install needs the StripeFake or a Code")
			}
			code = a.Fake.IssueOAuthCode(r.Account, r.Livemode)
		}
		q.Set("code", code)
	}
	req, err := http.NewRequest(http.MethodGet, a.URL+"/install/callback?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("appbackendtest: GET /install/callback: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("appbackendtest: GET /install/callback: %v", err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// InstallLink runs a whole install link for account in test mode (with OAuth when
// oauth is set) and fails the test unless the install was recorded.
func (a *App) InstallLink(t testing.TB, account string, oauth bool) *Response {
	t.Helper()
	state, cookie := a.BeginInstall(t, url.Values{"mode": {"test"}})
	resp := a.CompleteInstall(t, state, cookie, InstallRedirect{Account: account, OAuth: oauth})
	if resp.Status != http.StatusFound && resp.Status != http.StatusOK {
		t.Fatalf("appbackendtest: install link for %s answered %d: %s", account, resp.Status, strings.TrimSpace(resp.String()))
	}
	return resp
}

// UninstallBeforeCleanup is Uninstall without its last wait: it delivers
// account.application.deauthorized for account in a mode, waits until it is
// processed (the installation is uninstalled, the OnUninstall hooks ran) and returns
// the installation while the data-removal job that runs the OnCleanup hooks may not
// have run yet. Use it to test what the app does between an uninstall and its
// cleanup (a request, an event, a reinstall), then WaitForCleanup.
//
// The job is enqueued with the event and starts at once, so a test that must see the
// state before the cleanup holds its OnCleanup hook (on a channel, say) until it has
// looked; the example shows how.
func (a *App) UninstallBeforeCleanup(t testing.TB, account string, livemode bool) appbackend.Installation {
	t.Helper()
	return a.lifecycle(t, "account.application.deauthorized", account, livemode, appbackend.InstallStatusUninstalled)
}

// WaitForCleanup waits until the data-removal job of the uninstall that in records
// (as UninstallBeforeCleanup returned it) is finalized, and fails the test unless it
// completed: the OnCleanup hooks ran, or were skipped because the account reinstalled
// in that mode meanwhile. It returns at once when that uninstall enqueued no job (the
// account was uninstalled already).
func (a *App) WaitForCleanup(t testing.TB, in appbackend.Installation) {
	t.Helper()
	a.waitForRemoval(t, in.LastEventID)
}
