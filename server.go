package appbackend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/forwarded"
	"github.com/appbackend/appbackend/internal/jsjson"
	"github.com/appbackend/appbackend/internal/metrics"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/telemetry"
	"github.com/appbackend/appbackend/internal/webhook"
	"github.com/appbackend/appbackend/stripeclient"
)

// handler returns the App's whole HTTP handler: signed /api routes, health checks and
// the other public routes, behind request ids, access logs and panic recovery.
// It is valid once Run has opened the database (tests may call it after open).
func (a *App) handler() http.Handler {
	root := http.NewServeMux()
	api := a.signedRoutes()
	root.Handle("/api/", api)
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	root.HandleFunc("GET /readyz", a.handleReady)
	if !a.separateMetrics() {
		root.Handle("GET /metrics", a.metrics.Handler())
	}
	root.Handle("/", markPublic(a.public))
	// Validated in New; the zero value trusts no proxy.
	proxies, _ := forwarded.Parse(a.cfg.TrustedProxies)
	h := a.observe(apiFirst(root, api))
	if a.tel != nil {
		// Only with traces on: off, no request pays for them.
		h = a.tel.Handler(h)
	}
	return proxies.Handler(h)
}

// apiFirst hands a request for a clean path under /api/ to the signed routes api
// directly, as root would: root has no other pattern there (HandleUnsigned refuses /api/
// for every host), and root's lookup of "/api/" walks its tree twice (a multi-segment
// match is retried with a trailing slash) and allocates each time, on every signed
// request. Anything else (an unclean or escaped path, which root redirects or matches
// segment by segment, CONNECT, "/api/" itself) still goes through root.
func apiFirst(root *http.ServeMux, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > len("/api/") && strings.HasPrefix(p, "/api/") && r.URL.RawPath == "" &&
			r.Method != http.MethodConnect && path.Clean(p) == p {
			r.Pattern = "/api/" // as root sets it; routeLabel reads it
			api.ServeHTTP(w, r)
			return
		}
		root.ServeHTTP(w, r)
	})
}

// HandleUnsigned registers a route that is served without a signature check: a page
// the merchant opens in a browser (a settings page, a status page) or the callback of a
// third-party OAuth flow. The pattern is a net/http ServeMux pattern ("GET /settings",
// "GET /oauth/github/callback", "GET /{$}" for the root alone) outside the paths
// appbackend serves itself: /api/ (signed routes: use Handle), /webhooks/, /admin/,
// /install, /healthz, /readyz and /metrics. Its handler gets no identity
// (IdentityFrom reports false) and must authenticate the caller itself if it needs to.
//
// An unsigned route never gets the signed routes' CORS headers, and an OPTIONS
// preflight to it is not answered with them: a UI extension calls signed routes only,
// and a page of the app's own origin needs no CORS.
//
// Like ServeMux, it panics on a pattern it refuses (a reserved path, an invalid or
// conflicting pattern) and when called after Run, so a mistake fails at the first test
// that builds the app.
func (a *App) HandleUnsigned(pattern string, h http.Handler) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		panic("appbackend: HandleUnsigned called after Run")
	}
	if reason := refuseUnsigned(pattern); reason != "" {
		panic(fmt.Sprintf("appbackend: unsigned route %q %s", pattern, reason))
	}
	a.public.Handle(pattern, h)
}

// HandleUnsignedFunc registers an unsigned route handled by f; see HandleUnsigned.
func (a *App) HandleUnsignedFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	a.HandleUnsigned(pattern, http.HandlerFunc(f))
}

// reservedPaths are appbackend's own: an unsigned route may be neither one of them nor
// under one.
var reservedPaths = []string{"/api", "/webhooks", "/admin", "/install", "/healthz", "/readyz", "/metrics"}

// refuseUnsigned says why pattern cannot be an unsigned route; "" when it can.
func refuseUnsigned(pattern string) string {
	path := pattern
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		path = strings.TrimSpace(pattern[i+1:])
	}
	if i := strings.IndexByte(path, '/'); i > 0 {
		path = path[i:] // after a host ("example.com/settings")
	}
	if path == "/" {
		return `would take every path appbackend does not serve: name the pages, or "/{$}" for the root alone`
	}
	lower := strings.ToLower(path)
	for _, p := range reservedPaths {
		if lower == p || strings.HasPrefix(lower, p+"/") {
			if p == "/api" {
				return "is under /api/, where every route is signed: register it with Handle"
			}
			return "is under " + p + ", which appbackend serves itself"
		}
	}
	return ""
}

// signedRoutes wraps the app's signed routes: CORS first (a preflight carries no
// signature), then the signature check, then the route itself.
func (a *App) signedRoutes() http.Handler {
	dispatch := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.tel != nil {
			a.traceSigned(r)
		}
		h, pattern := a.signed.Handler(r)
		if pattern == "" && a.gateway != nil {
			if st := stateOf(w); st != nil {
				st.signedPattern = "/api/ (upstream)"
			}
			a.gateway.ServeHTTP(w, r)
			return
		}
		if pattern == "" {
			// ServeMux's own 404/405 are plain text; the contract wants JSON.
			a.writeError(w, r, routeMiss(a.signed, r))
			return
		}
		if st := stateOf(w); st != nil {
			st.signedPattern = pattern // for the metrics, which would look it up again
		}
		if strings.Contains(pattern, "{") {
			// ServeHTTP, not the handler found above: it also sets r.PathValue.
			a.signed.ServeHTTP(w, r)
			return
		}
		r.Pattern = pattern
		h.ServeHTTP(w, r)
	})
	return a.verifier.Protect(dispatch, appauth.WithMaxBody(a.cfg.MaxBody), appauth.WithLogger(a.logger),
		appauth.WithFailureHook(func(_ *http.Request, err error) {
			a.metrics.SignatureFailure("api", metrics.SignatureFailureReason(err))
		}))
}

// traceSigned names the verified account, and the mode when the payload signed it,
// on the request's span.
func (a *App) traceSigned(r *http.Request) {
	id, ok := appauth.FromContext(r.Context())
	if !ok {
		return
	}
	var live *bool
	if id.SignedAs.CoversBody() && len(id.Payload) > 0 {
		live, _ = stripeclient.SignedLivemode(id.Payload)
	}
	telemetry.Signed(r.Context(), id.AccountID, live)
}

// routeMiss tells a missing route (404) from a wrong method (405).
func routeMiss(mux *http.ServeMux, r *http.Request) error {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := mux.Handler(probe); p != "" {
			return &apierror.Error{Code: apierror.CodeMethodNotAllowed, Message: r.Method + " is not allowed on " + r.URL.Path}
		}
	}
	return apierror.New(apierror.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path)
}

// readyLogEvery bounds how often GET /readyz logs a database that stays down: a probe
// every second (or a caller hammering the public route) must not flood the log.
const readyLogEvery = time.Minute

// readyFailFor is how long a failed database ping answers GET /readyz: the route is
// public, and while the database is away each ping may take seconds, so a caller
// looping on it must not turn into a pile of pings.
const readyFailFor = time.Second

// readyErr pings the database for GET /readyz. Concurrent callers share one ping, and
// a failure is kept for readyFailFor; a success is not kept, so that /readyz turns 503
// as soon as the database goes away.
func (a *App) readyErr(ctx context.Context) error {
	c := &a.ready
	c.mu.Lock()
	if c.err != nil && time.Since(c.at) < readyFailFor {
		err := c.err
		c.mu.Unlock()
		return err
	}
	done := c.inflight
	if done == nil {
		done = make(chan struct{})
		c.inflight = done
		go func() {
			// Not the caller's context: its going away must not be taken for the
			// database's.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			err := a.db.Ping(ctx)
			c.mu.Lock()
			c.err, c.at, c.inflight = err, time.Now(), nil
			c.mu.Unlock()
			close(done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (a *App) handleReady(w http.ResponseWriter, r *http.Request) {
	message := "database unreachable"
	err := a.readyErr(r.Context())
	if err == nil && a.receiver != nil {
		// The database answers, but a ping does not write: the latest webhook batch
		// says whether there is room to store events (no write per probe).
		var full *webhook.DiskFullError
		if err = a.receiver.WriteErr(r.Context()); errors.As(err, &full) {
			message = "the database has no room to store webhook events (disk full since " + full.Since.UTC().Format(time.RFC3339) + ")"
		}
	}
	if err != nil {
		now := time.Now().UnixNano()
		last := a.readyLoggedAt.Load()
		if (last == 0 || now-last >= int64(readyLogEvery)) && a.readyLoggedAt.CompareAndSwap(last, now) {
			a.logger.WarnContext(r.Context(), "database not ready", "reason", message, "err", setup.RedactDatabaseError(err, a.cfg.Database))
		}
		a.writeError(w, r, apierror.New(apierror.CodeUnavailable, message))
		return
	}
	if a.readyLoggedAt.Swap(0) != 0 {
		a.logger.InfoContext(r.Context(), "database ready again")
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// handleWhoami is POST /api/whoami: it answers {"user_id","account_id","roles":[…],"payload":…|null}. The JSON is
// appended by hand: this route is what a UI extension calls first and what the load
// benchmarks measure, and encoding/json's reflection and its re-validation of the
// payload (already printed by the verifier) were a sixth of the route's CPU time.
func handleWhoami(w http.ResponseWriter, r *http.Request) {
	id, _ := appauth.FromContext(r.Context())
	b := make([]byte, 0, 96+len(id.UserID)+len(id.AccountID)+len(id.Payload)+16*len(id.Roles))
	b = append(b, `{"user_id":`...)
	b = jsjson.AppendString(b, id.UserID)
	b = append(b, `,"account_id":`...)
	b = jsjson.AppendString(b, id.AccountID)
	b = append(b, `,"roles":[`...)
	for i, role := range id.Roles {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsjson.AppendString(b, role)
	}
	b = append(b, `],"payload":`...)
	if id.Payload == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, id.Payload...)
	}
	b = append(b, "}\n"...)
	// Canonical keys, set without canonicalizing them again; one allocation for both values.
	h := w.Header()
	values := [...]string{"application/json", "nosniff"}
	h["Content-Type"] = values[0:1:1]
	h["X-Content-Type-Options"] = values[1:2:2]
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// WriteJSON answers with status and v encoded as JSON (Content-Type
// application/json), as appbackend's own routes answer.
func WriteJSON(w http.ResponseWriter, status int, v any) { apierror.WriteJSON(w, status, v) }

// validRequestID bounds what a caller may pass as X-Request-Id ([A-Za-z0-9._:-],
// 1 to 64 bytes), so that a log line cannot be forged or flooded through it.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// requestIDs makes request ids: a random prefix per process and a counter, unique
// without a call to the random source per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs { return &requestIDs{prefix: randomHex(4)} }

// appendNext appends the next id to b.
func (g *requestIDs) appendNext(b []byte) []byte {
	b = append(b, g.prefix...)
	b = append(b, '-')
	return strconv.AppendUint(b, g.n.Add(1), 36)
}

// requestState is what observe keeps of one request: the status and size written, for
// the access log, and the route matched, for the metrics. It is the ResponseWriter the
// routes get, so that the routers can record their match without a context value.
type requestState struct {
	http.ResponseWriter
	status int
	bytes  int64
	// idHeader backs the X-Request-Id header value and idBytes a generated id's bytes,
	// both allocated with the state.
	idHeader [1]string
	idBytes  [24]byte
	// signedPattern is the signed route's pattern, once dispatched to it; public is
	// set when the request went to the public routes.
	signedPattern string
	public        bool
}

func (s *requestState) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *requestState) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *requestState) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// stateOf finds observe's requestState under w's wrappers; nil if there is none.
func stateOf(w http.ResponseWriter) *requestState {
	for {
		switch v := w.(type) {
		case *requestState:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// markPublic records that a request went to the public routes.
func markPublic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := stateOf(w); st != nil {
			st.public = true
		}
		next.ServeHTTP(w, r)
	})
}

// accessLevel is the level of a request's access-log line: successes are counted in
// the metrics and logged at debug, client errors at info (and at most
// clientErrorLinesPerSecond of them), server errors at warn (at most
// serverErrorLinesPerSecond; their cause is logged as an error where it happened).
func accessLevel(status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelWarn
	case status >= 400:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// clientErrorLinesPerSecond bounds the access-log lines of 4xx answers: a client
// sending bad signatures in a loop must not fill the disk. The next line logged says
// how many were left out.
const clientErrorLinesPerSecond = 20

// serverErrorLinesPerSecond bounds the access-log lines of 5xx answers the same way,
// with a budget of their own so that a flood of 4xx does not hide them: with the disk
// full every webhook is answered 503, and Stripe's retries at thousands a second
// must not become as many lines (on the disk that is full, often).
const serverErrorLinesPerSecond = 20

// lineBudget lets through up to perSecond lines a second and counts the others.
type lineBudget struct {
	perSecond  int64
	second     atomic.Int64
	used       atomic.Int64
	suppressed atomic.Int64
}

// take reports whether a line may be logged now and, if so, how many were left out
// since the last one.
func (l *lineBudget) take(now time.Time) (ok bool, suppressed int64) {
	sec := now.Unix()
	if old := l.second.Load(); old != sec && l.second.CompareAndSwap(old, sec) {
		l.used.Store(0)
	}
	if l.used.Add(1) > l.perSecond {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

// observe gives every request an id, logs it (never a header value such as
// Stripe-Signature or Authorization; successes only at debug), counts it by route and
// status, and turns a handler panic into a 500. It allocates as little as it can:
// it runs for every request.
func (a *App) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.inflight.Add(1)
		defer a.inflight.Add(-1)
		start := time.Now()
		st := &requestState{ResponseWriter: w}
		reqID := r.Header.Get("X-Request-Id")
		if !validRequestID(reqID) {
			// The string shares st's bytes, which nothing writes again: no allocation.
			b := a.requestIDs.appendNext(st.idBytes[:0])
			reqID = unsafe.String(unsafe.SliceData(b), len(b))
		}
		st.idHeader[0] = reqID
		w.Header()["X-Request-Id"] = st.idHeader[:]
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.logger.ErrorContext(r.Context(), "handler panic", "request_id", reqID, "panic", fmt.Sprint(p))
				if st.status == 0 {
					a.writeError(st, r, fmt.Errorf("panic: %v", p))
				}
			}
			took := time.Since(start)
			route := a.routeLabel(r, st)
			a.metrics.ObserveRequest(route, st.status, took)
			if a.tel != nil {
				telemetry.Route(r.Context(), r.Method, route, reqID)
			}
			a.logRequest(r, st, reqID, took)
		}()
		next.ServeHTTP(st, r)
	})
}

// clientHost is the address part of RemoteAddr (the client's, behind trusted proxies).
func clientHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// errorLines is the line budget of an access-log level: 4xx (info) and 5xx (warn)
// lines each have one; successes (debug) none.
func (a *App) errorLines(level slog.Level) *lineBudget {
	switch level {
	case slog.LevelInfo:
		return &a.clientErrorLines
	case slog.LevelWarn:
		return &a.serverErrorLines
	}
	return nil
}

func (a *App) logRequest(r *http.Request, st *requestState, reqID string, took time.Duration) {
	level := accessLevel(st.status)
	ctx := r.Context()
	if !a.logger.Enabled(ctx, level) {
		return
	}
	var suppressed int64
	if budget := a.errorLines(level); budget != nil {
		var ok bool
		if ok, suppressed = budget.take(time.Now()); !ok {
			return
		}
	}
	attrs := [...]slog.Attr{
		slog.String("request_id", reqID),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("client", clientHost(r.RemoteAddr)),
		slog.Int("status", st.status),
		slog.Int64("bytes", st.bytes),
		slog.Duration("duration", took),
		slog.Int64("suppressed_before", suppressed),
	}
	n := len(attrs)
	if suppressed == 0 {
		n--
	}
	a.logger.LogAttrs(ctx, level, "request", attrs[:n]...)
}
