package appbackend_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/secretbox"
)

// whatwgPathname is the path an upstream that routes by the WHATWG URL's pathname
// (Node's new URL(req.url).pathname, and the frameworks on it) serves for a request
// path as sent: "\" is "/", and ".", "%2e", "..", ".%2e", "%2e." and "%2e%2e" are
// dot-segments, resolved.
func whatwgPathname(raw string) string {
	raw = strings.ReplaceAll(raw, `\`, "/")
	segs := strings.Split(strings.TrimPrefix(raw, "/"), "/")
	var out []string
	for i, s := range segs {
		last := i == len(segs)-1
		switch strings.ToLower(s) {
		case ".", "%2e":
			if last {
				out = append(out, "")
			}
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

// TestWhatwgPathname checks the test's model of a WHATWG upstream, against Node's own
// URL parser when node is installed.
func TestWhatwgPathname(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"/stripe-app/api/%2e%2e/internal/flush":           "/stripe-app/internal/flush",
		"/stripe-app/api/x/%2E%2e/%2e%2e/%2e%2e/internal": "/internal",
		`/stripe-app/api\..\..\internal`:                  "/internal",
		"/stripe-app/api/a/.%2e/":                         "/stripe-app/api/",
		"/stripe-app/api/%2e/x":                           "/stripe-app/api/x",
		"/stripe-app/api/...x/b":                          "/stripe-app/api/...x/b",
		"/stripe-app/api/x%2f..%2fy":                      "/stripe-app/api/x%2f..%2fy",
	}
	var raws, wants []string
	for raw, want := range cases {
		require.Equal(t, want, whatwgPathname(raw), raw)
		raws, wants = append(raws, raw), append(wants, want)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("node not installed: the model is not checked against Node's URL parser")
		return
	}
	in, err := json.Marshal(raws)
	require.NoError(t, err)
	out, err := exec.CommandContext(t.Context(), node, "-e",
		`for (const p of JSON.parse(process.argv[1])) console.log(new URL(p, "http://upstream").pathname)`, string(in)).Output()
	require.NoError(t, err)
	require.Equal(t, wants, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), "Node's new URL(...).pathname")
}

// rawSigned sends a signed POST with the request target exactly as given (Go's
// client would escape a backslash), returning the status.
func rawSigned(t *testing.T, app *appbackendtest.App, target string) int {
	t.Helper()
	header, body, err := appauth.Sign([]string{appbackendtest.AppSecret}, time.Now(), "usr_1", "acct_1", nil)
	require.NoError(t, err)
	u, err := url.Parse(app.URL)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	var req bytes.Buffer
	req.WriteString("POST " + target + " HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: close\r\n")
	req.WriteString("Content-Type: application/json\r\nStripe-Signature: " + header + "\r\n")
	req.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	req.Write(body)
	_, err = conn.Write(req.Bytes())
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// A signed caller cannot reach the upstream's routes outside /api/ (nor outside the
// upstream's base path) with dot-segments the upstream resolves and appbackend's router
// does not: such a path is a 400 and nothing reaches the upstream.
func TestGatewayRefusesPathsLeavingAPI(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	outside := func(c recordedCall) bool {
		p, _, _ := strings.Cut(c.Path, "?")
		return !strings.HasPrefix(whatwgPathname(p), "/stripe-app/api/")
	}
	for _, path := range []string{
		"/api/%2e%2e/internal/flush",
		"/api/%2E%2E/internal/flush",
		"/api/.%2e/internal/flush",
		"/api/x/%2e%2e/%2e%2e/internal/flush",
		"/api/x/%2e%2e/%2e%2e/%2e%2e/internal/flush", // out of the base path too
		"/api/%2e/whoami2",
		"/api/x%2f..%2f..%2finternal",
		"/api/x%2F%2e%2e%2F%2e%2e%2Finternal",
		"/api/x%5c..%5c..%5cinternal",
		"/api/..;/internal",
		"/api/x/%00",
	} {
		resp := b.app.As("usr_1", "acct_1").Post(t, path, nil)
		require.Equal(t, http.StatusBadRequest, resp.Status, "%s: %s", path, resp)
		require.Equal(t, "bad_request", resp.ErrorCode(), path)
		require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// A literal backslash, which Go's client would escape.
	require.Equal(t, http.StatusBadRequest, rawSigned(t, b.app, `/api/x\..\..\internal`))
	require.Zero(t, b.upstream.count(func(recordedCall) bool { return true }), "nothing reached the upstream")

	// Paths that stay under /api/ are forwarded as sent, and the proof signs exactly
	// that path.
	for _, path := range []string{"/api/a%20b/c.d", "/api/...x/..y.", "/api/caf%C3%A9?q=%2e%2e%2F"} {
		resp := b.app.As("usr_1", "acct_1").Post(t, path, nil)
		require.Equal(t, http.StatusOK, resp.Status, "%s: %s", path, resp)
		c := b.upstream.waitFor(t, func(c recordedCall) bool { return c.Path == "/stripe-app"+path })
		b.verifyProof(t, c, path)
	}
	require.Zero(t, b.upstream.count(outside))
}

// The identity and proof headers survive a client that lists them in Connection: (the
// hop-by-hop removal runs before they are set), and a header that differs from one of
// them only by "_" for "-" is dropped.
func TestGatewayIdentityHeadersSurviveConnectionAndUnderscores(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	header, body, err := appauth.Sign([]string{appbackendtest.AppSecret}, time.Now(), "usr_real", "acct_real", nil)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, b.app.URL+"/api/hop", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", header)
	req.Header["Connection"] = []string{"Appbackend-User-Id, Appbackend-Account-Id, Appbackend-Roles, Appbackend-Payload-Signed, Appbackend-Request-Id, Webhook-Id, Webhook-Timestamp, Webhook-Signature"}
	req.Header["Appbackend_User_Id"] = []string{"usr_admin"}
	req.Header["appbackend_roles"] = []string{"admin"}
	req.Header["Webhook_Signature"] = []string{"v1,forged"}
	req.Header["Stripe_Signature"] = []string{"t=1,v1=forged"}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	c := b.upstream.waitFor(t, func(c recordedCall) bool { return strings.HasSuffix(c.Path, "/api/hop") })
	require.Equal(t, []string{"usr_real"}, c.Header.Values("Appbackend-User-Id"))
	require.Equal(t, []string{"acct_real"}, c.Header.Values("Appbackend-Account-Id"))
	require.Equal(t, []string{""}, c.Header.Values("Appbackend-Roles"))
	require.Equal(t, []string{"false"}, c.Header.Values("Appbackend-Payload-Signed"))
	require.NotEmpty(t, c.Header.Get("Appbackend-Request-Id"))
	for k := range c.Header {
		require.NotContains(t, k, "_", "header %s reached the upstream", k)
	}
	b.verifyProof(t, c, "/api/hop")
}

// A redirect is not a delivery: a 302 on the events path fails the attempt, with the
// Location in last_error, and is never followed (it would have turned the POST into
// a bodiless GET whose 200 marked the event processed).
func TestGatewayRedirectIsAFailedDelivery(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	b.upstream.setAnswer(func(w http.ResponseWriter, c recordedCall) {
		if strings.HasPrefix(c.Path, "/landing") {
			io.WriteString(w, `{}`)
			return
		}
		w.Header().Set("Location", "/landing")
		w.WriteHeader(http.StatusFound)
	})
	landing := func(c recordedCall) bool { return strings.HasPrefix(c.Path, "/landing") }

	id := b.app.Deliver(t, appbackendtest.Event{Type: "invoice.paid", Account: "acct_redirect"})
	var status, lastError string
	var attempts int
	require.Eventually(t, func() bool {
		var le *string
		require.NoError(t, b.app.ReadDB().QueryRowContext(t.Context(),
			`SELECT status, attempts, last_error FROM appbackend_events WHERE id = $1`, id).Scan(&status, &attempts, &le))
		if le != nil {
			lastError = *le
		}
		return status == "dead" || status == "processed"
	}, appbackendtest.WaitTimeout, 20*time.Millisecond)
	require.Equal(t, "dead", status, "a redirect marked the event processed")
	require.Equal(t, 2, attempts)
	require.Contains(t, lastError, "302")
	require.Contains(t, lastError, "/landing")
	require.Contains(t, lastError, "redirect")

	// A job the upstream enqueued: each redirected attempt is a failure.
	req, err := http.NewRequest(http.MethodPost, b.apiURL+"/v1/jobs", strings.NewReader(`{"call":"POST /jobs/moved","account_id":"acct_redirect","livemode":false}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+upstreamSecret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var created struct{ ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()
	var st appbackend.JobStatus
	require.Eventually(t, func() bool {
		b.app.As("usr_1", "acct_redirect").Get(t, "/api/jobs/"+created.ID).JSON(t, &st)
		return len(st.Errors) > 0 || st.State == "completed"
	}, appbackendtest.WaitTimeout, 20*time.Millisecond)
	require.NotEqual(t, "completed", st.State)
	require.Contains(t, st.Errors[0].Error, "302")
	require.Contains(t, st.Errors[0].Error, "/landing")

	require.Zero(t, b.upstream.count(landing), "the redirect was followed")
}

// The upstream API's Stripe proxy calls Stripe as app.Stripe(ctx) does: with the
// account's OAuth access token when it installed the app through OAuth.
func TestGatewayUpstreamStripeUsesOAuthInstallations(t *testing.T) {
	t.Parallel()
	key := secretbox.NewKey()
	b := setupGateway(t, func(c *appbackend.Config) {
		c.AppID, c.PublicURL, c.EncryptionKeys = "ca_appbackendtest", "https://backend.example.com", []string{key}
	})
	b.app.InstallLink(t, "acct_oauthgw", true)
	status, out := upstreamStripe(t, b, http.MethodGet, "/v1/stripe/v1/balance", "acct_oauthgw")
	require.Equal(t, http.StatusOK, status, out)
	last := lastRequest(t, b.app.Fake, "/v1/balance")
	require.True(t, strings.HasPrefix(last.Authorization, "Bearer oat_test_"), last.Authorization)
	require.Empty(t, last.Account, "no Stripe-Account with an OAuth token")

	// An account without OAuth tokens: the platform key and Stripe-Account.
	b.app.Install(t, "acct_keyed", false)
	status, out = upstreamStripe(t, b, http.MethodGet, "/v1/stripe/v1/balance", "acct_keyed")
	require.Equal(t, http.StatusOK, status, out)
	last = lastRequest(t, b.app.Fake, "/v1/balance")
	require.Equal(t, "Bearer "+appbackendtest.TestSecretKey, last.Authorization)
	require.Equal(t, "acct_keyed", last.Account)
}

// upstreamStripe calls the upstream API's Stripe proxy in test mode for account ("":
// no Appbackend-Account-Id), with the path as sent.
func upstreamStripe(t *testing.T, b *gatewayBundle, method, path, account string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, b.apiURL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+upstreamSecret)
	req.Header.Set("Appbackend-Livemode", "false")
	if account != "" {
		req.Header.Set("Appbackend-Account-Id", account)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
