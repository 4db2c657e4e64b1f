// Command loadgen is the load generator of appbackend's loopback benchmark (bench/run.sh).
//
// It signs ONE UI-extension request at start — the default signed string
// {"user_id":…,"account_id":…} as the body, a Stripe-Signature header with one v1 per
// signing secret — and sends exactly those bytes, over N keep-alive HTTP/1.1
// connections, to a server on the loopback interface: first a warm-up, then a measured
// window of fixed length. Only 200 answers count as requests; anything else (another
// status, a network error, a timeout) is counted and reported as an error. It reports
// requests per second, p50/p99/max latency and, given the server's pid, the server's
// peak and current resident memory and the CPU time it used in the measured window.
//
//	loadgen -url http://127.0.0.1:3000/api/whoami -secrets absec_a,absec_b \
//	        -connections 64 -warmup 2s -duration 10s -server-pid 1234 -json
//
// The signature is made with stripe-go's webhook.ComputeSignature, the reference
// implementation, rather than with appbackend's own signer, so that the load test does
// not depend on the code it measures. Before the load starts, loadgen sends the request
// once, retrying while the server is not yet listening, and stops with an error unless
// the answer is a 200 with the signed user and account and the CORS header (-cors=false:
// without it, for a bare handler): every server under test must be answering the same
// request correctly.
//
// It only ever connects to a loopback IP address, every request has a deadline, and the
// whole run ends after -ready-timeout + -warmup + -duration + one -timeout at the latest.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/appbackend/appbackend/bench/internal/report"
	"github.com/stripe/stripe-go/v85/webhook"
)

// signatureLifetime bounds a run: the request is signed once at start and every server
// rejects a signature older than 300 s, so the run must end well before that.
const signatureLifetime = 4 * time.Minute

// idPattern keeps user and account ids to the characters that Go's and JavaScript's JSON
// encoders print identically, so the body is the string Stripe would have signed.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	name         string
	target       *url.URL
	secrets      []string
	userID       string
	accountID    string
	origin       string
	cors         bool
	connections  int
	warmup       time.Duration
	duration     time.Duration
	timeout      time.Duration
	readyTimeout time.Duration
	serverPID    int
	jsonOutput   bool
	cpuProfile   string
}

// run is the whole program; it returns the exit status: 0 success, 1 failure, 2 bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}

	req := newSignedRequest(cfg, time.Now())
	if err := preflight(ctx, cfg, req); err != nil {
		fmt.Fprintf(stderr, "loadgen: %s: %v\n", cfg.name, err)
		return 1
	}
	if cfg.cpuProfile != "" {
		// Shows whether the load generator, not the server, limits the figures.
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	result := generateLoad(ctx, cfg, req)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "loadgen: interrupted")
		return 1
	}
	if cfg.jsonOutput {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(result); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
	} else {
		writeText(stdout, result)
	}
	if result.OK == 0 {
		fmt.Fprintf(stderr, "loadgen: %s: no request succeeded in the measured window\n", cfg.name)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg       config
		rawURL    string
		rawSecret string
	)
	fs.StringVar(&cfg.name, "name", "server", "label of the server in the report")
	fs.StringVar(&rawURL, "url", "", "target, http://<loopback IP>:PORT/PATH (required)")
	fs.StringVar(&rawSecret, "secrets", "", "comma-separated app secrets to sign with, one v1 per secret (required)")
	fs.StringVar(&cfg.userID, "user", "usr_K6yd2CbXLO9A5G", "signed user id")
	fs.StringVar(&cfg.accountID, "account", "acct_1JSkf6FRwUQjTSJE", "signed account id")
	fs.StringVar(&cfg.origin, "origin", "null", "Origin header, as a sandboxed UI extension sends it (empty: none)")
	fs.BoolVar(&cfg.cors, "cors", true, "require Access-Control-Allow-Origin: * in the answer (false for a bare handler that sends none)")
	fs.IntVar(&cfg.connections, "connections", 64, "concurrent keep-alive connections")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "load before the measured window")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured window")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "deadline of one request")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", 30*time.Second, "how long to wait for the server to listen")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "pid of the server, to report its memory and CPU from /proc (0: none)")
	fs.BoolVar(&cfg.jsonOutput, "json", false, "print the result as JSON")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	target, err := loopbackURL(rawURL)
	if err != nil {
		return config{}, err
	}
	cfg.target = target
	for s := range strings.SplitSeq(rawSecret, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.secrets = append(cfg.secrets, s)
		}
	}
	switch {
	case len(cfg.secrets) == 0:
		return config{}, errors.New("-secrets: at least one signing secret is required")
	case !idPattern.MatchString(cfg.userID):
		return config{}, fmt.Errorf("-user %q: only letters, digits and _ are allowed", cfg.userID)
	case !idPattern.MatchString(cfg.accountID):
		return config{}, fmt.Errorf("-account %q: only letters, digits and _ are allowed", cfg.accountID)
	case strings.ContainsAny(cfg.origin, "\r\n"):
		return config{}, errors.New("-origin: must be one line")
	case cfg.connections < 1 || cfg.connections > 4096:
		return config{}, fmt.Errorf("-connections %d: must be between 1 and 4096", cfg.connections)
	case cfg.duration <= 0:
		return config{}, fmt.Errorf("-duration %v: must be positive", cfg.duration)
	case cfg.warmup < 0:
		return config{}, fmt.Errorf("-warmup %v: must not be negative", cfg.warmup)
	case cfg.timeout <= 0 || cfg.readyTimeout <= 0:
		return config{}, errors.New("-timeout and -ready-timeout must be positive")
	case cfg.readyTimeout+cfg.warmup+cfg.duration+cfg.timeout > signatureLifetime:
		return config{}, fmt.Errorf("-ready-timeout + -warmup + -duration + -timeout must stay under %v: the request is signed once and servers reject signatures older than 300s", signatureLifetime)
	case cfg.serverPID < 0:
		return config{}, fmt.Errorf("-server-pid %d: must not be negative", cfg.serverPID)
	}
	return cfg, nil
}

// loopbackURL accepts only plain HTTP to a loopback IP literal: the benchmark must never
// send load anywhere else, and a host name would add a resolver to the measurement.
func loopbackURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("-url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-url: %v", err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("-url %q: only http:// is supported", raw)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-url %q: the host must be a loopback IP address such as 127.0.0.1", raw)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("-url %q: a port is required", raw)
	}
	if u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("-url %q: no user info or fragment allowed", raw)
	}
	return u, nil
}

// signedRequest is the one request every connection sends, already serialised.
type signedRequest struct {
	wire []byte // the whole HTTP/1.1 request
}

// newSignedRequest signs the default string {"user_id":…,"account_id":…} at now with
// every configured secret, as Stripe does while two secrets are live, and writes the
// request a UI extension's fetch would send.
func newSignedRequest(cfg config, now time.Time) signedRequest {
	// user_id first, then account_id: the order Stripe signs. The ids are plain
	// [A-Za-z0-9_], so this is byte for byte what JSON.stringify prints.
	body := `{"user_id":"` + cfg.userID + `","account_id":"` + cfg.accountID + `"}`
	header := "t=" + strconv.FormatInt(now.Unix(), 10)
	for _, secret := range cfg.secrets {
		header += ",v1=" + hex.EncodeToString(webhook.ComputeSignature(now, []byte(body), secret))
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\n", cfg.target.RequestURI())
	fmt.Fprintf(&b, "Host: %s\r\n", cfg.target.Host)
	b.WriteString("User-Agent: appbackend-loadgen\r\n")
	b.WriteString("Accept: */*\r\n")
	if cfg.origin != "" {
		fmt.Fprintf(&b, "Origin: %s\r\n", cfg.origin)
	}
	b.WriteString("Content-Type: application/json\r\n")
	fmt.Fprintf(&b, "Stripe-Signature: %s\r\n", header)
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.WriteString(body)
	return signedRequest{wire: b.Bytes()}
}

// whoami is the part of the answer both servers must agree on.
type whoami struct {
	UserID    string          `json:"user_id"`
	AccountID string          `json:"account_id"`
	Roles     []string        `json:"roles"`
	Payload   json.RawMessage `json:"payload"`
}

// preflight sends the request once, retrying while the server does not listen yet (or
// answers 503 while starting), and checks that the answer is the whoami of the signed
// user: a benchmark of a server that rejects the request would measure nothing.
func preflight(ctx context.Context, cfg config, req signedRequest) error {
	deadline := time.Now().Add(cfg.readyTimeout)
	for {
		conn := newConnection(cfg.target.Host, req.wire, cfg.timeout)
		status, header, body, err := conn.roundTrip(true)
		conn.close()
		retry := err != nil || status == http.StatusServiceUnavailable
		if !retry {
			return checkWhoami(cfg, status, header, body)
		}
		if cfg.serverPID > 0 && !processRunning(cfg.serverPID) {
			return fmt.Errorf("server pid %d exited before answering", cfg.serverPID)
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("server not ready after %v: %v", cfg.readyTimeout, err)
			}
			return fmt.Errorf("server not ready after %v: status %d", cfg.readyTimeout, status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func checkWhoami(cfg config, status int, header http.Header, body []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("the signed request got status %d, want 200: %s", status, bytes.TrimSpace(body))
	}
	if got := header.Get("Access-Control-Allow-Origin"); cfg.cors && got != "*" {
		return fmt.Errorf("Access-Control-Allow-Origin = %q, want \"*\"", got)
	}
	var got whoami
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("the answer is not whoami JSON: %v: %s", err, body)
	}
	if got.UserID != cfg.userID || got.AccountID != cfg.accountID {
		return fmt.Errorf("answer names user %q account %q, want %q %q", got.UserID, got.AccountID, cfg.userID, cfg.accountID)
	}
	if got.Roles == nil || len(got.Roles) != 0 || string(got.Payload) != "null" {
		return fmt.Errorf("answer for the default signed string must have roles [] and payload null: %s", body)
	}
	return nil
}

// connection is one keep-alive HTTP/1.1 connection that sends the prepared request bytes
// and reads each answer with net/http's parser.
type connection struct {
	addr    string
	wire    []byte
	timeout time.Duration
	conn    net.Conn
	reader  *bufio.Reader
}

func newConnection(addr string, wire []byte, timeout time.Duration) *connection {
	return &connection{addr: addr, wire: wire, timeout: timeout}
}

// roundTrip sends the request and reads the whole answer, reconnecting first if needed.
// The body is returned only when keepBody is set; otherwise it is drained.
func (c *connection) roundTrip(keepBody bool) (status int, header http.Header, body []byte, err error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return 0, nil, nil, &requestError{kind: "connect", err: err}
		}
		c.conn = conn
		if c.reader == nil {
			c.reader = bufio.NewReaderSize(conn, 16<<10)
		} else {
			c.reader.Reset(conn)
		}
	}
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		c.close()
		return 0, nil, nil, &requestError{kind: "connect", err: err}
	}
	if _, err := c.conn.Write(c.wire); err != nil {
		c.close()
		return 0, nil, nil, classify("write", err)
	}
	resp, err := http.ReadResponse(c.reader, nil)
	if err != nil {
		c.close()
		return 0, nil, nil, classify("read", err)
	}
	if keepBody {
		body, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		c.close()
		return 0, nil, nil, classify("read", err)
	}
	if resp.Close {
		c.close()
	}
	return resp.StatusCode, resp.Header, body, nil
}

func (c *connection) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// requestError is a request that got no HTTP answer; kind groups them in the report.
type requestError struct {
	kind string
	err  error
}

func (e *requestError) Error() string { return e.kind + ": " + e.err.Error() }

func classify(op string, err error) error {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return &requestError{kind: "timeout", err: err}
	}
	return &requestError{kind: op, err: err}
}

// workerStats is what one connection saw in the measured window.
type workerStats struct {
	ok        int
	latencies []time.Duration
	errors    map[string]int
	examples  map[string]string
}

func (s *workerStats) fail(kind, example string) {
	if s.errors == nil {
		s.errors = map[string]int{}
		s.examples = map[string]string{}
	}
	s.errors[kind]++
	if _, seen := s.examples[kind]; !seen {
		s.examples[kind] = example
	}
}

// generateLoad runs cfg.connections connections for the warm-up and the measured window
// and gathers what they saw. A request counts if it starts and ends inside the window.
func generateLoad(ctx context.Context, cfg config, req signedRequest) report.LoadResult {
	start := time.Now()
	measureStart := start.Add(cfg.warmup)
	measureEnd := measureStart.Add(cfg.duration)

	stats := make([]workerStats, cfg.connections)
	var wg sync.WaitGroup
	for i := range stats {
		wg.Go(func() {
			stats[i] = drive(ctx, cfg, req, measureStart, measureEnd)
		})
	}

	var cpuBefore, cpuAfter processCPU
	sleepUntil(ctx, measureStart)
	cpuBefore = sampleCPU(cfg.serverPID)
	sleepUntil(ctx, measureEnd)
	cpuAfter = sampleCPU(cfg.serverPID)
	wg.Wait()

	result := summarize(cfg, stats)
	result.LoadgenCPUSeconds = cpuAfter.self - cpuBefore.self
	result.CPUs = runtime.NumCPU()
	if cpuBefore.machineOK && cpuAfter.machineOK {
		result.MachineCPUSeconds = cpuAfter.machine.busy - cpuBefore.machine.busy
		result.StealCPUSeconds = cpuAfter.machine.steal - cpuBefore.machine.steal
	}
	if cfg.serverPID > 0 {
		result.Server = readServerStats(cfg.serverPID)
		if cpuBefore.serverOK && cpuAfter.serverOK {
			result.Server.CPUSeconds = cpuAfter.server - cpuBefore.server
		}
	}
	return result
}

// drive is one connection's loop: send, wait for the answer, repeat until the window ends.
func drive(ctx context.Context, cfg config, req signedRequest, measureStart, measureEnd time.Time) workerStats {
	stats := workerStats{latencies: make([]time.Duration, 0, 4096)}
	conn := newConnection(cfg.target.Host, req.wire, cfg.timeout)
	defer conn.close()
	for ctx.Err() == nil {
		began := time.Now()
		if !began.Before(measureEnd) {
			break
		}
		status, _, _, err := conn.roundTrip(false)
		ended := time.Now()
		if err != nil {
			// A connection that cannot be opened would otherwise spin; the pause is
			// far below the window, so a failing server still shows as errors.
			time.Sleep(10 * time.Millisecond)
		}
		if began.Before(measureStart) || ended.After(measureEnd) {
			continue
		}
		switch {
		case err != nil:
			kind := "other"
			if re, ok := errors.AsType[*requestError](err); ok {
				kind = re.kind
			}
			stats.fail(kind, err.Error())
		case status != http.StatusOK:
			stats.fail("status "+strconv.Itoa(status), http.StatusText(status))
		default:
			stats.ok++
			stats.latencies = append(stats.latencies, ended.Sub(began))
		}
	}
	return stats
}

func sleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

func summarize(cfg config, stats []workerStats) report.LoadResult {
	r := report.LoadResult{
		Name:            cfg.name,
		URL:             cfg.target.String(),
		Connections:     cfg.connections,
		WarmupSeconds:   cfg.warmup.Seconds(),
		DurationSeconds: cfg.duration.Seconds(),
		SignatureCount:  len(cfg.secrets),
	}
	var latencies []time.Duration
	for _, s := range stats {
		r.OK += s.ok
		latencies = append(latencies, s.latencies...)
		for kind, n := range s.errors {
			if r.ErrorKinds == nil {
				r.ErrorKinds = map[string]int{}
				r.ErrorExamples = map[string]string{}
			}
			r.Errors += n
			r.ErrorKinds[kind] += n
			if _, seen := r.ErrorExamples[kind]; !seen {
				r.ErrorExamples[kind] = s.examples[kind]
			}
		}
	}
	slices.Sort(latencies)
	r.RequestsPerSecond = float64(r.OK) / cfg.duration.Seconds()
	r.P50Millis = millis(percentile(latencies, 50))
	r.P99Millis = millis(percentile(latencies, 99))
	if len(latencies) > 0 {
		r.MaxMillis = millis(latencies[len(latencies)-1])
	}
	return r
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func writeText(w io.Writer, r report.LoadResult) {
	fmt.Fprintf(w, "%s: %s, %d connections, %.0fs after %.0fs warm-up\n", r.Name, r.URL, r.Connections, r.DurationSeconds, r.WarmupSeconds)
	fmt.Fprintf(w, "  requests/s %.0f (%d answered 200), errors %d\n", r.RequestsPerSecond, r.OK, r.Errors)
	for kind, n := range r.ErrorKinds {
		fmt.Fprintf(w, "    %s: %d (e.g. %s)\n", kind, n, r.ErrorExamples[kind])
	}
	fmt.Fprintf(w, "  latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.P50Millis, r.P99Millis, r.MaxMillis)
	fmt.Fprintf(w, "  CPU in the window: load generator %.2f s, whole machine busy %.2f s, stolen by the hypervisor %.2f s, of %d CPUs × %.0f s\n",
		r.LoadgenCPUSeconds, r.MachineCPUSeconds, r.StealCPUSeconds, r.CPUs, r.DurationSeconds)
	if s := r.Server; s != nil {
		if s.Error != "" {
			fmt.Fprintf(w, "  server pid %d: %s\n", s.PID, s.Error)
		} else {
			fmt.Fprintf(w, "  server pid %d: peak RSS %.1f MiB, RSS %.1f MiB, CPU %.2f s\n", s.PID, float64(s.PeakRSSKiB)/1024, float64(s.RSSKiB)/1024, s.CPUSeconds)
		}
	}
}
