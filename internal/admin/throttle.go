package admin

import (
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the sign-in throttle.
const (
	// DefaultSignInBurst failed sign-ins (a wrong token in the form or as a bearer) an
	// address may make before it is throttled.
	DefaultSignInBurst = 10
	// DefaultSignInRefill is how often a throttled address earns one more try.
	DefaultSignInRefill = 6 * time.Second
	// maxThrottledAddrs bounds the throttle's memory; past it, new addresses share
	// one bucket, so that an attacker with many addresses is throttled as one.
	maxThrottledAddrs = 10000
	// failureSummaryEvery is how often refused sign-ins are logged, as one summary.
	failureSummaryEvery = time.Minute
)

// signInThrottle is a token bucket per client address, spent by failed sign-ins.
type signInThrottle struct {
	burst  float64
	refill time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	overflow  bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newSignInThrottle(burst int, refill time.Duration) *signInThrottle {
	return &signInThrottle{burst: float64(burst), refill: refill, buckets: make(map[string]*bucket)}
}

func (t *signInThrottle) refilled(b *bucket, now time.Time) {
	if b.at.IsZero() {
		b.tokens, b.at = t.burst, now
		return
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = math.Min(t.burst, b.tokens+float64(elapsed)/float64(t.refill))
		b.at = now
	}
}

// wait is how long addr must wait before its next try; zero if it may try now.
func (t *signInThrottle) wait(addr string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.buckets[addr]
	if !ok {
		if len(t.buckets) < maxThrottledAddrs || t.overflow.at.IsZero() {
			return 0
		}
		b = &t.overflow
	}
	t.refilled(b, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(t.refill))
}

// fail spends one try of addr.
func (t *signInThrottle) fail(addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.buckets[addr]
	if !ok {
		if len(t.buckets) >= maxThrottledAddrs && now.Sub(t.lastSweep) >= time.Second {
			t.lastSweep = now
			for k, v := range t.buckets {
				if t.refilled(v, now); v.tokens >= t.burst {
					delete(t.buckets, k) // a full bucket is what a new one would be
				}
			}
		}
		if len(t.buckets) < maxThrottledAddrs {
			b = &bucket{}
			t.buckets[addr] = b
		} else {
			b = &t.overflow
		}
	}
	t.refilled(b, now)
	b.tokens = math.Max(b.tokens-1, 0)
}

// clientAddr is the address a request is throttled by: the peer's IP, or its /64 for
// IPv6, where one client commonly holds the whole prefix.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// failureLog logs refused sign-ins as one summary per failureSummaryEvery instead of a
// line per attempt: a guessing client must not be able to flood the log.
type failureLog struct {
	logger *slog.Logger
	every  time.Duration

	mu        sync.Mutex
	refused   int
	throttled int
	addrs     map[string]int
	lastFlush time.Time
	timer     *time.Timer
}

func newFailureLog(logger *slog.Logger) *failureLog {
	return &failureLog{logger: logger, every: failureSummaryEvery, addrs: make(map[string]int)}
}

// record counts one refused (wrong token) or throttled attempt of addr.
func (f *failureLog) record(addr string, throttled bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if throttled {
		f.throttled++
	} else {
		f.refused++
	}
	if _, ok := f.addrs[addr]; ok || len(f.addrs) < 1000 {
		f.addrs[addr]++
	}
	if f.timer != nil {
		return
	}
	if wait := f.every - time.Since(f.lastFlush); wait > 0 {
		f.timer = time.AfterFunc(wait, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.timer = nil
			f.flushLocked()
		})
		return
	}
	f.flushLocked()
}

func (f *failureLog) flushLocked() {
	f.lastFlush = time.Now()
	if f.refused+f.throttled == 0 {
		return
	}
	top, topN := "", 0
	for a, n := range f.addrs {
		if n > topN || (n == topN && a < top) {
			top, topN = a, n
		}
	}
	f.logger.Warn("admin login refused",
		"refused", f.refused, "throttled", f.throttled, "addresses", len(f.addrs),
		"top_address", top, "top_address_attempts", topN)
	f.refused, f.throttled = 0, 0
	clear(f.addrs)
}

// retryAfter is the Retry-After value for a wait, in whole seconds (at least 1).
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
