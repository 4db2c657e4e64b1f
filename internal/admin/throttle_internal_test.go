package admin

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestThrottleMemoryIsBounded: addresses past the bound share one bucket, so neither
// memory nor the throttle gives way to a guesser with many addresses.
func TestThrottleMemoryIsBounded(t *testing.T) {
	t.Parallel()
	th := newSignInThrottle(2, time.Minute)
	now := time.Now()
	for i := range maxThrottledAddrs + 500 {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		th.fail(addr, now)
		th.fail(addr, now)
	}
	n := len(th.buckets)
	require.LessOrEqual(t, n, maxThrottledAddrs, "%d buckets, want at most %d", n, maxThrottledAddrs)
	require.NotEqualValues(t, 0, th.wait("192.0.2.77", now), "a new address past the bound is not throttled with the overflow")
	// Once the buckets have refilled, they are swept and new addresses get their own.
	later := now.Add(time.Hour)
	th.fail("192.0.2.78", later)
	if _, ok := th.buckets["192.0.2.78"]; !ok || len(th.buckets) != 1 {
		require.FailNow(t, fmt.Sprintf("after a sweep: %d buckets, new address tracked: %v", len(th.buckets), ok))
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	for remote, want := range map[string]string{
		"192.0.2.1:5555":             "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.9]:80":      "192.0.2.9",
		"not an address":             "not an address",
	} {
		r := &http.Request{RemoteAddr: remote}
		got := clientAddr(r)
		require.Equal(t, want, got, "clientAddr(%q) = %q, want %q", remote, got, want)
	}
}
