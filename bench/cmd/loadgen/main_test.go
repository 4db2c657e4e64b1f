package main

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appbackend/appbackend/bench/internal/report"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"
)

const (
	testUser    = "usr_K6yd2CbXLO9A5G"
	testAccount = "acct_1JSkf6FRwUQjTSJE"
)

// whoamiServer is a stand-in for the servers under test: it checks the signature with
// stripe-go under any of secrets, like the real servers, and answers whoami; every
// rejectEvery-th request after the first gets 429 instead (0: never).
func whoamiServer(t *testing.T, secrets []string, rejectEvery int64) *httptest.Server {
	t.Helper()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		n := served.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		verified := false
		for _, s := range secrets {
			if webhook.ValidatePayload(body, r.Header.Get("Stripe-Signature"), s) == nil {
				verified = true
			}
		}
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/api/whoami" || r.Header.Get("Origin") != "null":
			http.Error(w, "unexpected request", http.StatusBadRequest)
		case !verified:
			http.Error(w, `{"error":{"code":"signature_invalid"}}`, http.StatusUnauthorized)
		case rejectEvery > 0 && n > 1 && n%rejectEvery == 0:
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			var id struct {
				UserID    string `json:"user_id"`
				AccountID string `json:"account_id"`
			}
			if err := json.Unmarshal(body, &id); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"user_id":"`+id.UserID+`","account_id":"`+id.AccountID+`","roles":[],"payload":null}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func runLoadgen(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunCountsOnly200sAsRequests(t *testing.T) {
	t.Parallel()
	secrets := []string{"absec_old", "absec_new"}
	srv := whoamiServer(t, secrets, 4)

	began := time.Now()
	code, stdout, stderr := runLoadgen(t,
		"-name", "stand-in", "-url", srv.URL+"/api/whoami", "-secrets", "absec_new",
		"-connections", "4", "-warmup", "100ms", "-duration", "400ms",
		"-server-pid", strconv.Itoa(os.Getpid()), "-json")
	elapsed := time.Since(began)
	require.Equal(t, 0, code, "exit %d, stderr: %s", code, stderr)
	max := 100*time.Millisecond + 400*time.Millisecond + time.Second
	require.LessOrEqual(t, elapsed, max, "run took %v, want at most warm-up + duration + slack = %v", elapsed, max)

	var got report.LoadResult
	err := json.Unmarshal([]byte(stdout), &got)
	require.NoError(t, err, "output is not a JSON result: %v\n%s", err, stdout)
	require.False(t, got.Name != "stand-in" || got.Connections != 4 || got.DurationSeconds != 0.4, "result header = %+v, want name stand-in, 4 connections, 0.4 s, 1 signature", got)
	require.Equal(t, 1, got.SignatureCount, "result header = %+v, want name stand-in, 4 connections, 0.4 s, 1 signature", got)
	require.NotEqual(t, 0, got.OK, "ok = %d, errors = %d: want both > 0 with every 4th answer a 429", got.OK, got.Errors)
	require.NotEqual(t, 0, got.Errors, "ok = %d, errors = %d: want both > 0 with every 4th answer a 429", got.OK, got.Errors)
	require.Equal(t, got.Errors, got.ErrorKinds["status 429"], "error kinds = %v, want all %d errors as status 429", got.ErrorKinds, got.Errors)
	// One 429 in four answers, give or take the requests each connection had in flight
	// at the window's edges.
	total := got.OK + got.Errors
	want, slack := float64(total)/4, float64(got.Connections+1)
	require.LessOrEqual(t, math.Abs(float64(got.Errors)-want), slack, "errors = %d of %d requests, want %.0f ± %.0f (every 4th answer is a 429)", got.Errors, total, want, slack)
	want = float64(got.OK) / 0.4
	require.Equal(t, want, got.RequestsPerSecond, "requests/s = %v, want 200s / duration = %v", got.RequestsPerSecond, want)
	require.False(t, got.P50Millis <= 0 || got.P50Millis > got.P99Millis || got.P99Millis > got.MaxMillis, "latencies p50 %v, p99 %v, max %v: want 0 < p50 <= p99 <= max", got.P50Millis, got.P99Millis, got.MaxMillis)
	s := got.Server
	require.False(t, s == nil || s.Error != "" || s.PeakRSSKiB <= 0 || s.RSSKiB <= 0 || s.PeakRSSKiB < s.RSSKiB, "server stats = %+v, want peak RSS >= RSS > 0", s)
}

func TestRunStopsBeforeLoadWhenTheServerDisagrees(t *testing.T) {
	t.Parallel()
	wrongUser := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		io.WriteString(w, `{"user_id":"usr_other","account_id":"`+testAccount+`","roles":[],"payload":null}`)
	}))
	t.Cleanup(wrongUser.Close)
	noCORS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"user_id":"`+testUser+`","account_id":"`+testAccount+`","roles":[],"payload":null}`)
	}))
	t.Cleanup(noCORS.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name       string
		url        string
		wantStderr string
	}{
		{"signature rejected", whoamiServer(t, []string{"absec_other"}, 0).URL, "status 401"},
		{"another user answered", wrongUser.URL, `user "usr_other"`},
		{"no CORS header", noCORS.URL, "Access-Control-Allow-Origin"},
		{"nothing listening", closed.URL, "server not ready after 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runLoadgen(t, "-url", tt.url+"/api/whoami", "-secrets", "absec_new",
				"-connections", "2", "-warmup", "0s", "-duration", "5s", "-ready-timeout", "200ms")
			require.Equal(t, 1, code, "exit %d, want 1", code)
			require.Contains(t, stderr, tt.wantStderr, "stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			require.Equal(t, "", stdout, "stdout = %q, want nothing: no load was measured", stdout)
		})
	}

	// -cors=false accepts an answer without the CORS header, as a bare handler gives.
	code, stdout, stderr := runLoadgen(t, "-url", noCORS.URL+"/api/whoami", "-secrets", "absec_new",
		"-connections", "1", "-warmup", "0s", "-duration", "100ms", "-cors=false", "-json")
	require.Equal(t, 0, code, "-cors=false against a server without the CORS header: exit %d, stdout %q, stderr %q; want 0 and a result", code, stdout, stderr)
	require.Contains(t, stdout, `"ok"`, "-cors=false against a server without the CORS header: exit %d, stdout %q, stderr %q; want 0 and a result", code, stdout, stderr)
}

func TestRunRejectsBadUsage(t *testing.T) {
	t.Parallel()
	valid := []string{"-url", "http://127.0.0.1:9/api/whoami", "-secrets", "absec_a"}
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"no url", []string{"-secrets", "absec_a"}, "-url is required"},
		{"host name, even localhost", []string{"-url", "http://localhost:9/api/whoami", "-secrets", "absec_a"}, "loopback IP"},
		{"remote address", []string{"-url", "http://192.0.2.1:80/api/whoami", "-secrets", "absec_a"}, "loopback IP"},
		{"https", []string{"-url", "https://127.0.0.1:9/api/whoami", "-secrets", "absec_a"}, "only http://"},
		{"no port", []string{"-url", "http://127.0.0.1/api/whoami", "-secrets", "absec_a"}, "port is required"},
		{"no secret", []string{"-url", "http://127.0.0.1:9/api/whoami", "-secrets", " , "}, "signing secret is required"},
		{"user id that JSON encoders print differently", append(valid, "-user", `usr_<"x">`), "-user"},
		{"zero connections", append(valid, "-connections", "0"), "-connections 0"},
		{"run longer than a signature lives", append(valid, "-duration", "5m"), "must stay under 4m0s"},
		{"stray argument", append(valid, "extra"), `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runLoadgen(t, tt.args...)
			require.Equal(t, 2, code, "exit %d, want 2", code)
			require.Contains(t, stderr, tt.wantStderr, "stderr = %q, want it to contain %q", stderr, tt.wantStderr)
		})
	}
}

func TestSignedRequestIsWhatStripeSigns(t *testing.T) {
	t.Parallel()
	target, err := loopbackURL("http://127.0.0.1:3000/api/whoami")
	require.NoError(t, err)
	now := time.Unix(1700000000, 0)
	req := newSignedRequest(config{target: target, secrets: []string{"absec_test_secret", "absec_other"}, userID: testUser, accountID: testAccount, origin: "null"}, now)

	wantBody := `{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`
	// The protocol's test vector for absec_test_secret at t=1700000000.
	wantV1 := "v1=95d377f7216b002bc8462ad7ad1c21ae33f54bfd7f12f1fe86f43cfd56123df3"
	wire := string(req.wire)
	head, body, ok := strings.Cut(wire, "\r\n\r\n")
	require.True(t, ok, "no header/body separator in %q", wire)
	require.Equal(t, wantBody, body, "body = %q, want %q", body, wantBody)
	for _, want := range []string{
		"POST /api/whoami HTTP/1.1",
		"Host: 127.0.0.1:3000",
		"Origin: null",
		"Content-Type: application/json",
		"Stripe-Signature: t=1700000000," + wantV1 + ",v1=",
		"Content-Length: " + strconv.Itoa(len(wantBody)),
	} {
		require.Contains(t, head, want, "request head lacks %q:\n%s", want, head)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", []time.Duration{7}, 99, 7},
		{"p50 of 1..100 ms", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100 ms", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"p99 of two values is the larger", []time.Duration{1, 2}, 99, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := percentile(tt.sorted, tt.p)
			require.Equal(t, tt.want, got, "percentile(p%v) = %v, want %v", tt.p, got, tt.want)
		})
	}
}

func TestParseProcFiles(t *testing.T) {
	t.Parallel()
	t.Run("stat with a command name holding spaces and parentheses", func(t *testing.T) {
		t.Parallel()
		stat := "4242 (node (peer) x) S 1 4242 4242 0 -1 4194560 9000 0 0 0 250 75 0 0 20 0 11 0 1234 1000000 20000 18446744073709551615\n"
		got, ok := parseProcStatCPU([]byte(stat))
		require.True(t, ok, "CPU = %v, %v; want 3.25 s (325 ticks), true", got, ok)
		require.Equal(t, 3.25, got, "CPU = %v, %v; want 3.25 s (325 ticks), true", got, ok)
	})
	t.Run("stat truncated", func(t *testing.T) {
		t.Parallel()
		got, ok := parseProcStatCPU([]byte("4242 (node) S 1 2"))
		require.False(t, ok, "CPU = %v, true; want not ok", got)
	})
	t.Run("machine busy and steal time", func(t *testing.T) {
		t.Parallel()
		// user nice system idle iowait irq softirq steal guest guest_nice
		stat := "cpu  1000 10 200 5000 70 3 40 7 100 0\ncpu0 500 5 100 2500 35 1 20 3 50 0\n"
		got, ok := parseProcStatMachine([]byte(stat))
		want := (machineCPU{busy: 12.53, steal: 0.07})
		require.True(t, ok, "got %+v, %v; want %+v (1253 busy ticks without idle, iowait, steal, guest; 7 steal), true", got, ok, want)
		require.Equal(t, want, got, "got %+v, %v; want %+v (1253 busy ticks without idle, iowait, steal, guest; 7 steal), true", got, ok, want)
	})
	t.Run("stat without a cpu line", func(t *testing.T) {
		t.Parallel()
		got, ok := parseProcStatMachine([]byte("intr 1 2 3\n"))
		require.False(t, ok, "got %+v, true; want not ok", got)
	})
	t.Run("status memory", func(t *testing.T) {
		t.Parallel()
		status := "Name:\tnode\nVmPeak:\t 1000 kB\nVmHWM:\t  117164 kB\nVmRSS:\t  112020 kB\nThreads:\t11\n"
		peak, rss, err := parseProcStatusMemory([]byte(status))
		require.False(t, err != nil || peak != 117164 || rss != 112020, "got %d, %d, %v; want 117164, 112020, nil", peak, rss, err)
	})
	t.Run("status without VmHWM (a kernel thread, a zombie)", func(t *testing.T) {
		t.Parallel()
		_, _, err := parseProcStatusMemory([]byte("Name:\tkthreadd\nState:\tS\n"))
		require.Error(t, err, "err = nil, want an error")
	})
}
