// Package outbound is the HTTP client an app's backend uses to call APIs other than
// Stripe (a CRM, a shipping service, an OAuth token endpoint): bounded in time and in the
// size of what it reads, and careful that no credential reaches a log or an error.
//
//   - ConnectTimeout bounds dialing and the TLS handshake; Timeout bounds the whole
//     request, reading the body included.
//   - A response body longer than MaxResponseBytes fails with ErrResponseTooLarge as soon
//     as the limit is crossed; it is never silently cut short.
//   - Errors and logs show URLs through RedactURL (the values of query parameters named
//     like key, token, secret, password, signature, code, … and any password in the
//     URL) and never show request headers; RedactHeader is there for code that wants to
//     log some.
package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/appbackend/appbackend/internal/telemetry"
)

// Defaults of Config.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 10 << 20
)

// ErrResponseTooLarge is returned by a response body's Read once the body exceeds
// MaxResponseBytes.
var ErrResponseTooLarge = errors.New("response body exceeds the size limit")

// Config configures a Client; the zero value uses the defaults.
type Config struct {
	// ConnectTimeout bounds the TCP connect and the TLS handshake. Default 5s.
	ConnectTimeout time.Duration
	// Timeout bounds a whole request: connecting, sending, waiting for and reading the
	// answer. Default 30s. A context deadline that comes sooner wins.
	Timeout time.Duration
	// MaxResponseBytes bounds a response body. Default 10 MiB.
	MaxResponseBytes int64
	// UserAgent is sent when a request sets none.
	UserAgent string
	// Logger, if set, receives one debug record per request: method, redacted URL,
	// status or error, duration. Never headers or bodies.
	Logger *slog.Logger
	// Transport replaces the client's own transport (tests); the timeouts of
	// ConnectTimeout then are the given transport's business.
	Transport http.RoundTripper
}

// Client makes outbound HTTP requests. It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	userAgent string
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	base := cfg.Transport
	if base == nil {
		dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
		base = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   cfg.ConnectTimeout,
			ResponseHeaderTimeout: cfg.Timeout,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   16,
			ForceAttemptHTTP2:     true,
		}
	}
	// A call made under a span (the app's traces on) gets a client span and a
	// traceparent; url.full is recorded without its query, which may hold a token.
	base = telemetry.Transport(base, func(r *http.Request) string { return "outbound " + r.Method }, nil)
	return &Client{
		hc: &http.Client{
			Timeout:   cfg.Timeout,
			Transport: &limitTransport{base: base, limit: cfg.MaxResponseBytes, logger: cfg.Logger},
		},
		userAgent: cfg.UserAgent,
	}
}

// HTTPClient returns the underlying *http.Client, with the timeouts and the size limit,
// for libraries that take one. Prefer Do: an *http.Client's own errors quote the URL
// unredacted apart from its password.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// Do sends req. Its response body fails with ErrResponseTooLarge past the size limit;
// its errors quote the URL redacted.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if c.userAgent != "" && req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, &url.Error{Op: ue.Op, URL: RedactURL(req.URL), Err: ue.Err}
		}
		return nil, err
	}
	return resp, nil
}

// StatusError is a non-2xx answer to GetJSON or PostJSON.
type StatusError struct {
	Method     string
	URL        string // redacted
	StatusCode int
	// Body is the start of the answer's body (at most 512 bytes), for diagnosis; it is
	// the remote service's text, so treat it as untrusted.
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("outbound: %s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// GetJSON GETs rawURL with header and decodes a 2xx JSON answer into out (nil: discard).
func (c *Client) GetJSON(ctx context.Context, rawURL string, header http.Header, out any) error {
	return c.doJSON(ctx, http.MethodGet, rawURL, header, nil, out)
}

// PostJSON POSTs in as JSON to rawURL with header and decodes a 2xx JSON answer into out
// (nil: discard).
func (c *Client) PostJSON(ctx context.Context, rawURL string, header http.Header, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("outbound: encode request body: %w", err)
	}
	return c.doJSON(ctx, http.MethodPost, rawURL, header, body, out)
}

func (c *Client) doJSON(ctx context.Context, method, rawURL string, header http.Header, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		// url.Parse errors quote the raw URL; say only that it is not one.
		return fmt.Errorf("outbound: %s: invalid URL", method)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("outbound: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &StatusError{Method: method, URL: RedactURL(req.URL), StatusCode: resp.StatusCode, Body: string(snippet)}
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("outbound: %s %s: read answer: %w", method, RedactURL(req.URL), err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("outbound: %s %s: decode answer: %w", method, RedactURL(req.URL), err)
	}
	return nil
}

// limitTransport bounds response bodies and logs each request, redacted.
type limitTransport struct {
	base   http.RoundTripper
	limit  int64
	logger *slog.Logger
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if t.logger != nil {
		attrs := []any{"method", req.Method, "url", RedactURL(req.URL), "duration", time.Since(start)}
		if err != nil {
			// Transport errors may quote the URL; the redacted one is above.
			attrs = append(attrs, "err", errorWithoutURL(err))
		} else {
			attrs = append(attrs, "status", resp.StatusCode)
		}
		t.logger.DebugContext(req.Context(), "outbound request", attrs...)
	}
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		// net/http wraps this in a *url.Error that names the request.
		return nil, fmt.Errorf("%w: Content-Length %d, limit %d bytes", ErrResponseTooLarge, resp.ContentLength, t.limit)
	}
	tooLarge := fmt.Errorf("%s %s: %w (limit %d bytes)", req.Method, RedactURL(req.URL), ErrResponseTooLarge, t.limit)
	resp.Body = &limitedBody{rc: resp.Body, remaining: t.limit, tooLarge: tooLarge}
	return resp, nil
}

func errorWithoutURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// limitedBody reads at most remaining bytes and fails, rather than stopping quietly,
// when there is more.
type limitedBody struct {
	rc        io.ReadCloser
	remaining int64
	exceeded  bool
	tooLarge  error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.exceeded {
		return 0, b.tooLarge
	}
	// Ask for one byte more than allowed, to tell "exactly at the limit" from "over".
	if int64(len(p)) > b.remaining+1 {
		p = p[:b.remaining+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.remaining {
		b.remaining -= int64(n)
		return n, err
	}
	n = int(b.remaining)
	b.remaining = 0
	b.exceeded = true
	return n, b.tooLarge
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// sensitiveWords mark a query parameter or header whose value is a credential.
var sensitiveWords = []string{
	"key", "token", "secret", "password", "passwd", "pwd", "auth", "signature", "sig",
	"credential", "session", "cookie", "code", "assertion",
}

func sensitive(name string) bool {
	name = strings.ToLower(name)
	for _, w := range sensitiveWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// Redacted replaces a sensitive value in logs and errors.
const Redacted = "REDACTED"

// RedactURL prints u with the values of sensitive query parameters and any password
// replaced by REDACTED. Parameter order is kept.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		parts := strings.Split(c.RawQuery, "&")
		for i, part := range parts {
			name, _, hasValue := strings.Cut(part, "=")
			if unescaped, err := url.QueryUnescape(name); err == nil {
				name = unescaped
			}
			if hasValue && sensitive(name) {
				parts[i] = part[:strings.IndexByte(part, '=')+1] + Redacted
			}
		}
		c.RawQuery = strings.Join(parts, "&")
	}
	return c.Redacted()
}

// RedactHeader returns a copy of h with the values of Authorization, cookies and any
// header named like a credential (X-Api-Key, Stripe-Signature, …) replaced by REDACTED.
func RedactHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for name, values := range h {
		if sensitive(name) {
			out[name] = []string{Redacted}
			continue
		}
		out[name] = append([]string(nil), values...)
	}
	return out
}
