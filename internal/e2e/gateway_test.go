package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

// gatewaySecret is the upstream secret the examples verify with (32 random bytes).
const gatewaySecret = "whsec_w3hH8cQ2sXJ3c5x3e8m6U0cM0o8rVb1tJ1Qq0p9Zy5A="

// upstreamExample is one of examples/gateway-*: how to run it.
type upstreamExample struct {
	name string
	dir  string
	cmd  []string
	// needs is a file that must exist first (installed by `make node-deps`).
	needs string
}

var upstreamExamples = []upstreamExample{
	{name: "node", dir: "gateway-node", cmd: []string{"node", "server.js"}, needs: "node_modules/standardwebhooks/package.json"},
	{name: "python", dir: "gateway-python", cmd: []string{"python3", "server.py"}},
}

// upstreamProcess is a running example upstream. appbackend reaches it through relay,
// an address the test holds, so that it can stop and start again on another port.
type upstreamProcess struct {
	t        *testing.T
	ex       upstreamExample
	relay    *e2etest.Relay
	env      []string
	log      string
	received string
	cmd      *exec.Cmd
	exited   chan struct{}
}

func startUpstream(t *testing.T, ex upstreamExample, apiAddr, failFile string) *upstreamProcess {
	dir := filepath.Join("..", "..", "examples", ex.dir)
	if _, err := exec.LookPath(ex.cmd[0]); err != nil {
		t.Skipf("%s is not installed", ex.cmd[0])
	}
	if ex.needs != "" {
		if _, err := os.Stat(filepath.Join(dir, ex.needs)); err != nil {
			require.Equal(t, "", os.Getenv("APPBACKEND_REQUIRE_EXAMPLES"), "examples/%s is not installed: run `make node-deps`", ex.dir)
			t.Skipf("examples/%s is not installed: run `make node-deps`", ex.dir)
		}
	}
	tmp := t.TempDir()
	u := &upstreamProcess{t: t, ex: ex, relay: e2etest.NewRelay(t), log: filepath.Join(tmp, "upstream.log"), received: filepath.Join(tmp, "received.jsonl")}
	u.env = append(os.Environ(),
		"APPBACKEND_UPSTREAM_SECRET="+gatewaySecret,
		"APPBACKEND_UPSTREAM_API=http://"+apiAddr,
		"RECEIVED_LOG="+u.received,
		"FAIL_EVENTS_FILE="+failFile,
	)
	t.Cleanup(func() {
		u.stop()
		if t.Failed() {
			b, _ := os.ReadFile(u.log)
			t.Logf("log of the %s upstream:\n%s", ex.name, b)
		}
	})
	u.start()
	return u
}

// URL is the relay's: the same across restarts of the upstream.
func (u *upstreamProcess) URL() string { return u.relay.URL() }

// start runs the upstream and points the relay at it. The examples take a PORT and
// print it back rather than the one they bound, so they cannot be given port 0: a port
// the kernel just handed out (and let go) is passed instead, and another process may
// bind it first. The upstream then exits with "address already in use" before its
// listening line, and start tries a new port and logs that it did.
func (u *upstreamProcess) start() {
	t := u.t
	for attempt := 1; ; attempt++ {
		port := unusedPort(t)
		err := u.startOn(port)
		if err == nil {
			u.relay.SetTarget("127.0.0.1:" + strconv.Itoa(port))
			return
		}
		require.ErrorIs(t, err, errPortTaken, fmt.Sprint(err))
		require.NotEqual(t, 5, attempt, fmt.Sprint(err))
		t.Logf("the %s upstream could not bind 127.0.0.1:%d (taken since it was chosen); retrying on a new port", u.ex.name, port)
	}
}

var errPortTaken = errors.New("port taken")

// unusedPort is a port nothing listened on a moment ago; see start for why that is
// all it can be.
func unusedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startOn runs the upstream on port and waits for its listening line, printed once it
// has bound the port.
func (u *upstreamProcess) startOn(port int) error {
	t := u.t
	cmd := exec.Command(u.ex.cmd[0], u.ex.cmd[1:]...)
	cmd.Dir = filepath.Join("..", "..", "examples", u.ex.dir)
	cmd.Env = append(u.env[:len(u.env):len(u.env)], "PORT="+strconv.Itoa(port))
	logFile, err := os.OpenFile(u.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	fi, err := logFile.Stat()
	require.NoError(t, err)
	logStart := fi.Size() // this run's part of the log starts here
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	u.cmd, u.exited = cmd, make(chan struct{})
	listening := make(chan struct{}, 1)
	exited := u.exited
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				listening <- struct{}{}
			}
		}
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	select {
	case <-listening:
		return nil
	case <-exited:
		u.cmd = nil
		b, _ := os.ReadFile(u.log)
		b = b[min(logStart, int64(len(b))):]
		if bytes.Contains(bytes.ToLower(b), []byte("address already in use")) {
			return fmt.Errorf("%w: %s", errPortTaken, b)
		}
		return fmt.Errorf("the %s upstream exited before listening:\n%s", u.ex.name, b)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the %s upstream did not listen within 30 s", u.ex.name)
	}
}

func (u *upstreamProcess) stop() {
	// First, so that nothing is relayed to the port once it is let go (and maybe taken).
	u.relay.SetTarget("")
	if u.cmd == nil {
		return
	}
	_ = u.cmd.Process.Signal(syscall.SIGKILL)
	<-u.exited
	u.cmd = nil
}

// receivedLine is a line of the example's RECEIVED_LOG.
type receivedLine struct {
	Kind         string          `json:"kind"`
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Schedule     string          `json:"schedule"`
	AccountID    *string         `json:"account_id"`
	Installation *string         `json:"installation"`
	Body         json.RawMessage `json:"body"`
}

func (u *upstreamProcess) lines() []receivedLine {
	b, err := os.ReadFile(u.received)
	if err != nil {
		return nil
	}
	var out []receivedLine
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var r receivedLine
		if json.Unmarshal(l, &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// waitLines polls (bounded) until n lines match ok, and returns them.
func (u *upstreamProcess) waitLines(n int, ok func(receivedLine) bool) []receivedLine {
	u.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got []receivedLine
	for time.Now().Before(deadline) {
		got = got[:0]
		for _, l := range u.lines() {
			if ok(l) {
				got = append(got, l)
			}
		}
		if len(got) >= n {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.FailNow(u.t, fmt.Sprintf("the %s upstream received %d matching calls, want %d: %+v", u.ex.name, len(got), n, u.lines()))
	return nil
}

// signedCall sends a UI-extension request signed over payload (nil: the default pair),
// with extra headers.
func signedCall(t *testing.T, method, url, user, account string, payload []byte, extra map[string]string) (int, http.Header, []byte) {
	t.Helper()
	header, body, err := appauth.Sign([]string{e2etest.AppSecret}, time.Now(), user, account, payload)
	require.NoError(t, err)
	var rd io.Reader
	if method == http.MethodGet {
		url += "?user_id=" + user + "&account_id=" + account
	} else {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", header)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := e2etest.HTTPClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

type identityAnswer struct {
	Success  bool `json:"success"`
	Identity struct {
		UserID        string   `json:"userId"`
		AccountID     string   `json:"accountId"`
		Roles         []string `json:"roles"`
		PayloadSigned bool     `json:"payloadSigned"`
		Livemode      *bool    `json:"livemode"`
	} `json:"identity"`
}

// upstreamAPIListening is appbackend's log line naming the upstream API's bound address.
var upstreamAPIListening = regexp.MustCompile(`upstream API listening"? addr=http://(127\.0\.0\.1:[0-9]+)`)

// TestGatewayExamples runs each example upstream for real behind the binary.
func TestGatewayExamples(t *testing.T) {
	t.Parallel()
	for _, ex := range upstreamExamples {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			testGatewayExample(t, ex)
		})
	}
}

func testGatewayExample(t *testing.T, ex upstreamExample) {
	// The upstream is told the upstream API's address before appbackend binds it (on
	// port 0, read back from its log), so it is told a relay's the test holds.
	apiRelay := e2etest.NewRelay(t)
	failFile := filepath.Join(t.TempDir(), "fail-events")
	up := startUpstream(t, ex, apiRelay.Addr(), failFile)
	configFile := filepath.Join(t.TempDir(), "appbackend.toml")
	require.NoError(t, os.WriteFile(configFile, []byte(`
upstream_secret = "`+gatewaySecret+`"
event_max_attempts = 2

[[schedule]]
name = "refresh"
every = "@every 1s"
per_account = true
call = "POST /jobs/refresh"
`), 0o600))
	env := map[string]string{
		"APPBACKEND_CONFIG":            configFile,
		"APPBACKEND_UPSTREAM":          up.URL(),
		"APPBACKEND_UPSTREAM_API_ADDR": "127.0.0.1:0",
		"APPBACKEND_UPSTREAM_TIMEOUT":  "5s",
	}
	mock := os.Getenv("STRIPE_MOCK_URL")
	if mock != "" {
		env["STRIPE_API_BASE"] = mock
		env["STRIPE_TEST_SECRET_KEY"] = "sk_test_123"
	}
	srv := e2etest.Start(t, e2etest.Options{Program: e2etest.Serve, Name: "gateway-" + ex.name, Env: env})
	m := upstreamAPIListening.FindStringSubmatch(srv.LogTail())
	require.NotNil(t, m, "no upstream API listening line:\n%s", srv.LogTail())
	apiRelay.SetTarget(m[1])

	t.Run("identity", func(t *testing.T) {
		// Only the default pair is signed; spoofed headers are replaced.
		status, h, body := signedCall(t, http.MethodPost, srv.URL+"/api/do_secret_stuff", "usr_gw", "acct_gw", nil,
			map[string]string{"Appbackend-User-Id": "usr_evil", "Appbackend-Roles": "admin", "Appbackend-Payload-Signed": "true"})
		require.Equal(t, http.StatusOK, status, string(body))
		require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
		var a identityAnswer
		require.NoError(t, json.Unmarshal(body, &a))
		require.True(t, a.Success)
		require.Equal(t, "usr_gw", a.Identity.UserID)
		require.Equal(t, "acct_gw", a.Identity.AccountID)
		require.Empty(t, a.Identity.Roles)
		require.False(t, a.Identity.PayloadSigned)
		require.Nil(t, a.Identity.Livemode)

		// Signed payload with roles and the mode.
		payload := []byte(`{"livemode":false,"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"}],"note":"hi"}`)
		status, _, body = signedCall(t, http.MethodPost, srv.URL+"/api/do_more_secret_stuff", "usr_gw", "acct_gw", payload, nil)
		require.Equal(t, http.StatusOK, status, string(body))
		a = identityAnswer{}
		require.NoError(t, json.Unmarshal(body, &a))
		require.Equal(t, []string{"admin"}, a.Identity.Roles)
		require.True(t, a.Identity.PayloadSigned)
		require.NotNil(t, a.Identity.Livemode)
		require.False(t, *a.Identity.Livemode)

		// The upstream refuses a payload that only the default pair covered.
		status, _, _ = signedCall(t, http.MethodPost, srv.URL+"/api/do_more_secret_stuff", "usr_gw", "acct_gw", nil, nil)
		require.Equal(t, http.StatusForbidden, status)

		// Unsigned: refused by appbackend, with CORS; preflight answered.
		resp, err := e2etest.HTTPClient.Post(srv.URL+"/api/do_secret_stuff", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/api/do_secret_stuff", nil)
		req.Header.Set("Origin", "https://dashboard.stripe.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err = e2etest.HTTPClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
	})

	t.Run("events", func(t *testing.T) {
		install := e2etest.NewSignedEvent("account.application.authorized", webhooktest.Account("acct_gw"), webhooktest.Livemode(false))
		customer := e2etest.NewSignedEvent("customer.created", webhooktest.Account("acct_gw"), webhooktest.Livemode(false))
		// The install first: events are processed concurrently, so the customer event's
		// Appbackend-Installation says installed only once the install was processed.
		require.Equal(t, http.StatusOK, e2etest.MustPostWebhook(t, srv.WebhookURL(), install.Body, install.Header).Status)
		srv.WaitEvent(install.ID, "processed")
		for _, ev := range []e2etest.SignedEvent{customer, customer} { // a redelivery too
			require.Equal(t, http.StatusOK, e2etest.MustPostWebhook(t, srv.WebhookURL(), ev.Body, ev.Header).Status)
		}
		srv.WaitEvent(customer.ID, "processed")
		got := up.waitLines(1, func(l receivedLine) bool { return l.Kind == "event" && l.ID == customer.ID })
		require.Len(t, got, 1, "delivered once")
		require.Equal(t, "customer.created", got[0].Type)
		require.NotNil(t, got[0].Installation)
		require.Equal(t, "installed", *got[0].Installation)
		require.Len(t, up.waitLines(1, func(l receivedLine) bool { return l.ID == install.ID }), 1)
	})

	t.Run("schedule per account", func(t *testing.T) {
		got := up.waitLines(1, func(l receivedLine) bool {
			return l.Kind == "schedule" && l.AccountID != nil && *l.AccountID == "acct_gw"
		})
		require.Equal(t, "refresh", got[0].Schedule)
	})

	t.Run("job polled by the UI", func(t *testing.T) {
		status, _, body := signedCall(t, http.MethodPost, srv.URL+"/api/export", "usr_gw", "acct_gw", nil, nil)
		require.Equal(t, http.StatusOK, status, string(body))
		var started struct {
			JobID string `json:"job_id"`
		}
		require.NoError(t, json.Unmarshal(body, &started))
		require.NotEmpty(t, started.JobID)
		deadline := time.Now().Add(30 * time.Second)
		var job struct {
			State  string          `json:"state"`
			Output json.RawMessage `json:"output"`
		}
		for time.Now().Before(deadline) {
			status, _, body = signedCall(t, http.MethodGet, srv.URL+"/api/jobs/"+started.JobID, "usr_gw", "acct_gw", nil, nil)
			require.Equal(t, http.StatusOK, status, string(body))
			require.NoError(t, json.Unmarshal(body, &job))
			if job.State == "completed" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		require.Equal(t, "completed", job.State)
		require.JSONEq(t, `{"rows":42,"format":"csv"}`, string(job.Output))
		status, _, _ = signedCall(t, http.MethodGet, srv.URL+"/api/jobs/"+started.JobID, "usr_gw", "acct_other", nil, nil)
		require.Equal(t, http.StatusNotFound, status)
	})

	t.Run("stripe through the upstream API", func(t *testing.T) {
		if mock == "" {
			t.Skip("STRIPE_MOCK_URL is not set (run under ./scripts/with-services.sh)")
		}
		status, _, body := signedCall(t, http.MethodPost, srv.URL+"/api/data", "usr_gw", "acct_gw", []byte(`{"livemode":false}`), nil)
		require.Equal(t, http.StatusOK, status, string(body))
		var data struct {
			Data     []any  `json:"data"`
			Customer string `json:"customer"`
		}
		require.NoError(t, json.Unmarshal(body, &data))
		require.True(t, strings.HasPrefix(data.Customer, "cus_"), string(body))
	})

	t.Run("failing upstream: retried, dead, replayed", func(t *testing.T) {
		require.NoError(t, os.WriteFile(failFile, nil, 0o600))
		ev := e2etest.NewSignedEvent("invoice.paid", webhooktest.Account("acct_gw"), webhooktest.Livemode(false))
		require.Equal(t, http.StatusOK, e2etest.MustPostWebhook(t, srv.WebhookURL(), ev.Body, ev.Header).Status)
		row := srv.WaitEvent(ev.ID, "dead")
		require.Equal(t, 2, row.Attempts)
		require.NoError(t, os.Remove(failFile))
		srv.MustCLI("events", "replay", ev.ID)
		srv.WaitEvent(ev.ID, "processed")
		require.Len(t, up.waitLines(1, func(l receivedLine) bool { return l.ID == ev.ID }), 1)
	})

	t.Run("upstream down then back", func(t *testing.T) {
		up.stop()
		status, h, body := signedCall(t, http.MethodPost, srv.URL+"/api/do_secret_stuff", "usr_gw", "acct_gw", nil, nil)
		require.Equal(t, http.StatusBadGateway, status, string(body))
		require.Contains(t, string(body), `"upstream_unavailable"`)
		require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
		up.start()
		status, _, body = signedCall(t, http.MethodPost, srv.URL+"/api/do_secret_stuff", "usr_gw", "acct_gw", nil, nil)
		require.Equal(t, http.StatusOK, status, string(body))
	})
}
