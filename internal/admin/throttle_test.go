package admin_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/stretchr/testify/require"
)

// fakeClock is an Archetype.Now the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func setupThrottled(t *testing.T) (*testBundle, *fakeClock) {
	clock := &fakeClock{now: time.Now()}
	b := setup(t, func(c *admin.Config) {
		c.SignInBurst = 0 // the defaults
		c.Archetype.Now = clock.Now
	})
	return b, clock
}

// TestSignInIsThrottledPerAddress: a client guessing the token through the form gets
// DefaultSignInBurst answers, then 429 with Retry-After (even for the right token,
// which is then not even compared), one more try per DefaultSignInRefill, and the log
// gets a summary instead of a line per attempt.
func TestSignInIsThrottledPerAddress(t *testing.T) {
	t.Parallel()
	b, clock := setupThrottled(t)
	session := b.login(t) // a session taken before the attack keeps working

	statuses := map[int]int{}
	for i := range 50 {
		res := b.do(t, request{method: "POST", path: "/admin/login", form: url.Values{"token": {"guess-" + string(rune('a'+i%26))}}})
		statuses[res.status]++
		if res.status == http.StatusTooManyRequests {
			ra := res.header.Get("Retry-After")
			require.NotEqual(t, "", ra, "429 with Retry-After %q", ra)
			require.NotEqual(t, "0", ra, "429 with Retry-After %q", ra)
			require.Contains(t, res.body, "Too many failed sign-ins", "the 429 page lacks the message or the form:\n%s", res.body)
			require.Contains(t, res.body, `name="token"`, "the 429 page lacks the message or the form:\n%s", res.body)
		}
	}
	require.Equal(t, admin.DefaultSignInBurst, statuses[http.StatusUnauthorized], "50 wrong tokens answered %v, want %d × 401 then 429", statuses, admin.DefaultSignInBurst)
	require.Equal(t, 50-admin.DefaultSignInBurst, statuses[http.StatusTooManyRequests], "50 wrong tokens answered %v, want %d × 401 then 429", statuses, admin.DefaultSignInBurst)
	res := b.do(t, request{method: "POST", path: "/admin/login", form: url.Values{"token": {testToken}}})
	require.Equal(t, http.StatusTooManyRequests, res.status, "the right token while throttled = %d, want 429", res.status)
	res = b.do(t, request{method: "GET", path: "/admin/api/stats", cookie: session})
	require.Equal(t, http.StatusOK, res.status, "an existing session while its address is throttled = %d, want 200", res.status)

	clock.advance(admin.DefaultSignInRefill)
	b.login(t) // one more try, and it is the right token

	if n := strings.Count(b.logs.String(), "admin login refused"); n != 1 {
		require.FailNow(t, fmt.Sprintf("%d log lines for 51 refused sign-ins in a minute, want one summary:\n%s", n, b.logs.String()))
	}
	if !strings.Contains(b.logs.String(), "refused=1 ") {
		require.FailNow(t, fmt.Sprintf("the first refusal's summary is missing:\n%s", b.logs.String()))
	}
}

// TestBearerTokenIsThrottled: the API answers a guesser with rate_limited JSON.
func TestBearerTokenIsThrottled(t *testing.T) {
	t.Parallel()
	b, _ := setupThrottled(t)
	var last response
	for range admin.DefaultSignInBurst + 5 {
		last = b.do(t, request{method: "GET", path: "/admin/api/events", bearer: "not-the-token"})
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		require.FailNow(t, fmt.Sprintf("after %d wrong bearer tokens: %d, Retry-After %q; want 429 with Retry-After", admin.DefaultSignInBurst+5, last.status, last.header.Get("Retry-After")))
	}
	assertAPIError(t, last, "rate_limited")
	res := b.do(t, request{method: "GET", path: "/admin/api/events", bearer: testToken})
	require.Equal(t, http.StatusTooManyRequests, res.status, "the right bearer while throttled = %d, want 429", res.status)
	// Requests without credentials are not guesses: they are answered as before.
	res = b.do(t, request{method: "GET", path: "/admin/api/events"})
	require.Equal(t, http.StatusUnauthorized, res.status, "no credentials = %d, want 401", res.status)
}
