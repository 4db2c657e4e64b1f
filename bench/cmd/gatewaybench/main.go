// Command gatewaybench measures gateway mode on loopback: the overhead of proxying a
// signed /api request through `appbackend serve --upstream` against calling the same
// upstream directly and through nginx (a plain keep-alive reverse proxy, no signature
// check: the reference of issue 25), in rounds where the three take turns (requests per
// second, p50, p99, and the proxy's CPU time per request from /proc), and how many
// events per second appbackend delivers to a fast upstream (SQLite). It starts the
// upstream in-process, the binary given by -bin and nginx (-nginx), on 127.0.0.1 only,
// and prints a Markdown table.
//
//	go build -o /tmp/appbackend ./cmd/appbackend
//	go run ./bench/cmd/gatewaybench -bin /tmp/appbackend -nginx "$(scripts/nginx.sh)"
//
// nginx cannot bind port 0 and report the port it got, so it is started on a random
// port of 20000–59999, and on another if that one is taken (its error log says
// "Address already in use"), up to 20 times; it counts as up once it answers a token of
// this run on a path of its own, so that another process on the port is never measured.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
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
	events := flag.Int("events", 10000, "events delivered in the throughput run")
	rounds := flag.Int("rounds", 3, "rounds of the proxy runs (direct, nginx, appbackend in turn); the table shows medians")
	nginxBin := flag.String("nginx", "", "the nginx binary (scripts/nginx.sh installs and prints it); empty: /usr/sbin/nginx or nginx on PATH, skipped if none")
	flag.Parse()
	if *nginxBin == "" {
		if p, err := exec.LookPath("nginx"); err == nil {
			*nginxBin = p
		} else if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			*nginxBin = "/usr/sbin/nginx"
		}
	}
	if err := run(*bin, *nginxBin, *duration, *warmup, *conns, *events, max(*rounds, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

// upstream is the fast upstream: it answers every request 200 with a small JSON body
// and counts event deliveries. A delivery waits until gate is closed, so that the
// delivery run starts from an inbox already full (intake measured apart).
type upstream struct {
	URL       string
	gate      chan struct{}
	delivered atomic.Int64
	last      atomic.Int64 // unix nanos of the last delivery
}

func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{URL: "http://" + ln.Addr().String(), gate: make(chan struct{})}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/appbackend/events" {
			<-u.gate
			u.delivered.Add(1)
			u.last.Store(time.Now().UnixNano())
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"success":true}`)
	}))
	return u, nil
}

func startAppbackend(bin, upstreamURL string) (url string, pid int, stop func(), err error) {
	dir, err := os.MkdirTemp("", "gatewaybench-")
	if err != nil {
		return "", 0, nil, err
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
		// The deliveries made while the intake runs wait at the upstream's gate (see
		// upstream) for as long as the intake takes.
		"APPBACKEND_UPSTREAM_TIMEOUT=10m",
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
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
			return strings.TrimSpace(addr), cmd.Process.Pid, stop, nil
		}
	}
	stop()
	return "", 0, nil, fmt.Errorf("%s exited before listening", bin)
}

// result is one load run.
type result struct {
	name          string
	requests      int
	errors        int
	perSecond     float64
	p50, p99, max time.Duration
	cpuPerRequest time.Duration // the proxy's CPU time in the window over its requests; 0 for none
}

// load sends POST url with body and header from conns goroutines for warmup+duration
// and measures the window after the warm-up.
// cpu, if not nil, is the proxy's CPU time so far: read at the window's start and end.
func load(name, url string, body []byte, header http.Header, conns int, warmup, duration time.Duration, cpu func() time.Duration) result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 10 * time.Second}
	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+duration)
	cpuAtStart := make(chan time.Duration, 1)
	if cpu != nil {
		time.AfterFunc(warmup, func() { cpuAtStart <- cpu() })
	}
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
	if cpu != nil && len(lat) > 0 {
		r.cpuPerRequest = (cpu() - <-cpuAtStart) / time.Duration(len(lat))
	}
	if n := len(lat); n > 0 {
		r.p50, r.p99, r.max = lat[n/2], lat[n*99/100], lat[n-1]
	}
	return r
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuOf is the user + system CPU time of the processes pids() names, from /proc.
func cpuOf(pids func() []int) func() time.Duration {
	return func() time.Duration {
		var total time.Duration
		for _, pid := range pids() {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// The fields after the command (which may hold spaces), from field 3 on.
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			if len(f) < 13 {
				continue
			}
			var utime, stime int64
			fmt.Sscan(f[11], &utime)
			fmt.Sscan(f[12], &stime)
			total += time.Duration(utime+stime) * clockTick
		}
		return total
	}
}

// withChildren is pid and its child processes (nginx's workers).
func withChildren(pid int) func() []int {
	return func() []int {
		pids := []int{pid}
		dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, d := range dirs {
			b, err := os.ReadFile(d)
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			var ppid, child int
			if len(f) > 1 {
				fmt.Sscan(f[1], &ppid)
			}
			if ppid == pid {
				fmt.Sscan(filepath.Base(filepath.Dir(d)), &child)
				pids = append(pids, child)
			}
		}
		return pids
	}
}

// startNginx runs nginx in the foreground as a keep-alive reverse proxy to upstreamURL,
// on a random free port (see the package comment).
func startNginx(bin, upstreamURL string) (url string, pid int, stop func(), err error) {
	dir, err := os.MkdirTemp("", "gatewaybench-nginx-")
	if err != nil {
		return "", 0, nil, err
	}
	token := fmt.Sprintf("gatewaybench-%d-%d", os.Getpid(), time.Now().UnixNano())
	upstreamHost := strings.TrimPrefix(upstreamURL, "http://")
	for attempt := 0; attempt < 20; attempt++ {
		port := 20000 + int(time.Now().UnixNano()/1000%40000)
		conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream app { server %[2]s; keepalive 128; }
	server {
		listen 127.0.0.1:%[3]d;
		location = /__gatewaybench { return 200 "%[4]s"; }
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
`, dir, upstreamHost, port, token)
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
			return "", 0, nil, err
		}
		_ = os.Remove(filepath.Join(dir, "error.log"))
		cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return "", 0, nil, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		stop := func() {
			_ = cmd.Process.Signal(os.Interrupt) // SIGINT: nginx's fast shutdown
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			os.RemoveAll(dir)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			select {
			case werr := <-exited:
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				if bytes.Contains(log, []byte("Address already in use")) || bytes.Contains(stderr.Bytes(), []byte("Address already in use")) {
					goto next // the port is taken: another one
				}
				os.RemoveAll(dir)
				return "", 0, nil, fmt.Errorf("nginx exited (%v): %s%s", werr, stderr.Bytes(), log)
			default:
			}
			if resp, err := http.Get(url + "/__gatewaybench"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) == token {
					return url, cmd.Process.Pid, stop, nil
				}
			}
			if time.Now().After(deadline) {
				stop()
				return "", 0, nil, fmt.Errorf("nginx did not answer on port %d within 10 s", port)
			}
			time.Sleep(20 * time.Millisecond)
		}
	next:
	}
	os.RemoveAll(dir)
	return "", 0, nil, errors.New("nginx found no free port in 20 tries")
}

// medianOf is the result of the median round by requests/s.
func medianOf(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.perSecond, b.perSecond) })
	return s[(len(s)-1)/2]
}

func run(bin, nginxBin string, duration, warmup time.Duration, conns, events, rounds int) error {
	up, err := startUpstream()
	if err != nil {
		return err
	}
	base, pid, stop, err := startAppbackend(bin, up.URL)
	if err != nil {
		return err
	}
	defer stop()
	nginxURL, nginxPID := "", 0
	nginxVersion := ""
	if nginxBin != "" {
		var stopNginx func()
		nginxURL, nginxPID, stopNginx, err = startNginx(nginxBin, up.URL)
		if err != nil {
			return err
		}
		defer stopNginx()
		v, _ := exec.Command(nginxBin, "-v").CombinedOutput()
		nginxVersion = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(v)), "nginx version: "))
	}

	sig, body, err := appauth.Sign([]string{appSecret}, time.Now().Add(time.Minute), "usr_bench", "acct_bench", nil)
	if err != nil {
		return err
	}
	h := http.Header{"Content-Type": {"application/json"}, "Stripe-Signature": {sig}}
	targets := []struct {
		name, url string
		cpu       func() time.Duration
	}{{"the upstream directly", up.URL, nil}}
	if nginxURL != "" {
		targets = append(targets, struct {
			name, url string
			cpu       func() time.Duration
		}{"through nginx " + nginxVersion + " (proxy only, keep-alive upstream)", nginxURL, cpuOf(withChildren(nginxPID))})
	}
	targets = append(targets, struct {
		name, url string
		cpu       func() time.Duration
	}{"through appbackend (verify + proxy + proof)", base, cpuOf(func() []int { return []int{pid} })})
	// Check every one answers before measuring.
	for _, t := range targets {
		if r := load("check", t.url+"/api/do_secret_stuff", body, h, 1, 0, 50*time.Millisecond, nil); r.requests == 0 || r.errors > 0 {
			return fmt.Errorf("POST %s/api/do_secret_stuff does not answer 200", t.url)
		}
	}
	loadAvg, _ := os.ReadFile("/proc/loadavg")
	loadAtStart := strings.Join(strings.Fields(string(loadAvg))[:3], " ")
	all := make([][]result, len(targets))
	for round := range rounds {
		for i, t := range targets {
			r := load(t.name, t.url+"/api/do_secret_stuff", body, h, conns, warmup, duration, t.cpu)
			fmt.Fprintf(os.Stderr, "gatewaybench: round %d/%d, %s: %.0f req/s, p99 %s\n", round+1, rounds, t.name, r.perSecond, r.p99.Round(time.Microsecond))
			all[i] = append(all[i], r)
		}
	}
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
	fmt.Fprintf(os.Stderr, "gatewaybench: %d events acknowledged in %s; delivering\n", events, acked.Round(time.Millisecond))
	// Delivery alone: every event is in the inbox; the upstream opens its gate now.
	// The CPU appbackend spends on it is read over the same span.
	cpu := cpuOf(func() []int { return []int{pid} })
	cpu0, d0 := cpu(), time.Now()
	close(up.gate)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for up.delivered.Load() < int64(events) {
		if ctx.Err() != nil {
			return fmt.Errorf("only %d of %d events delivered after 5 minutes", up.delivered.Load(), events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	delivered := time.Unix(0, up.last.Load()).Sub(d0)
	deliveryCPU := (cpu() - cpu0) / time.Duration(events)
	load1, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(os.Stderr, "gatewaybench: delivered in %s\n", delivered.Round(time.Millisecond))

	report(os.Stdout, all, conns, duration, warmup, rounds, strings.Join(strings.Fields(string(load1))[:3], " "), loadAtStart)
	rate := float64(events) / delivered.Seconds()
	verdict := "below"
	if rate >= 5000 {
		verdict = "meets"
	}
	fmt.Printf("| event delivery (SQLite, inbox pre-loaded) | events | intake (all acknowledged) | delivery (gate opened → last received) | events/s delivered | appbackend CPU per event |\n|---|---:|---:|---:|---:|---:|\n")
	fmt.Printf("| %d webhooks over %d connections | %d | %s | %s | **%.0f** (%s the 5,000/s bar) | %.1f µs |\n", events, conns, events, acked.Round(time.Millisecond), delivered.Round(time.Millisecond), rate, verdict, us(deliveryCPU))
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// report prints the proxy runs: every round, the medians, the ratios with their range
// over the rounds, and the CPU per request of appbackend and of nginx.
func report(w io.Writer, all [][]result, conns int, duration, warmup time.Duration, rounds int, loadEnd, loadStart string) {
	fmt.Fprintf(w, "## Gateway mode (loopback, %d connections, %s measured after %s warm-up, %d rounds taking turns; load average %s at the start, %s at the end)\n\n", conns, duration, warmup, rounds, loadStart, loadEnd)
	fmt.Fprintln(w, "| signed POST /api/do_secret_stuff | round | req/s | p50 | p99 | CPU per request (/proc) | errors |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	cpuText := func(d time.Duration) string {
		if d <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f µs", us(d))
	}
	med := make([]result, len(all))
	for _, rs := range all {
		for n, r := range rs {
			fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %s | %d |\n", r.name, n+1, r.perSecond, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), cpuText(r.cpuPerRequest), r.errors)
		}
	}
	for i, rs := range all {
		med[i] = medianOf(rs)
		errs := 0
		for _, r := range rs {
			errs += r.errors
		}
		fmt.Fprintf(w, "| **%s** | median | **%.0f** | %s | %s | %s | %d |\n", med[i].name, med[i].perSecond, med[i].p50.Round(time.Microsecond), med[i].p99.Round(time.Microsecond), cpuText(medianCPU(rs)), errs)
	}
	direct, proxied := med[0], med[len(med)-1]
	fmt.Fprintf(w, "\n- appbackend ÷ direct: **%.2f×** (bar ≥ 0.50×), per round %s\n", proxied.perSecond/direct.perSecond, perRound(all[len(all)-1], all[0]))
	if len(med) == 3 {
		fmt.Fprintf(w, "- appbackend ÷ nginx: **%.2f×** (bar ≥ 0.80×), per round %s; nginx ÷ direct: %.2f×\n", proxied.perSecond/med[1].perSecond, perRound(all[2], all[1]), med[1].perSecond/direct.perSecond)
		if a, n := medianCPU(all[2]), medianCPU(all[1]); n > 0 {
			fmt.Fprintf(w, "- CPU per proxied request (median of the rounds): appbackend %.1f µs, nginx's processes %.1f µs: %.2f×\n", us(a), us(n), float64(a)/float64(n))
		}
	} else {
		fmt.Fprintln(w, "- nginx: not measured (no nginx binary: scripts/nginx.sh installs it)")
	}
	fmt.Fprintf(w, "- added latency through appbackend: p50 +%s, p99 +%s\n\n", (proxied.p50 - direct.p50).Round(time.Microsecond), (proxied.p99 - direct.p99).Round(time.Microsecond))
}

// medianCPU is the median of the rounds' CPU per request (0 when not measured).
func medianCPU(rs []result) time.Duration {
	c := make([]time.Duration, len(rs))
	for i, r := range rs {
		c[i] = r.cpuPerRequest
	}
	slices.Sort(c)
	return c[(len(c)-1)/2]
}

// perRound is ours over theirs in each round and their range: "a×, b×, … (a×–b×)".
func perRound(ours, theirs []result) string {
	var parts []string
	var ratios []float64
	for i := range min(len(ours), len(theirs)) {
		r := ours[i].perSecond / theirs[i].perSecond
		ratios = append(ratios, r)
		parts = append(parts, fmt.Sprintf("%.2f×", r))
	}
	if len(ratios) == 0 {
		return ""
	}
	return fmt.Sprintf("%s (range %.2f×–%.2f×)", strings.Join(parts, ", "), slices.Min(ratios), slices.Max(ratios))
}
