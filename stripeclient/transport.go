package stripeclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/telemetry"
)

// transport is the http.RoundTripper under every stripe-go call of one mode. It checks
// that a bound call carries exactly its account, bounds the calls in flight per account,
// and retries what is safe to retry at once: 429s, answers marked Stripe-Should-Retry:
// true, and network failures. stripe-go's own retries are off (MaxNetworkRetries 0):
// they sleep without watching the context and would multiply with these.
type transport struct {
	mode       Mode
	base       http.RoundTripper
	limiter    *accountLimiter
	maxRetries int
	backoff    time.Duration
	maxBackoff time.Duration

	// traced is base with a client span per attempt, for calls made under a span
	// (traces on); built at the first such call.
	tracedOnce sync.Once
	traced     http.RoundTripper
}

// send makes one attempt. A call whose context carries a span (traces are on) goes
// through telemetry's transport: a client span naming the account and mode, and a
// traceparent header; any other goes straight to base.
func (t *transport) send(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return t.base.RoundTrip(r)
	}
	t.tracedOnce.Do(func() {
		t.traced = telemetry.Transport(t.base, telemetry.StripeSpanName, func(r *http.Request) []attribute.KeyValue {
			attrs := []attribute.KeyValue{telemetry.AttrMode.String(string(t.mode))}
			if c, ok := callFrom(r.Context()); ok && c.account != "" {
				attrs = append(attrs, telemetry.AttrAccount.String(c.account))
			}
			return attrs
		})
	})
	return t.traced.RoundTrip(r)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	c, ok := callFrom(ctx)
	if !ok {
		// Only the package's own backends use this transport, and they always say who
		// the call is for; a request without it lost its binding on the way.
		return nil, refuse("", "refusing a Stripe request that is bound to no account")
	}
	if c.state != nil {
		c.state.reached.Store(true)
	}
	account := req.Header.Get("Stripe-Account")
	if c.token != nil {
		return t.roundTripOAuth(ctx, req, c)
	}
	if !c.platform {
		if account != c.account {
			return nil, refuse("", fmt.Sprintf("refusing a Stripe request bound to %s that carries Stripe-Account %q", c.account, account))
		}
		if req.Header.Get("Stripe-Context") != "" {
			return nil, refuse("", "refusing a Stripe-Context header on a call bound to "+c.account)
		}
	}

	release, err := t.limiter.acquire(ctx, account)
	if err != nil {
		return nil, err
	}
	return t.retrying(ctx, req, c, release)
}

// retryWait decides whether attempt (0 for the first try) is repeated now, and after
// how long.
func (t *transport) retryWait(req *http.Request, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	if attempt >= t.maxRetries || req.Context().Err() != nil {
		return 0, false
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return 0, false
	}
	if err != nil {
		if permanentNetworkError(err) {
			return 0, false
		}
		// A POST is safe to repeat: stripe-go gives every write an Idempotency-Key.
		return t.backoffFor(attempt), true
	}
	switch resp.Header.Get("Stripe-Should-Retry") {
	case "false":
		return 0, false
	case "true":
		return t.backoffFor(attempt), true
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	// Rate limiters run before Stripe's idempotency layer, so a 429 saved nothing and
	// the same key may be sent again.
	if after, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
		if after > t.maxBackoff {
			return 0, false // leave it to the caller (a job retries much later)
		}
		return max(after, t.backoffFor(attempt)/2), true
	}
	return t.backoffFor(attempt), true
}

// backoffFor is the exponential back-off of attempt, capped, with 0-25% jitter off so
// that calls throttled together do not return together.
func (t *transport) backoffFor(attempt int) time.Duration {
	d := t.backoff << min(attempt, 20)
	if d > t.maxBackoff || d <= 0 {
		d = t.maxBackoff
	}
	if q := int64(d / 4); q > 0 {
		d -= time.Duration(rand.Int64N(q))
	}
	return d
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

func fitsDeadline(ctx context.Context, wait time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > wait
}

// permanentNetworkError reports transport errors that repeating cannot fix.
func permanentNetworkError(err error) bool {
	var pe *permanentError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verification *tls.CertificateVerificationError
	return errors.As(err, &pe) || errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &verification) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	return r, nil
}

// drain reads a little of a discarded answer so that its connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}

// releasingBody gives the account's slot back once stripe-go has read the answer.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// accountLimiter bounds the calls in flight per account. An account's entry lives only
// while a call holds or awaits one of its slots, so memory follows the busy accounts,
// not every account ever called.
type accountLimiter struct {
	limit int

	mu       sync.Mutex
	accounts map[string]*accountSlots
}

type accountSlots struct {
	sem chan struct{}
	// users counts the calls holding or awaiting a slot; guarded by accountLimiter.mu.
	users int
}

func newAccountLimiter(limit int) *accountLimiter {
	return &accountLimiter{limit: limit, accounts: make(map[string]*accountSlots)}
}

// acquire waits for one of account's slots, or for ctx to end. The returned func gives
// the slot back; it must be called exactly once.
func (l *accountLimiter) acquire(ctx context.Context, account string) (func(), error) {
	l.mu.Lock()
	s := l.accounts[account]
	if s == nil {
		s = &accountSlots{sem: make(chan struct{}, l.limit)}
		l.accounts[account] = s
	}
	s.users++
	l.mu.Unlock()

	select {
	case s.sem <- struct{}{}:
		return func() {
			<-s.sem
			l.leave(account, s)
		}, nil
	case <-ctx.Done():
		l.leave(account, s)
		return nil, ctx.Err()
	}
}

func (l *accountLimiter) leave(account string, s *accountSlots) {
	l.mu.Lock()
	s.users--
	if s.users == 0 {
		delete(l.accounts, account)
	}
	l.mu.Unlock()
}

// tracked is the number of accounts with calls in flight or waiting.
func (l *accountLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accounts)
}

// roundTripOAuth makes a call with the account's OAuth access token: no Stripe-Account
// (the token names the account), the same per-account bound and retries, and one more
// attempt with a refreshed token after a 401.
func (t *transport) roundTripOAuth(ctx context.Context, req *http.Request, c call) (*http.Response, error) {
	if req.Header.Get("Stripe-Account") != "" || req.Header.Get("Stripe-Context") != "" {
		return nil, refuse("", "refusing a Stripe-Account or Stripe-Context header on a call made with "+c.account+"'s OAuth token")
	}
	stale := ""
	for attempt := 0; ; attempt++ {
		token, err := c.token(ctx, stale)
		if err != nil {
			// A refusal with a code (the merchant must reauthorize) reaches the caller
			// as such; anything else is a failure to reach Stripe, retryable.
			var api *apierror.Error
			if errors.As(err, &api) {
				return nil, &permanentError{api: api, cause: err}
			}
			return nil, err
		}
		r := req
		if attempt > 0 {
			if r, err = rewind(req); err != nil {
				return nil, err
			}
		}
		r = r.Clone(ctx)
		r.Header.Set("Authorization", "Bearer "+token)
		release, err := t.limiter.acquire(ctx, c.account)
		if err != nil {
			return nil, err
		}
		resp, err := t.retrying(ctx, r, c, release)
		if err != nil || resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return resp, err
		}
		drain(resp.Body)
		stale = token
	}
}

// retrying is RoundTrip's retry loop for a request whose slot is held; it releases
// the slot when the answer's body is closed, or at once on failure.
func (t *transport) retrying(ctx context.Context, req *http.Request, c call, release func()) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		r := req
		var err error
		if attempt > 0 {
			if r, err = rewind(req); err != nil {
				release()
				return nil, err
			}
		}
		resp, err := t.send(r)
		wait, again := t.retryWait(req, resp, err, attempt)
		if again && !fitsDeadline(ctx, wait) {
			again = false
		}
		if !again {
			if resp == nil {
				release()
				return nil, err
			}
			if c.state != nil {
				c.state.status.Store(int32(resp.StatusCode))
			}
			resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
			return resp, err
		}
		if resp != nil {
			drain(resp.Body)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			release()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}
