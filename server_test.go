package appbackend_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/stretchr/testify/require"
)

const (
	secretA = "absec_test_secret"
	secretB = "absec_rotated_secret_2"
	userID  = "usr_K6yd2CbXLO9A5G"
	acctID  = "acct_1JSkf6FRwUQjTSJE"
)

type testBundle struct {
	app     *appbackend.App
	baseURL string
	logs    *syncBuffer
}

// setup runs an App on a loopback port with a temp SQLite file until the test ends.
func setup(t *testing.T, mutate ...func(*appbackend.Config)) *testBundle {
	t.Helper()
	return setupWith(t, func(c *appbackend.Config) {
		for _, m := range mutate {
			m(c)
		}
	}, nil)
}

// setupWith is setup with a hook to register handlers before Run.
func setupWith(t *testing.T, mutate func(*appbackend.Config), register func(*appbackend.App)) *testBundle {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	logs := &syncBuffer{}
	cfg := appbackend.Config{
		Database:   "sqlite:" + filepath.Join(t.TempDir(), "test.db"),
		AppSecrets: []string{secretA, secretB},
		Listener:   ln,
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
	}
	mutate(&cfg)
	ready := make(chan struct{})
	cfg.Ready = func(net.Addr) { close(ready) }
	app, err := appbackend.New(cfg)
	require.NoError(t, err)
	app.HandleFunc("POST /api/admin_only", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ok":true}`)
	})
	app.Handle("POST /api/admins", appauth.RequireRole("admin", "super_admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ok":true}`)
	})))
	app.HandleFunc("GET /api/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := appbackend.IdentityFrom(r.Context())
		fmt.Fprintf(w, `{"item":%q,"account":%q}`, r.PathValue("id"), id.AccountID)
	})
	if register != nil {
		register(app)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case <-ready:
	case err := <-done:
		require.Failf(t, "Run returned before listening", "error: %v", err)
	}
	return &testBundle{app: app, baseURL: "http://" + ln.Addr().String(), logs: logs}
}

// hmacHeader signs independently of appauth, so the server is checked against the
// protocol and not against its own signer.
func hmacHeader(ts int64, signed string, secrets ...string) string {
	parts := []string{"t=" + strconv.FormatInt(ts, 10)}
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		fmt.Fprintf(mac, "%d.%s", ts, signed)
		parts = append(parts, "v1="+hex.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(parts, ",")
}

func defaultSigned(user, acct string) string {
	return `{"user_id":"` + user + `","account_id":"` + acct + `"}`
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (b *testBundle) do(t *testing.T, method, path, sig, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.baseURL+path, rd)
	require.NoError(t, err)
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

func errorCode(r response) string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestSignedRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now().Unix()
	def := defaultSigned(userID, acctID)
	payloadBody := `{"transaction_id":"ipi_1KRmFUFRwUQjTSJEjRnCCPyV","amount":100,"livemode":false,"user_id":"` + userID + `","account_id":"` + acctID + `"}`
	pretty := "{\n  \"transaction_id\": \"ipi_1KRmFUFRwUQjTSJEjRnCCPyV\",\n  \"amount\": 1e2,\n  \"livemode\": false,\n  \"user_id\": \"" + userID + "\",\n  \"account_id\": \"" + acctID + "\"\n}"
	withExtra := `{"note":"not signed","user_id":"` + userID + `","account_id":"` + acctID + `"}`
	rolesBody := `{"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"},{"name":"admin","type":"custom"}],"user_id":"` + userID + `","account_id":"` + acctID + `"}`

	tests := []struct {
		name        string
		path        string
		sig         string
		body        string
		wantStatus  int
		wantCode    string
		wantPayload string // JSON of the whoami payload, "null" for none
		wantRoles   string
	}{
		{name: "default signature", sig: hmacHeader(now, def, secretA), body: def, wantStatus: 200, wantPayload: "null", wantRoles: "[]"},
		{name: "protocol test vector secret, second configured", sig: hmacHeader(now, def, secretB), body: def, wantStatus: 200, wantPayload: "null"},
		{name: "default signature with unsigned extra fields", sig: hmacHeader(now, def, secretA), body: withExtra, wantStatus: 200, wantPayload: "null"},
		{name: "two v1 during rotation, one unknown", sig: hmacHeader(now, def, "absec_expired_elsewhere", secretA), body: def, wantStatus: 200, wantPayload: "null"},
		{name: "signed payload", sig: hmacHeader(now, payloadBody, secretA), body: payloadBody, wantStatus: 200, wantPayload: `{"transaction_id":"ipi_1KRmFUFRwUQjTSJEjRnCCPyV","amount":100,"livemode":false}`},
		{name: "pretty-printed signed payload", sig: hmacHeader(now, payloadBody, secretA), body: pretty, wantStatus: 200, wantPayload: `{"transaction_id":"ipi_1KRmFUFRwUQjTSJEjRnCCPyV","amount":100,"livemode":false}`},
		{name: "roles are ids only", sig: hmacHeader(now, rolesBody, secretA), body: rolesBody, wantStatus: 200, wantRoles: `["admin"]`},
		{name: "tampered body", sig: hmacHeader(now, payloadBody, secretA), body: strings.Replace(payloadBody, "100", "101", 1), wantStatus: 401, wantCode: "signature_invalid"},
		{name: "other account", sig: hmacHeader(now, def, secretA), body: defaultSigned(userID, "acct_other"), wantStatus: 401, wantCode: "signature_invalid"},
		{name: "wrong secret", sig: hmacHeader(now, def, "absec_wrong"), body: def, wantStatus: 401, wantCode: "signature_invalid"},
		{name: "expired timestamp", sig: hmacHeader(now-310, def, secretA), body: def, wantStatus: 401, wantCode: "signature_expired"},
		{name: "future timestamp", sig: hmacHeader(now+310, def, secretA), body: def, wantStatus: 401, wantCode: "signature_expired"},
		{name: "missing header", body: def, wantStatus: 401, wantCode: "signature_missing"},
		{name: "malformed header", sig: "v1=zz,t=abc", body: def, wantStatus: 401, wantCode: "signature_invalid"},
		{name: "only v0 scheme", sig: fmt.Sprintf("t=%d,v0=%s", now, strings.Repeat("0", 64)), body: def, wantStatus: 401, wantCode: "signature_invalid"},
		{name: "non-JSON body", sig: hmacHeader(now, def, secretA), body: "user_id=usr_1&account_id=acct_1", wantStatus: 400, wantCode: "bad_request"},
		{name: "body without ids", sig: hmacHeader(now, def, secretA), body: `{"hello":"world"}`, wantStatus: 400, wantCode: "bad_request"},
		{name: "unknown signed route", path: "/api/nope", sig: hmacHeader(now, def, secretA), body: def, wantStatus: 404, wantCode: "not_found"},
		{name: "role required, default signature", path: "/api/admins", sig: hmacHeader(now, def, secretA), body: def, wantStatus: 403, wantCode: "role_required"},
		{name: "role required, custom role named admin", path: "/api/admins", sig: hmacHeader(now, strings.Replace(rolesBody, `{"id":"admin","name":"Administrator","type":"builtIn"},`, "", 1), secretA), body: strings.Replace(rolesBody, `{"id":"admin","name":"Administrator","type":"builtIn"},`, "", 1), wantStatus: 403, wantCode: "role_required"},
		{name: "role present", path: "/api/admins", sig: hmacHeader(now, rolesBody, secretA), body: rolesBody, wantStatus: 200},
	}
	// Not parallel: the headers were signed with now, and a parallel subtest can wait
	// for a free slot longer than the margins (±10 s) these cases test.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/api/whoami"
			}
			r := b.do(t, http.MethodPost, path, tt.sig, tt.body)
			require.Equal(t, tt.wantStatus, r.status, "body: %s", r.raw)
			require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"), "every /api response carries CORS")
			require.Equal(t, tt.wantCode, errorCode(r), "body: %s", r.raw)
			if tt.wantStatus != 200 {
				require.Contains(t, r.header.Get("Content-Type"), "application/json")
				require.NotContains(t, r.raw, secretA)
				return
			}
			if path != "/api/whoami" {
				return
			}
			require.Equal(t, userID, r.body["user_id"])
			require.Equal(t, acctID, r.body["account_id"])
			if tt.wantPayload != "" {
				got, _ := json.Marshal(r.body["payload"])
				require.JSONEq(t, tt.wantPayload, string(got))
			}
			if tt.wantRoles != "" {
				got, _ := json.Marshal(r.body["roles"])
				require.JSONEq(t, tt.wantRoles, string(got))
			}
		})
	}
}

func TestBodylessRequestSignsQueryIdentity(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sig := hmacHeader(time.Now().Unix(), defaultSigned(userID, acctID), secretA)
	r := b.do(t, http.MethodGet, "/api/items/42?user_id="+userID+"&account_id="+acctID, sig, "")
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, "42", r.body["item"])
	require.Equal(t, acctID, r.body["account"])

	r = b.do(t, http.MethodGet, "/api/items/42?user_id="+userID+"&account_id=acct_other", sig, "")
	require.Equal(t, 401, r.status, r.raw)
}

func TestBodyOverLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *appbackend.Config) { c.MaxBody = 1024 })
	def := defaultSigned(userID, acctID)
	big := `{"pad":"` + strings.Repeat("x", 2048) + `","user_id":"` + userID + `","account_id":"` + acctID + `"}`
	r := b.do(t, http.MethodPost, "/api/whoami", hmacHeader(time.Now().Unix(), def, secretA), big)
	require.Equal(t, 413, r.status, r.raw)
	require.Equal(t, "body_too_large", errorCode(r))
	require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
}

func TestCORS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.do(t, http.MethodOptions, "/api/whoami", "", "", "Origin", "null", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "stripe-signature, content-type")
	require.Equal(t, 204, r.status)
	require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.header.Get("Access-Control-Allow-Methods"), "POST")
	require.Equal(t, "Stripe-Signature, Content-Type", r.header.Get("Access-Control-Allow-Headers"))
	require.NotEmpty(t, r.header.Get("Access-Control-Max-Age"))

	// Unsigned routes never say "*": that would open them to cross-site requests.
	for _, path := range []string{"/healthz", "/readyz", "/nope"} {
		r := b.do(t, http.MethodGet, path, "", "", "Origin", "null")
		require.Empty(t, r.header.Get("Access-Control-Allow-Origin"), path)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, 200, b.do(t, http.MethodGet, "/healthz", "", "").status)
	require.Equal(t, 200, b.do(t, http.MethodGet, "/readyz", "", "").status)
	r := b.do(t, http.MethodGet, "/nope", "", "")
	require.Equal(t, 404, r.status)
	require.Equal(t, "not_found", errorCode(r))
}

func TestLogsCarryRequestIDAndNoSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	def := defaultSigned(userID, acctID)
	sig := hmacHeader(time.Now().Unix(), def, secretA)
	r := b.do(t, http.MethodPost, "/api/whoami", sig, def, "X-Request-Id", "req-123")
	require.Equal(t, 200, r.status)
	require.Equal(t, "req-123", r.header.Get("X-Request-Id"))
	b.do(t, http.MethodPost, "/api/whoami", hmacHeader(time.Now().Unix(), def, "absec_wrong"), def, "X-Request-Id", "req-456")
	// The access log line is written after the response; wait for it. Successes are
	// logged at debug, client errors at info.
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), "request_id=req-456") }, 5*time.Second, 10*time.Millisecond)
	logs := b.logs.String()
	require.NotContains(t, logs, "request_id=req-123", "a success is logged at debug only")
	require.NotContains(t, logs, secretA)
	require.NotContains(t, logs, secretB)
	require.NotContains(t, logs, strings.Split(sig, "v1=")[1], "signatures are not logged")
}

// TestAccessLogLevels: successes at debug, client errors at info (at most
// clientErrorLinesPerSecond a second, the next line saying how many were left out),
// server errors at warn.
func TestAccessLogLevels(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	b := setupWith(t, func(c *appbackend.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}, func(app *appbackend.App) {
		app.HandleFunc("POST /api/boom", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	})
	def := defaultSigned(userID, acctID)
	require.Equal(t, 200, b.do(t, http.MethodPost, "/api/whoami", hmacHeader(time.Now().Unix(), def, secretA), def, "X-Request-Id", "ok-1").status)
	require.Equal(t, 500, b.do(t, http.MethodPost, "/api/boom", hmacHeader(time.Now().Unix(), def, secretA), def, "X-Request-Id", "boom-1").status)
	for i := range 100 {
		b.do(t, http.MethodGet, "/nope", "", "", "X-Request-Id", "miss-"+strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "request_id=boom-1") }, 5*time.Second, 10*time.Millisecond)
	lines := strings.Split(logs.String(), "\n")
	levelOf := func(id string) string {
		for _, l := range lines {
			if strings.Contains(l, "msg=request") && strings.Contains(l, "request_id="+id+" ") {
				return strings.Fields(strings.SplitN(l, "level=", 2)[1])[0]
			}
		}
		return ""
	}
	require.Equal(t, "DEBUG", levelOf("ok-1"))
	require.Equal(t, "WARN", levelOf("boom-1"))
	require.Equal(t, "INFO", levelOf("miss-0"))
	misses := strings.Count(logs.String(), "status=404")
	require.GreaterOrEqual(t, misses, 20)
	require.Less(t, misses, 100, "100 client errors in a second or two are not 100 lines")
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  appbackend.Config
		want string
	}{
		{"no secret", appbackend.Config{}, "STRIPE_APP_SECRETS is required"},
		{"webhook secret as app secret", appbackend.Config{AppSecrets: []string{"whsec_abc"}}, "STRIPE_APP_SECRETS entry 1"},
		{"bad database", appbackend.Config{AppSecrets: []string{secretA}, Database: "mysql://x"}, "APPBACKEND_DATABASE"},
		{"bad webhook secret", appbackend.Config{AppSecrets: []string{secretA}, WebhookSecrets: []string{"whsec_ok", "absec_no"}}, "STRIPE_WEBHOOK_SECRETS entry 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := appbackend.New(tt.cfg)
			require.ErrorIs(t, err, appbackend.ErrConfig)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), "whsec_abc")
		})
	}
}

// syncBuffer is a log sink that the server writes while the test reads.
type syncBuffer = appbackendtest.SyncBuffer
