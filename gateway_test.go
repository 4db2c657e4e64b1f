package appbackend_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/gateway"
)

const upstreamSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // 24 bytes

// recordedCall is one request the fake upstream received.
type recordedCall struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// fakeUpstream records what the gateway sends; answer decides the reply (200 {} by
// default).
type fakeUpstream struct {
	URL    string
	mu     sync.Mutex
	calls  []recordedCall
	answer func(w http.ResponseWriter, c recordedCall)
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	u := &fakeUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := recordedCall{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body}
		u.mu.Lock()
		u.calls = append(u.calls, c)
		answer := u.answer
		u.mu.Unlock()
		if answer != nil {
			answer(w, c)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "https://upstream.example")
		io.WriteString(w, `{"from":"upstream"}`)
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *fakeUpstream) setAnswer(f func(w http.ResponseWriter, c recordedCall)) {
	u.mu.Lock()
	u.answer = f
	u.mu.Unlock()
}

// waitFor polls (bounded) for a call matching ok.
func (u *fakeUpstream) waitFor(t *testing.T, ok func(recordedCall) bool) recordedCall {
	t.Helper()
	var found recordedCall
	require.Eventually(t, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, c := range u.calls {
			if ok(c) {
				found = c
				return true
			}
		}
		return false
	}, appbackendtest.WaitTimeout, 20*time.Millisecond, "the upstream never received the call expected")
	return found
}

func (u *fakeUpstream) count(ok func(recordedCall) bool) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.calls {
		if ok(c) {
			n++
		}
	}
	return n
}

type gatewayBundle struct {
	app      *appbackendtest.App
	upstream *fakeUpstream
	apiURL   string
	signer   *gateway.Signer
}

func setupGateway(t *testing.T, mutate ...func(*appbackend.Config)) *gatewayBundle {
	t.Helper()
	up := newFakeUpstream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	app := appbackendtest.Start(t, nil, appbackendtest.WithConfig(func(c *appbackend.Config) {
		c.Gateway.Upstream = up.URL + "/stripe-app"
		c.Gateway.Secret = upstreamSecret
		c.Gateway.APIListener = ln
		c.Gateway.Timeout = 2 * time.Second
		c.EventMaxAttempts = 2
		for _, m := range mutate {
			m(c)
		}
	}))
	signer, err := gateway.ParseSecret(upstreamSecret)
	require.NoError(t, err)
	return &gatewayBundle{app: app, upstream: up, apiURL: "http://" + ln.Addr().String(), signer: signer}
}

// verifyProof checks the upstream proof of a proxied request as an upstream would.
func (b *gatewayBundle) verifyProof(t *testing.T, c recordedCall, pathQuery string) {
	t.Helper()
	p := gateway.Proof{
		UserID: c.Header.Get("Appbackend-User-Id"), AccountID: c.Header.Get("Appbackend-Account-Id"),
		Roles: c.Header.Get("Appbackend-Roles"), PayloadSigned: c.Header.Get("Appbackend-Payload-Signed"),
		Livemode: c.Header.Get("Appbackend-Livemode"),
	}
	require.Equal(t, c.Header.Get("Appbackend-Request-Id"), c.Header.Get("Webhook-Id"))
	require.NoError(t, b.signer.Verify(c.Header, p.Payload(c.Method, pathQuery, c.Body), time.Now(), 5*time.Minute))
}

func TestGatewayProxiesSignedRoutesWithIdentityHeaders(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	resp := b.app.As("usr_1", "acct_1").WithRoles("admin", "view_only").WithLivemode(false).
		Post(t, "/api/do_more_secret_stuff?page=2", map[string]any{"hello": "world"})
	require.Equal(t, http.StatusOK, resp.Status, resp.String())
	require.JSONEq(t, `{"from":"upstream"}`, string(resp.Body))
	require.Equal(t, []string{"*"}, resp.Header.Values("Access-Control-Allow-Origin"), "appbackend's CORS, not the upstream's")

	c := b.upstream.waitFor(t, func(c recordedCall) bool { return strings.Contains(c.Path, "do_more_secret_stuff") })
	require.Equal(t, "/stripe-app/api/do_more_secret_stuff?page=2", c.Path)
	require.Equal(t, "usr_1", c.Header.Get("Appbackend-User-Id"))
	require.Equal(t, "acct_1", c.Header.Get("Appbackend-Account-Id"))
	require.Equal(t, "admin,view_only", c.Header.Get("Appbackend-Roles"))
	require.Equal(t, "true", c.Header.Get("Appbackend-Payload-Signed"))
	require.Equal(t, "false", c.Header.Get("Appbackend-Livemode"))
	require.Empty(t, c.Header.Get("Stripe-Signature"))
	require.Contains(t, string(c.Body), `"hello":"world"`)
	b.verifyProof(t, c, "/api/do_more_secret_stuff?page=2")

	// Built-in routes stay appbackend's.
	who := b.app.As("usr_1", "acct_1").Post(t, "/api/whoami", nil)
	require.Equal(t, http.StatusOK, who.Status)
	require.Contains(t, string(who.Body), `"user_id":"usr_1"`)
}

func TestGatewayIdentityHeadersCannotBeSpoofed(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	header, body, err := appauth.Sign([]string{appbackendtest.AppSecret}, time.Now(), "usr_real", "acct_real", nil)
	require.NoError(t, err)
	// Only the default pair is signed; the rest of the body is not trusted.
	body = []byte(`{"user_id":"usr_real","account_id":"acct_real","livemode":true}`)
	req, err := http.NewRequest(http.MethodPost, b.app.URL+"/api/spoof", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", header)
	req.Header.Set("Appbackend-User-Id", "usr_admin")
	req.Header.Set("Appbackend-Roles", "admin")
	req.Header.Set("APPBACKEND-ACCOUNT-ID", "acct_victim")
	req.Header.Set("Appbackend-Payload-Signed", "true")
	req.Header.Set("Webhook-Signature", "v1,forged")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	c := b.upstream.waitFor(t, func(c recordedCall) bool { return strings.HasSuffix(c.Path, "/api/spoof") })
	require.Equal(t, []string{"usr_real"}, c.Header.Values("Appbackend-User-Id"))
	require.Equal(t, []string{"acct_real"}, c.Header.Values("Appbackend-Account-Id"))
	require.Equal(t, []string{""}, c.Header.Values("Appbackend-Roles"), "present and empty")
	require.Equal(t, "false", c.Header.Get("Appbackend-Payload-Signed"))
	require.Empty(t, c.Header.Values("Appbackend-Livemode"))
	require.Len(t, c.Header.Values("Webhook-Signature"), 1)
	require.Equal(t, body, c.Body, "the exact bytes received")
	b.verifyProof(t, c, "/api/spoof")

	// An unsigned request never reaches the upstream.
	before := b.upstream.count(func(recordedCall) bool { return true })
	resp, err = http.Post(b.app.URL+"/api/spoof", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, before, b.upstream.count(func(recordedCall) bool { return true }))
}

func TestGatewayUpstreamDownAndSlow(t *testing.T) {
	t.Parallel()
	b := setupGateway(t, func(c *appbackend.Config) { c.Gateway.Timeout = 300 * time.Millisecond })
	release := make(chan struct{})
	b.upstream.setAnswer(func(w http.ResponseWriter, c recordedCall) {
		<-release
		w.WriteHeader(http.StatusTeapot)
	})
	resp := b.app.As("usr_1", "acct_1").Post(t, "/api/slow", nil)
	close(release)
	require.Equal(t, http.StatusGatewayTimeout, resp.Status, resp.String())
	require.Equal(t, "upstream_timeout", resp.ErrorCode())
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))

	// Upstream status codes pass through as they are.
	b.upstream.setAnswer(func(w http.ResponseWriter, c recordedCall) { w.WriteHeader(http.StatusTeapot) })
	require.Equal(t, http.StatusTeapot, b.app.As("usr_1", "acct_1").Post(t, "/api/tea", nil).Status)

	down := setupGateway(t, func(c *appbackend.Config) { c.Gateway.Upstream = "http://127.0.0.1:1" })
	resp = down.app.As("usr_1", "acct_1").Post(t, "/api/anything", nil)
	require.Equal(t, http.StatusBadGateway, resp.Status, resp.String())
	require.Equal(t, "upstream_unavailable", resp.ErrorCode())
}

func TestGatewayDeliversEventsSigned(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	b.app.Install(t, "acct_ev", false)
	id := b.app.Deliver(t, appbackendtest.Event{Type: "customer.created", Account: "acct_ev"})
	b.app.WaitForEvent(t, id)
	c := b.upstream.waitFor(t, func(c recordedCall) bool { return c.Header.Get("Webhook-Id") == id })
	require.Equal(t, "/stripe-app/appbackend/events", c.Path)
	require.Equal(t, "acct_ev", c.Header.Get("Appbackend-Account-Id"))
	require.Equal(t, "false", c.Header.Get("Appbackend-Livemode"))
	require.Equal(t, "installed", c.Header.Get("Appbackend-Installation"))
	require.NoError(t, b.signer.Verify(c.Header, c.Body, time.Now(), 5*time.Minute))
	require.Contains(t, string(c.Body), `"id":"`+id+`"`)

	// Never installed: no installation header.
	other := b.app.Deliver(t, appbackendtest.Event{Type: "customer.created", Account: "acct_never"})
	b.app.WaitForEvent(t, other)
	c = b.upstream.waitFor(t, func(c recordedCall) bool { return c.Header.Get("Webhook-Id") == other })
	require.Empty(t, c.Header.Values("Appbackend-Installation"))
}

func TestGatewayFailingEventDeliveryIsRetriedThenDeadThenReplayed(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	b.upstream.setAnswer(func(w http.ResponseWriter, c recordedCall) { w.WriteHeader(http.StatusInternalServerError) })
	id := b.app.Deliver(t, appbackendtest.Event{Type: "invoice.paid", Account: "acct_fail"})
	waitStatus(t, b.app, id, "dead")
	require.Equal(t, 2, b.upstream.count(func(c recordedCall) bool { return c.Header.Get("Webhook-Id") == id }))

	b.upstream.setAnswer(nil)
	require.NoError(t, b.app.Replay(t.Context(), id))
	waitStatus(t, b.app, id, "processed")
}

func TestGatewayUpstreamAPIJobsAreDeliveredAndPolledByTheUI(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	b.upstream.setAnswer(func(w http.ResponseWriter, c recordedCall) {
		io.WriteString(w, `{"rows":3}`)
	})
	post := func(auth, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, b.apiURL+"/v1/jobs", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	resp := post("Bearer whsec_wrong", `{"call":"POST /jobs/export"}`)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp = post("Bearer "+upstreamSecret, `{"call":"POST /jobs/export","account_id":"acct_job","livemode":false,"body":{"format":"csv"}}`)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var created struct{ ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))

	c := b.upstream.waitFor(t, func(c recordedCall) bool { return strings.HasSuffix(c.Path, "/jobs/export") })
	require.Equal(t, created.ID, c.Header.Get("Webhook-Id"))
	require.NoError(t, b.signer.Verify(c.Header, c.Body, time.Now(), 5*time.Minute))
	require.JSONEq(t, `{"id":"`+created.ID+`","account_id":"acct_job","livemode":false,"attempt":1,"body":{"format":"csv"}}`, string(c.Body))

	var st appbackend.JobStatus
	deadline := time.Now().Add(appbackendtest.WaitTimeout)
	for time.Now().Before(deadline) {
		r := b.app.As("usr_1", "acct_job").Get(t, "/api/jobs/"+created.ID)
		require.Equal(t, http.StatusOK, r.Status, r.String())
		r.JSON(t, &st)
		if st.State == "completed" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, "completed", string(st.State))
	require.JSONEq(t, `{"rows":3}`, string(st.Output))
	require.Equal(t, http.StatusNotFound, b.app.As("usr_1", "acct_other").Get(t, "/api/jobs/"+created.ID).Status)
}

func TestGatewaySchedulesFromTheConfigFileCallTheUpstream(t *testing.T) {
	t.Parallel()
	b := setupGateway(t, func(c *appbackend.Config) {
		c.Gateway.Schedules = []appbackend.UpstreamSchedule{
			{Name: "refresh", Every: "@every 1s", PerAccount: true, Call: "POST /jobs/refresh"},
		}
	})
	b.app.Install(t, "acct_sched", true)
	c := b.upstream.waitFor(t, func(c recordedCall) bool { return strings.HasSuffix(c.Path, "/jobs/refresh") })
	require.NoError(t, b.signer.Verify(c.Header, c.Body, time.Now(), 5*time.Minute))
	var body map[string]any
	require.NoError(t, json.Unmarshal(c.Body, &body))
	require.Equal(t, "refresh", body["schedule"])
	require.Equal(t, "acct_sched", body["account_id"])
	require.Equal(t, true, body["livemode"])
	require.Contains(t, body, "slot")
	require.Contains(t, body, "missed")
	require.True(t, strings.HasPrefix(c.Header.Get("Webhook-Id"), "run_"))
}

func TestConfigFileUnderTheEnvironment(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "appbackend.toml")
	require.NoError(t, os.WriteFile(path, []byte(`
upstream = "http://127.0.0.1:8000"
upstream_secret = "`+upstreamSecret+`"
stripe_app_secrets = ["absec_one", "absec_two"]
addr = "127.0.0.1:4000"
max_body = 2048

[[schedule]]
name = "refresh"
every = "@hourly"
per_account = true
call = "POST /jobs/refresh"
`), 0o600))
	env := map[string]string{"APPBACKEND_CONFIG": path, "APPBACKEND_ADDR": "127.0.0.1:5000"}
	cfg, err := appbackend.ConfigFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:5000", cfg.Addr, "the environment wins")
	require.Equal(t, "http://127.0.0.1:8000", cfg.Gateway.Upstream)
	require.Equal(t, upstreamSecret, cfg.Gateway.Secret)
	require.Equal(t, []string{"absec_one", "absec_two"}, cfg.AppSecrets)
	require.EqualValues(t, 2048, cfg.MaxBody)
	require.Equal(t, []appbackend.UpstreamSchedule{{Name: "refresh", Every: "@hourly", PerAccount: true, Call: "POST /jobs/refresh"}}, cfg.Gateway.Schedules)
	_, err = appbackend.New(cfg)
	require.NoError(t, err)

	for name, text := range map[string]string{
		"bad toml":      `upstream = `,
		"unknown sched": "[[schedule]]\nname = \"x\"\nevery = \"@hourly\"\ncal = \"POST /x\"\n",
		"upper key":     `UPSTREAM = "http://x"`,
		"unknown key":   `upstrem = "http://127.0.0.1:8000"`,
		"float value":   `max_body = 1.5`,
		"bad call":      "upstream = \"http://127.0.0.1:1\"\nupstream_secret = \"" + upstreamSecret + "\"\nstripe_app_secrets = \"absec_x\"\n[[schedule]]\nname = \"x\"\nevery = \"@hourly\"\ncall = \"refresh\"\n",
		"weak secret":   "upstream = \"http://127.0.0.1:1\"\nupstream_secret = \"whsec_c2hvcnQ=\"\nstripe_app_secrets = \"absec_x\"\n",
		"no upstream":   "stripe_app_secrets = \"absec_x\"\n[[schedule]]\nname = \"x\"\nevery = \"@hourly\"\ncall = \"POST /x\"\n",
		"bad spec":      "upstream = \"http://127.0.0.1:1\"\nupstream_secret = \"" + upstreamSecret + "\"\nstripe_app_secrets = \"absec_x\"\n[[schedule]]\nname = \"x\"\nevery = \"sometimes\"\ncall = \"POST /x\"\n",
	} {
		p := filepath.Join(t.TempDir(), "c.toml")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		cfg, err := appbackend.ConfigFromEnv(func(k string) string {
			if k == "APPBACKEND_CONFIG" {
				return p
			}
			return ""
		})
		if err == nil {
			_, err = appbackend.New(cfg)
		}
		require.ErrorIs(t, err, appbackend.ErrConfig, name)
	}
}

// waitStatus polls (bounded) the event's status in the inbox.
func waitStatus(t *testing.T, app *appbackendtest.App, id, want string) {
	t.Helper()
	// The condition runs on another goroutine, where require must not stop the test.
	var status string
	var err error
	require.Eventually(t, func() bool {
		err = app.ReadDB().QueryRowContext(t.Context(), `SELECT status FROM appbackend_events WHERE id = $1`, id).Scan(&status)
		return err == nil && status == want
	}, appbackendtest.WaitTimeout, 20*time.Millisecond, "event %s is not %s", id, want)
}

func TestGatewayUpstreamAPICallsStripeForTheAccount(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	call := func(method, path, body string, h map[string]string) (int, []byte) {
		req, err := http.NewRequest(method, b.apiURL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+upstreamSecret)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	status, out := call(http.MethodPost, "/v1/stripe/v1/customers", "email=a%40example.com",
		map[string]string{"Appbackend-Account-Id": "acct_stripe", "Appbackend-Livemode": "false", "Content-Type": "application/x-www-form-urlencoded", "Idempotency-Key": "idem-1"})
	require.Equal(t, http.StatusOK, status, string(out))
	require.NotContains(t, string(out), appbackendtest.TestSecretKey)
	var cus struct{ ID string }
	require.NoError(t, json.Unmarshal(out, &cus))
	_, ok := b.app.Fake.Get("acct_stripe", false, "customers", cus.ID)
	require.True(t, ok, "created on the caller's account")
	reqs := b.app.Fake.Requests()
	last := reqs[len(reqs)-1]
	require.Equal(t, "acct_stripe", last.Account)
	require.Equal(t, "idem-1", last.IdempotencyKey)

	status, _ = call(http.MethodGet, "/v1/stripe/v1/customers/"+cus.ID, "", map[string]string{"Appbackend-Account-Id": "acct_stripe", "Appbackend-Livemode": "false"})
	require.Equal(t, http.StatusOK, status)
	// No live key is configured, and a mode is required.
	status, out = call(http.MethodGet, "/v1/stripe/v1/customers", "", map[string]string{"Appbackend-Account-Id": "acct_stripe", "Appbackend-Livemode": "true"})
	require.Equal(t, http.StatusBadRequest, status, string(out))
	status, _ = call(http.MethodGet, "/v1/stripe/v1/customers", "", map[string]string{"Appbackend-Account-Id": "acct_stripe"})
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = call(http.MethodGet, "/v1/stripe/v1/customers", "", map[string]string{"Appbackend-Account-Id": "not-an-account", "Appbackend-Livemode": "false"})
	require.GreaterOrEqual(t, status, 400)
}

func TestGatewayDevGeneratesAndKeepsTheUpstreamSecret(t *testing.T) {
	t.Parallel()
	banner := &syncBuffer{} // the banner is printed after the server is ready
	app := appbackendtest.Start(t, nil, appbackendtest.WithConfig(func(c *appbackend.Config) {
		c.Dev = true
		c.DevOut = banner
		c.Gateway.Upstream = "http://127.0.0.1:1"
		c.Gateway.APIAddr = "127.0.0.1:0"
	}))
	s := app.DevSecrets().UpstreamSecret
	_, err := gateway.ParseSecret(s)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(banner.String(), "APPBACKEND_UPSTREAM_SECRET="+s) }, 10*time.Second, 5*time.Millisecond, banner.String())
	var stored string
	require.NoError(t, app.ReadDB().QueryRowContext(t.Context(), `SELECT value FROM appbackend_settings WHERE key = 'dev.upstream_secret'`).Scan(&stored))
	require.Equal(t, s, stored)
}

// A hung upstream holds no database lock: event delivery happens before the event's
// processing transaction, so on SQLite, whose one writer the webhook receiver shares,
// webhooks are still acknowledged while every delivery waits.
func TestGatewayHungUpstreamDoesNotStallWebhooks(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := setupGateway(t, func(c *appbackend.Config) { c.Gateway.Timeout = time.Minute })
	b.upstream.setAnswer(func(w http.ResponseWriter, c recordedCall) {
		select {
		case <-release:
		case <-time.After(time.Minute):
		}
		w.WriteHeader(http.StatusOK)
	})
	var ids []string
	for i := range 20 {
		// Deliver waits for the 200 that says the event is stored; with the write lock
		// held by a delivery, it would wait for the upstream's minute instead.
		ids = append(ids, b.app.Deliver(t, appbackendtest.Event{Type: "invoice.paid", Account: fmt.Sprintf("acct_hung_%d", i%3)}))
	}
	require.Eventually(t, func() bool {
		return b.upstream.count(func(c recordedCall) bool { return c.Header.Get("Webhook-Id") != "" }) > 0
	}, appbackendtest.WaitTimeout, 20*time.Millisecond, "no delivery started")
	close(release)
	for _, id := range ids {
		b.app.WaitForEvent(t, id)
	}
}

// The upstream reports a running job's progress with POST /v1/jobs/{id}/output, and
// the UI sees it in GET /api/jobs/{id} before the job ends.
func TestGatewayUpstreamReportsJobProgress(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	release := make(chan struct{})
	b.upstream.setAnswer(func(w http.ResponseWriter, c recordedCall) {
		select {
		case <-release:
		case <-time.After(appbackendtest.WaitTimeout):
		}
		io.WriteString(w, `{"done":true}`)
	})
	api := func(path, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, b.apiURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+upstreamSecret)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	resp := api("/v1/jobs", `{"call":"POST /jobs/export","account_id":"acct_progress","livemode":false}`)
	var created struct{ ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()
	b.upstream.waitFor(t, func(c recordedCall) bool { return c.Header.Get("Webhook-Id") == created.ID })

	resp = api("/v1/jobs/"+created.ID+"/output", `{"progress":0.5}`)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, "POST /v1/jobs/{id}/output = %d", resp.StatusCode)
	var st appbackend.JobStatus
	r := b.app.As("usr_1", "acct_progress").Get(t, "/api/jobs/"+created.ID)
	require.Equal(t, http.StatusOK, r.Status, r.String())
	r.JSON(t, &st)
	require.Equal(t, "running", st.State)
	require.JSONEq(t, `{"progress":0.5}`, string(st.Output))

	close(release)
	require.Eventually(t, func() bool {
		b.app.As("usr_1", "acct_progress").Get(t, "/api/jobs/"+created.ID).JSON(t, &st)
		return st.State == "completed"
	}, appbackendtest.WaitTimeout, 20*time.Millisecond)
	require.JSONEq(t, `{"done":true}`, string(st.Output))
}
