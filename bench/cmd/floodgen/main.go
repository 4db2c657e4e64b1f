// Command floodgen is the abuse half of appbackend's loopback benchmark (bench/run.sh): it
// measures what unauthenticated clients can make a running server spend, and prints a
// Markdown section (or JSON with -json).
//
//	floodgen -scenario forged  -url http://127.0.0.1:3000/api/whoami -secrets absec_a -server-pid 1234
//	floodgen -scenario stalled -url http://127.0.0.1:3000/api/whoami -secrets absec_a -server-pid 1234
//
// forged: -forgers connections each send, in a loop, a -body-size body that is valid
// JSON with a claimed identity ({"user_id":"a","account_id":"b","x":[0,0,…]}), a current
// timestamp and a made-up v1, for -duration; meanwhile -honest connections send the
// correctly signed default request (signed with stripe-go's webhook.ComputeSignature) and
// their latencies are recorded. It reports the honest p50/p99/max, the forged answers by
// status, and the server's peak resident memory (VmHWM of /proc/PID/status).
//
// stalled: opens -stalled connections that each send the headers of a POST announcing
// Content-Length -body-size with a plausible Stripe-Signature (current t, made-up v1)
// and a few bytes of body, then stall; after -settle it reads the server's resident
// memory (VmRSS) and its Go heap in use (go_memstats_heap_inuse_bytes from GET /metrics
// on the same address) and reports their growth over the idle server, and checks that an
// honest request is still answered. Both matter: a buffer allocated for an announced body
// is heap the runtime must keep, but the kernel only counts its pages in RSS once they are
// touched (at once with transparent huge pages set to "always", lazily with "madvise").
//
// It only connects to a loopback IP address and every wait is bounded.
package main

import (
	"bufio"
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

// The bars of the hardening issue.
const (
	peakRSSBarMiB     = 250
	honestP99BarMs    = 50
	stalledGrowthMiB  = 100
	defaultBodyBytes  = 1 << 20
	honestUserID      = "usr_K6yd2CbXLO9A5G"
	honestAccountID   = "acct_1JSkf6FRwUQjTSJE"
	madeUpSignature   = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
	requestTimeout    = 10 * time.Second
	readyTimeout      = 30 * time.Second
	honestConnections = 2
)

type config struct {
	scenario  string
	target    *url.URL
	secrets   []string
	serverPID int
	label     string
	duration  time.Duration
	forgers   int
	stalled   int
	bodySize  int
	settle    time.Duration
	json      bool
}

// Result is what one run measured.
type Result struct {
	Scenario string `json:"scenario"`
	Label    string `json:"label"`
	// forged
	Forgers        int            `json:"forgers,omitempty"`
	BodyBytes      int            `json:"body_bytes"`
	DurationSec    float64        `json:"duration_seconds,omitempty"`
	ForgedAnswers  map[string]int `json:"forged_answers,omitempty"`
	HonestOK       int            `json:"honest_ok"`
	HonestErrors   int            `json:"honest_errors"`
	HonestP50Ms    float64        `json:"honest_p50_ms"`
	HonestP99Ms    float64        `json:"honest_p99_ms"`
	HonestMaxMs    float64        `json:"honest_max_ms"`
	PeakRSSKiB     int64          `json:"peak_rss_kib"`
	IdleRSSKiB     int64          `json:"idle_rss_kib"`
	StalledOpen    int            `json:"stalled_open,omitempty"`
	StalledRSSKiB  int64          `json:"stalled_rss_kib,omitempty"`
	IdleHeapBytes  int64          `json:"idle_heap_inuse_bytes,omitempty"`
	StalledHeap    int64          `json:"stalled_heap_inuse_bytes,omitempty"`
	StalledClosed  int            `json:"stalled_closed_by_server,omitempty"`
	HonestDuringOK bool           `json:"honest_answered_while_stalled,omitempty"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "floodgen: %v\n", err)
		return 2
	}
	if err := waitReady(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "floodgen: %v\n", err)
		return 1
	}
	var res Result
	switch cfg.scenario {
	case "forged":
		res, err = forged(ctx, cfg)
	case "stalled":
		res, err = stalled(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "floodgen: %s: %v\n", cfg.scenario, err)
		return 1
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		writeMarkdown(stdout, res)
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("floodgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var rawURL, rawSecrets string
	fs.StringVar(&cfg.scenario, "scenario", "forged", "forged or stalled")
	fs.StringVar(&rawURL, "url", "", "the signed route, http://<loopback IP>:PORT/api/whoami (required)")
	fs.StringVar(&rawSecrets, "secrets", "", "comma-separated app secrets the honest request is signed with (required)")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "pid of the server, whose memory is read from /proc (required)")
	fs.StringVar(&cfg.label, "label", "appbackend", "name of the server in the report")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "forged: how long the flood lasts")
	fs.IntVar(&cfg.forgers, "forgers", 32, "forged: parallel connections sending forged bodies")
	fs.IntVar(&cfg.stalled, "stalled", 1000, "stalled: connections that announce a body and stall")
	fs.IntVar(&cfg.bodySize, "body-size", defaultBodyBytes, "forged body size / announced Content-Length, in bytes")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "stalled: wait after the last connection before reading memory")
	fs.BoolVar(&cfg.json, "json", false, "print JSON instead of Markdown")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return config{}, fmt.Errorf("-url %q: want http://<loopback IP>:PORT/PATH", rawURL)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return config{}, fmt.Errorf("-url %q: the host must be a loopback IP address", rawURL)
	}
	cfg.target = u
	for s := range strings.SplitSeq(rawSecrets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.secrets = append(cfg.secrets, s)
		}
	}
	switch {
	case cfg.scenario != "forged" && cfg.scenario != "stalled":
		return config{}, fmt.Errorf("-scenario %q: want forged or stalled", cfg.scenario)
	case len(cfg.secrets) == 0:
		return config{}, errors.New("-secrets is required")
	case cfg.serverPID <= 0:
		return config{}, errors.New("-server-pid is required")
	case cfg.duration <= 0 || cfg.duration > 2*time.Minute:
		return config{}, errors.New("-duration must be between 0 and 2m")
	case cfg.forgers < 1 || cfg.forgers > 1024 || cfg.stalled < 1 || cfg.stalled > 10000:
		return config{}, errors.New("-forgers must be in 1..1024 and -stalled in 1..10000")
	case cfg.bodySize < 64 || cfg.bodySize > 64<<20:
		return config{}, errors.New("-body-size must be in 64..64MiB")
	}
	return cfg, nil
}

// request builds the wire bytes of a POST to the target.
func request(cfg config, header string, contentLength int, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: appbackend-floodgen\r\nOrigin: null\r\n", cfg.target.RequestURI(), cfg.target.Host)
	fmt.Fprintf(&b, "Content-Type: application/json\r\nStripe-Signature: %s\r\nContent-Length: %d\r\n\r\n", header, contentLength)
	b.WriteString(body)
	return []byte(b.String())
}

// honestRequest is the default-signed request a UI extension sends, signed now.
func honestRequest(cfg config) []byte {
	now := time.Now()
	body := `{"user_id":"` + honestUserID + `","account_id":"` + honestAccountID + `"}`
	header := "t=" + strconv.FormatInt(now.Unix(), 10)
	for _, s := range cfg.secrets {
		header += ",v1=" + hex.EncodeToString(webhook.ComputeSignature(now, []byte(body), s))
	}
	return request(cfg, header, len(body), body)
}

func forgedHeader() string {
	return "t=" + strconv.FormatInt(time.Now().Unix(), 10) + ",v1=" + madeUpSignature
}

// forgedBody is {"user_id":"a","account_id":"b","x":[0,0,…]} of size bytes (even size).
func forgedBody(size int) string {
	const head, tail = `{"user_id":"a","account_id":"b","x":[0`, `]}`
	return head + strings.Repeat(",0", max((size-len(head)-len(tail))/2, 0)) + tail
}

// conn is one keep-alive connection.
type conn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

func (c *conn) roundTrip(wire []byte) (int, error) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, requestTimeout)
		if err != nil {
			return 0, err
		}
		c.c, c.r = nc, bufio.NewReader(nc)
	}
	_ = c.c.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := c.c.Write(wire); err != nil {
		c.close()
		return 0, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.close()
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	return resp.StatusCode, nil
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

func waitReady(ctx context.Context, cfg config) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		c := &conn{addr: cfg.target.Host}
		status, err := c.roundTrip(honestRequest(cfg))
		c.close()
		if err == nil && status == http.StatusOK {
			return nil
		}
		if err == nil && status != http.StatusServiceUnavailable {
			return fmt.Errorf("the honest signed request got status %d, want 200", status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after %v: %v", readyTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func forged(ctx context.Context, cfg config) (Result, error) {
	res := Result{Scenario: "forged", Label: cfg.label, Forgers: cfg.forgers, BodyBytes: cfg.bodySize,
		DurationSec: cfg.duration.Seconds(), ForgedAnswers: map[string]int{}}
	res.IdleRSSKiB, _ = readMemory(cfg.serverPID, "VmRSS")
	body := forgedBody(cfg.bodySize)
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()

	var mu sync.Mutex
	var wg sync.WaitGroup
	for range cfg.forgers {
		wg.Go(func() {
			c := &conn{addr: cfg.target.Host}
			defer c.close()
			answers := map[string]int{}
			for ctx.Err() == nil {
				status, err := c.roundTrip(request(cfg, forgedHeader(), len(body), body))
				switch {
				case err != nil:
					answers["error"]++
					time.Sleep(10 * time.Millisecond)
				default:
					answers[strconv.Itoa(status)]++
				}
			}
			mu.Lock()
			for k, n := range answers {
				res.ForgedAnswers[k] += n
			}
			mu.Unlock()
		})
	}
	// The honest callers start once the flood is under way.
	time.Sleep(min(cfg.duration/10, 500*time.Millisecond))
	var latencies []time.Duration
	for range honestConnections {
		wg.Go(func() {
			c := &conn{addr: cfg.target.Host}
			defer c.close()
			var mine []time.Duration
			errs := 0
			for ctx.Err() == nil {
				wire := honestRequest(cfg)
				began := time.Now()
				status, err := c.roundTrip(wire)
				if ctx.Err() != nil {
					break // cut off by the end of the run, not by the server
				}
				if err != nil || status != http.StatusOK {
					errs++
					continue
				}
				mine = append(mine, time.Since(began))
				time.Sleep(2 * time.Millisecond) // an honest client's pace, not a second flood
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			res.HonestErrors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(latencies)
	res.HonestOK = len(latencies)
	res.HonestP50Ms = millis(percentile(latencies, 50))
	res.HonestP99Ms = millis(percentile(latencies, 99))
	if len(latencies) > 0 {
		res.HonestMaxMs = millis(latencies[len(latencies)-1])
	}
	var err error
	if res.PeakRSSKiB, err = readMemory(cfg.serverPID, "VmHWM"); err != nil {
		return res, err
	}
	return res, nil
}

func stalled(ctx context.Context, cfg config) (Result, error) {
	res := Result{Scenario: "stalled", Label: cfg.label, BodyBytes: cfg.bodySize}
	var err error
	if res.IdleRSSKiB, err = readMemory(cfg.serverPID, "VmRSS"); err != nil {
		return res, err
	}
	if res.IdleHeapBytes, err = heapInUse(cfg); err != nil {
		return res, err
	}
	// Headers and the first bytes of a body that never completes.
	wire := request(cfg, forgedHeader(), cfg.bodySize, `{"user_id":"a","account_id":"b","x":[`)
	conns := make([]net.Conn, 0, cfg.stalled)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range cfg.stalled {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		c, err := net.DialTimeout("tcp", cfg.target.Host, requestTimeout)
		if err != nil {
			return res, fmt.Errorf("after %d connections: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := c.Write(wire); err != nil {
			return res, fmt.Errorf("after %d connections: %v", len(conns), err)
		}
	}
	res.StalledOpen = len(conns)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(cfg.settle):
	}
	if res.StalledRSSKiB, err = readMemory(cfg.serverPID, "VmRSS"); err != nil {
		return res, err
	}
	res.PeakRSSKiB, _ = readMemory(cfg.serverPID, "VmHWM")
	if res.StalledHeap, err = heapInUse(cfg); err != nil {
		return res, err
	}
	// A server that refused early has answered (401 or 413) and may have closed them.
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == nil || !isTimeout(err) {
				closed.Add(1)
			}
		})
	}
	wg.Wait()
	res.StalledClosed = int(closed.Load())
	c := &conn{addr: cfg.target.Host}
	status, err := c.roundTrip(honestRequest(cfg))
	c.close()
	res.HonestDuringOK = err == nil && status == http.StatusOK
	return res, nil
}

// heapInUse reads go_memstats_heap_inuse_bytes from the server's GET /metrics.
func heapInUse(cfg config) (int64, error) {
	client := &http.Client{Timeout: requestTimeout}
	resp, err := client.Get("http://" + cfg.target.Host + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if value, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return int64(f), err
		}
	}
	return 0, errors.New("GET /metrics has no go_memstats_heap_inuse_bytes")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readMemory reads one kB field (VmRSS, VmHWM) of /proc/PID/status.
func readMemory(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if value, ok := strings.CutPrefix(line, field+":"); ok {
			fields := strings.Fields(value)
			if len(fields) == 2 && fields[1] == "kB" {
				return strconv.ParseInt(fields[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.999999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(kib int64) float64          { return float64(kib) / 1024 }

func mark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

func writeMarkdown(w io.Writer, r Result) {
	switch r.Scenario {
	case "forged":
		answers := make([]string, 0, len(r.ForgedAnswers))
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range r.ForgedAnswers {
				if !yield(k) {
					return
				}
			}
		}) {
			answers = append(answers, fmt.Sprintf("%s × %d", k, r.ForgedAnswers[k]))
		}
		fmt.Fprintf(w, "| %s: %d parallel forged %.0f KiB bodies for %.0f s | peak RSS %.0f MiB (idle %.0f) %s ≤ %d MiB | honest /api/whoami p50 %.2f ms, p99 %.2f ms %s ≤ %d ms, max %.1f ms (%d ok, %d errors) | forged answers: %s |\n",
			r.Label, r.Forgers, float64(r.BodyBytes)/1024, r.DurationSec, mib(r.PeakRSSKiB), mib(r.IdleRSSKiB),
			mark(r.PeakRSSKiB <= peakRSSBarMiB*1024), peakRSSBarMiB, r.HonestP50Ms, r.HonestP99Ms,
			mark(r.HonestOK > 0 && r.HonestP99Ms <= honestP99BarMs), honestP99BarMs, r.HonestMaxMs, r.HonestOK, r.HonestErrors, strings.Join(answers, ", "))
	case "stalled":
		growth := r.StalledRSSKiB - r.IdleRSSKiB
		heapGrowth := (r.StalledHeap - r.IdleHeapBytes) >> 10
		fmt.Fprintf(w, "| %s: %d stalled connections announcing %.0f KiB | RSS %.0f → %.0f MiB: +%.0f MiB %s < %d MiB; Go heap in use +%.0f MiB %s | %d answered and closed by the server before their body; honest request answered meanwhile: %v |\n",
			r.Label, r.StalledOpen, float64(r.BodyBytes)/1024, mib(r.IdleRSSKiB), mib(r.StalledRSSKiB), mib(growth),
			mark(growth < stalledGrowthMiB*1024), stalledGrowthMiB, mib(heapGrowth), mark(heapGrowth < stalledGrowthMiB*1024),
			r.StalledClosed, r.HonestDuringOK)
	}
}
