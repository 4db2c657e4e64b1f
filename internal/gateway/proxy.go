package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/telemetry"
	"github.com/appbackend/appbackend/stripeclient"
)

// Identity headers the upstream receives with a proxied request. Whatever the caller
// sent under the Appbackend- prefix is removed first, so they cannot be spoofed.
const (
	HeaderUserID        = "Appbackend-User-Id"
	HeaderAccountID     = "Appbackend-Account-Id"
	HeaderRoles         = "Appbackend-Roles"
	HeaderPayloadSigned = "Appbackend-Payload-Signed"
	HeaderLivemode      = "Appbackend-Livemode"
	HeaderRequestID     = "Appbackend-Request-Id"
	HeaderInstallation  = "Appbackend-Installation"
)

// DefaultTimeout bounds the wait for the upstream's answer (its headers, for a
// proxied request; the whole answer, for a delivery).
const DefaultTimeout = 30 * time.Second

// Config configures a Gateway.
type Config struct {
	// Upstream is the base URL of the app's server; its path, if any, prefixes every
	// forwarded path.
	Upstream string
	// Secret is the Standard Webhooks secret (whsec_…) that signs what goes upstream.
	Secret string
	// Timeout bounds each call (default DefaultTimeout).
	Timeout time.Duration
	// WriteError answers a request with the contract's JSON error.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
}

// Gateway proxies verified requests to the upstream and delivers calls to it.
type Gateway struct {
	// Base is the clock that timestamps the signatures.
	baseservice.Base
	base    *url.URL
	signer  *Signer
	timeout time.Duration
	proxy   *httputil.ReverseProxy
	client  *http.Client
	writeEr func(w http.ResponseWriter, r *http.Request, err error)
}

// ErrUpstreamURL refuses an upstream that is not an absolute http(s) URL.
var ErrUpstreamURL = errors.New("not an http:// or https:// URL without a query or dot-segments")

// ParseUpstream checks an upstream base URL.
func ParseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, ErrUpstreamURL
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	if u.Path != "" && CheckPath(u.EscapedPath(), "/") != nil {
		return nil, ErrUpstreamURL // a base path that itself climbs out would be no base
	}
	return u, nil
}

// New builds a Gateway with the logger and clock of arch.
func New(arch *baseservice.Archetype, cfg Config) (*Gateway, error) {
	base, err := ParseUpstream(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	signer, err := ParseSecret(cfg.Secret)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.WriteError == nil {
		cfg.WriteError = func(w http.ResponseWriter, r *http.Request, err error) { apierror.Write(w, r, nil, err) }
	}
	transport := &http.Transport{
		Proxy:                 nil, // the upstream is the app's own server, never behind an outbound proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	// Calls made under a span (traces on) get a client span and the W3C traceparent,
	// which the upstream continues the trace with.
	proxied := telemetry.Transport(transport, func(r *http.Request) string { return "upstream " + r.Method }, upstreamAttrs)
	delivered := telemetry.Transport(transport, func(r *http.Request) string { return "deliver " + r.Method + " " + r.URL.Path }, upstreamAttrs)
	g := &Gateway{
		base:    base,
		signer:  signer,
		timeout: cfg.Timeout,
		// A delivery is answered by the path it was sent to, or it failed: following a
		// redirect would turn the POST into a bodiless GET elsewhere, whose 200 would
		// mark an event processed or a job done that the upstream never received.
		client: &http.Client{Transport: delivered, Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		writeEr: cfg.WriteError,
	}
	g.Init(arch)
	g.proxy = &httputil.ReverseProxy{
		// The identity and proof headers are set here, on the outgoing request, after
		// ReverseProxy removed the hop-by-hop headers: set on the incoming one, a client
		// listing them in Connection: would have had them removed.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.SetXForwarded()
			h := pr.Out.Header
			dropReserved(h)
			out, ok := pr.In.Context().Value(outgoingKey{}).(*outgoing)
			if !ok {
				return
			}
			out.setHeaders(h)
			// ReverseProxy wraps the body in a reader of its own, which net/http
			// cannot tell is in memory: it then flushes the headers to the upstream
			// in a write of their own before the body, two syscalls (and two TCP
			// segments) per request instead of one. The body is in memory
			// (appauth.Protect read it whole): a bytes.Reader says so.
			if len(out.body) > 0 {
				pr.Out.Body = io.NopCloser(bytes.NewReader(out.body))
				pr.Out.ContentLength = int64(len(out.body))
			}
		},
		Transport:  proxied,
		BufferPool: bufferPool{},
		// The UI extension gets appbackend's CORS headers, not whatever the upstream
		// says: two Access-Control-Allow-Origin values make the browser refuse both.
		ModifyResponse: func(resp *http.Response) error {
			for k := range resp.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					delete(resp.Header, k)
				}
			}
			return nil
		},
		ErrorHandler: g.proxyError,
	}
	return g, nil
}

// upstreamAttrs names, on a call's span, the account, the mode and the webhook-id
// that its identity headers carry (never the signature).
func upstreamAttrs(r *http.Request) []attribute.KeyValue {
	var attrs []attribute.KeyValue
	if v := r.Header.Get(HeaderAccountID); v != "" {
		attrs = append(attrs, telemetry.AttrAccount.String(v))
	}
	switch r.Header.Get(HeaderLivemode) {
	case "true":
		attrs = append(attrs, telemetry.AttrMode.String("live"))
	case "false":
		attrs = append(attrs, telemetry.AttrMode.String("test"))
	}
	if v := r.Header.Get(HeaderID); v != "" {
		attrs = append(attrs, telemetry.AttrDelivery.String(v))
	}
	return attrs
}

// Signer is the gateway's signer (what the upstream verifies with).
func (g *Gateway) Signer() *Signer { return g.signer }

// Timeout bounds every call to the upstream.
func (g *Gateway) Timeout() time.Duration { return g.timeout }

// ServeHTTP forwards a verified request (its identity in the context, as
// appauth.Protect leaves it) to the upstream: the same method, the path under the
// upstream's base path, the query, the exact body, the caller's headers without any
// Appbackend-* or Stripe-Signature, and the identity and proof headers. A path that the
// upstream could resolve to somewhere else than under /api/ (see CheckPath) is refused
// with 400 and never forwarded, so the proof signs exactly the path the upstream gets.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := appauth.FromContext(r.Context())
	if !ok {
		g.writeEr(w, r, errors.New("gateway: request without a verified identity"))
		return
	}
	path := r.URL.EscapedPath()
	if err := CheckPath(path, "/api/"); err != nil {
		g.writeEr(w, r, apierror.New(apierror.CodeBadRequest, "not forwarded: "+err.Error()))
		return
	}
	body, err := readBody(r)
	if err != nil {
		g.writeEr(w, r, err)
		return
	}
	reqID := w.Header().Get("X-Request-Id")
	if reqID == "" {
		reqID = randomID()
	}
	proof := IdentityHeaders(id)
	pathQuery := path
	if r.URL.RawQuery != "" {
		pathQuery += "?" + r.URL.RawQuery
	}
	out := &outgoing{body: body}
	ts, sig := g.signer.Signature(reqID, g.Now(), proof.Payload(r.Method, pathQuery, body))
	out.values = [...]string{proof.UserID, proof.AccountID, proof.Roles, proof.PayloadSigned, reqID, reqID, ts, sig, proof.Livemode}
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), outgoingKey{}, out)))
}

// outgoingKey carries the identity and proof headers, and the body they sign, from
// ServeHTTP to the proxy's Rewrite.
type outgoingKey struct{}

// outgoing is what ServeHTTP hands the proxy's Rewrite: the body and the values of the
// identity and proof headers, in the order of outgoingNames (Livemode last, set only
// when not empty). One allocation holds every value, each header's []string being a
// slice of it.
type outgoing struct {
	body   []byte
	values [len(outgoingNames) + 1]string
}

var outgoingNames = [...]string{HeaderUserID, HeaderAccountID, HeaderRoles, HeaderPayloadSigned, HeaderRequestID, HeaderID, HeaderTimestamp, HeaderSignature}

// setHeaders sets the identity and proof headers on h.
func (o *outgoing) setHeaders(h http.Header) {
	for i, k := range outgoingNames {
		h[k] = o.values[i : i+1 : i+1]
	}
	if n := len(outgoingNames); o.values[n] != "" {
		h[HeaderLivemode] = o.values[n : n+1 : n+1]
	}
}

// dropReserved removes the caller's headers in the names appbackend sets or signs
// with: Appbackend-*, Webhook-*, Stripe-Signature, also spelt with "_" for "-"
// (Appbackend_User_Id), which CGI-style servers (WSGI, Rack, PHP) read as the same
// variable as the real header.
func dropReserved(h http.Header) {
	for k := range h {
		if reservedName(k) {
			delete(h, k)
		}
	}
}

// reservedName reports whether the header name k is one dropReserved removes, without
// allocating (it runs on every header of every proxied request): ASCII case is folded
// and "_" is taken for "-".
func reservedName(k string) bool {
	return hasFoldedPrefix(k, "appbackend-") || hasFoldedPrefix(k, "webhook-") ||
		(len(k) == len("stripe-signature") && hasFoldedPrefix(k, "stripe-signature"))
}

// hasFoldedPrefix reports whether s starts with prefix (lowercase, with "-") once s's
// ASCII letters are lowered and its "_" are read as "-".
func hasFoldedPrefix(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// Proof is what the identity headers of a proxied request say, as strings.
type Proof struct {
	UserID, AccountID, Roles, PayloadSigned, Livemode string
}

// IdentityHeaders is the values of the identity headers for id.
func IdentityHeaders(id *appauth.Identity) Proof {
	p := Proof{UserID: id.UserID, AccountID: id.AccountID, Roles: strings.Join(id.Roles, ","), PayloadSigned: "false"}
	if id.SignedAs.CoversBody() && len(id.Payload) > 0 {
		p.PayloadSigned = "true"
		if live, err := stripeclient.SignedLivemode(id.Payload); err == nil && live != nil {
			p.Livemode = "false"
			if *live {
				p.Livemode = "true"
			}
		}
	}
	return p
}

// Payload is the string the upstream proof signs: method, path with query, user id,
// account id, roles, payload-signed, livemode (empty when absent) and the lowercase hex
// SHA-256 of the body, joined by newlines.
func (p Proof) Payload(method, pathQuery string, body []byte) []byte {
	sum := sha256.Sum256(body)
	var b bytes.Buffer
	b.Grow(len(method) + len(pathQuery) + len(p.UserID) + len(p.AccountID) + len(p.Roles) + 96)
	for _, s := range []string{method, pathQuery, p.UserID, p.AccountID, p.Roles, p.PayloadSigned, p.Livemode} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	b.Write(hexSum[:])
	return b.Bytes()
}

// readBody returns the body appauth.Protect kept in memory, leaving r.Body readable.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.GetBody != nil {
		rc, err := r.GetBody()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// proxyError answers 504 upstream_timeout when the upstream did not answer in time,
// 502 upstream_unavailable for anything else that kept an answer from coming.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the caller went away; nobody reads an answer
	}
	g.writeEr(w, r, upstreamError(err, "the app's server"))
}

func upstreamError(err error, what string) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w (%v)", &apierror.Error{Code: apierror.CodeUpstreamTimeout, Message: what + " did not answer in time"}, err)
	}
	return fmt.Errorf("%w (%v)", &apierror.Error{Code: apierror.CodeUpstreamUnavailable, Message: what + " is unreachable"}, err)
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// bufferPool reuses the proxy's copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
