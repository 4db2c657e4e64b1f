// Command gatewaybench measures gateway mode on loopback: the overhead of proxying a
// signed /api request through `appbackend serve --upstream` against calling the same
// upstream directly (requests per second, p50 and p99), and how many events per second
// appbackend delivers to a fast upstream (SQLite). It starts the upstream in-process and
// the binary given by -bin, on 127.0.0.1 only, and prints a Markdown table.
//
//	go build -o /tmp/appbackend ./cmd/appbackend
//	go run ./bench/cmd/gatewaybench -bin /tmp/appbackend
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

const (
	appSecret      = "absec_gatewaybench_0123456789"
	webhookSecret  = "whsec_gatewaybench_0123456789"
	upstreamSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func main() {
	bin := flag.String("bin", "./appbackend", "the appbackend binary")
	duration := flag.Duration("duration", 5*time.Second, "measured window of each proxy run")
	warmup := flag.Duration("warmup", time.Second, "warm-up before it")
	conns := flag.Int("connections", 32, "concurrent keep-alive connections")
	events := flag.Int("events", 5000, "events delivered in the throughput run")
	flag.Parse()
	if err := run(*bin, *duration, *warmup, *conns, *events); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

// upstream is the fast upstream: it answers every request 200 with a small JSON body
// and counts event deliveries.
type upstream struct {
	URL       string
	delivered atomic.Int64
	last      atomic.Int64 // unix nanos of the last delivery
}

func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{URL: "http://" + ln.Addr().String()}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/appbackend/events" {
			u.delivered.Add(1)
			u.last.Store(time.Now().UnixNano())
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"success":true}`)
	}))
	return u, nil
}

func startAppbackend(bin, upstreamURL string) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "gatewaybench-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"APPBACKEND_ADDR=127.0.0.1:0",
		"APPBACKEND_DATABASE=sqlite:"+filepath.Join(dir, "bench.db"),
		"APPBACKEND_LOG_LEVEL=warn",
		"STRIPE_APP_SECRETS="+appSecret,
		"STRIPE_WEBHOOK_SECRETS="+webhookSecret,
		"APPBACKEND_UPSTREAM="+upstreamURL,
		"APPBACKEND_UPSTREAM_SECRET="+upstreamSecret,
		// The upstream API is unused here; port 0, so that appbackend binds a port
		// itself rather than one found free and maybe taken before it binds it.
		"APPBACKEND_UPSTREAM_API_ADDR=127.0.0.1:0",
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "appbackend listening on "); ok {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return strings.TrimSpace(addr), stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("%s exited before listening", bin)
}

// result is one load run.
type result struct {
	name          string
	requests      int
	errors        int
	perSecond     float64
	p50, p99, max time.Duration
}

// load sends POST url with body and header from conns goroutines for warmup+duration
// and measures the window after the warm-up.
func load(name, url string, body []byte, header http.Header, conns int, warmup, duration time.Duration) result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 10 * time.Second}
	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+duration)
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			myErrs := 0
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header = header.Clone()
				resp, err := client.Do(req)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if t0.After(measureFrom) {
					if ok {
						mine = append(mine, time.Since(t0))
					} else {
						myErrs++
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += myErrs
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	r := result{name: name, requests: len(lat), errors: errs, perSecond: float64(len(lat)) / duration.Seconds()}
	if n := len(lat); n > 0 {
		r.p50, r.p99, r.max = lat[n/2], lat[n*99/100], lat[n-1]
	}
	return r
}

func run(bin string, duration, warmup time.Duration, conns, events int) error {
	up, err := startUpstream()
	if err != nil {
		return err
	}
	base, stop, err := startAppbackend(bin, up.URL)
	if err != nil {
		return err
	}
	defer stop()

	sig, body, err := appauth.Sign([]string{appSecret}, time.Now().Add(time.Minute), "usr_bench", "acct_bench", nil)
	if err != nil {
		return err
	}
	h := http.Header{"Content-Type": {"application/json"}, "Stripe-Signature": {sig}}
	// Check both answer before measuring.
	for _, u := range []string{up.URL + "/api/do_secret_stuff", base + "/api/do_secret_stuff"} {
		if r := load("check", u, body, h, 1, 0, 50*time.Millisecond); r.requests == 0 || r.errors > 0 {
			return fmt.Errorf("POST %s does not answer 200", u)
		}
	}
	direct := load("upstream directly", up.URL+"/api/do_secret_stuff", body, h, conns, warmup, duration)
	proxied := load("through appbackend (verify + proxy + proof)", base+"/api/do_secret_stuff", body, h, conns, warmup, duration)

	// Event delivery: post the events (concurrently, as Stripe does), then wait for the
	// upstream to have received all of them.
	bodies := make([][]byte, events)
	for i := range bodies {
		bodies[i] = webhooktest.Event("customer.created", webhooktest.Account("acct_bench"))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}, Timeout: 30 * time.Second}
	t0 := time.Now()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	var postErr atomic.Value
	for range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= events {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stripe", bytes.NewReader(bodies[i]))
				req.Header.Set("Stripe-Signature", webhooktest.Sign(bodies[i], webhookSecret, time.Now()))
				resp, err := client.Do(req)
				if err != nil {
					postErr.Store(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					postErr.Store(fmt.Errorf("webhook answered %d", resp.StatusCode))
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := postErr.Load().(error); err != nil {
		return err
	}
	acked := time.Since(t0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for up.delivered.Load() < int64(events) {
		if ctx.Err() != nil {
			return fmt.Errorf("only %d of %d events delivered after 5 minutes", up.delivered.Load(), events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	delivered := time.Unix(0, up.last.Load()).Sub(t0)

	fmt.Printf("## Gateway mode (loopback, %d connections, %s measured after %s warm-up)\n\n", conns, duration, warmup)
	fmt.Println("| signed POST /api/do_secret_stuff | req/s | p50 | p99 | errors |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, r := range []result{direct, proxied} {
		fmt.Printf("| %s | %.0f | %s | %s | %d |\n", r.name, r.perSecond, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors)
	}
	fmt.Printf("\nadded latency: p50 +%s, p99 +%s\n\n", (proxied.p50 - direct.p50).Round(time.Microsecond), (proxied.p99 - direct.p99).Round(time.Microsecond))
	rate := float64(events) / delivered.Seconds()
	verdict := "below"
	if rate >= 2000 {
		verdict = "meets"
	}
	fmt.Printf("| event delivery (SQLite) | events | all acknowledged | all delivered | events/s delivered |\n|---|---:|---:|---:|---:|\n")
	fmt.Printf("| %d webhooks over %d connections | %d | %s | %s | %.0f (%s the 2,000/s bar) |\n", events, conns, events, acked.Round(time.Millisecond), delivered.Round(time.Millisecond), rate, verdict)
	return nil
}
