// Package server is the App's HTTP front, what every request and every listener share
// whatever the route: the request observer (request ids, the access log and its line
// budgets, the per-request metrics and span, panic recovery, the count of requests in
// flight), the limits of every http.Server, the graceful shutdown, and readiness
// (GET /readyz). The App builds one Front and one Readiness in New and mounts them in
// its handler; its routes stay the App's.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/metrics"
	"github.com/appbackend/appbackend/internal/telemetry"
)

// Front observes the App's requests and shuts its listeners down. Build it with
// NewFront.
type Front struct {
	baseservice.Base

	// requestIDs names requests that come without an X-Request-Id.
	requestIDs *requestIDs
	// clientErrorLines bounds the access-log lines of 4xx answers.
	clientErrorLines lineBudget
	// serverErrorLines bounds those of 5xx answers.
	serverErrorLines lineBudget
	// inflight counts requests being handled, for the shutdown.
	inflight atomic.Int64
}

// NewFront returns the front of an App whose logger is arch's.
func NewFront(arch *baseservice.Archetype) *Front {
	f := &Front{
		requestIDs:       newRequestIDs(),
		clientErrorLines: lineBudget{perSecond: clientErrorLinesPerSecond},
		serverErrorLines: lineBudget{perSecond: serverErrorLinesPerSecond},
	}
	f.Init(arch)
	return f
}

// InFlight is how many requests are being handled.
func (f *Front) InFlight() int64 { return f.inflight.Load() }

// HTTPServer is the http.Server of every listener, with the same limits.
func (f *Front) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(f.Logger().Handler(), slog.LevelWarn),
	}
}

// handlerGrace is how long handlers get to return once their connections were closed
// (a handler blocked on the connection returns at once).
const handlerGrace = 2 * time.Second

// Shutdown stops accepting requests and waits up to timeout for those in flight.
// Connections still busy then are closed: what they carried was not acknowledged, so
// no accepted event is lost, and shutdown goes on.
func (f *Front) Shutdown(ctx context.Context, srv *http.Server, timeout time.Duration) {
	httpCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(httpCtx); err == nil {
		return
	}
	f.Logger().Warn("shutdown: requests still in flight after the HTTP budget; closing their connections",
		"timeout", timeout, "in_flight", f.inflight.Load())
	_ = srv.Close()
	// Handlers of closed connections still run until they notice; the queue they may
	// hand events to stops only after them.
	deadline := time.Now().Add(handlerGrace)
	for f.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// Routes is what Observe needs besides the root handler: the App's routers, to label
// a request by its route, the metrics it counts requests in, the tracing that names
// their span (nil when traces are off), and the App's error answer, for a panic.
type Routes struct {
	Signed, Public *http.ServeMux
	Metrics        *metrics.Metrics
	Tracing        *telemetry.Tracing
	WriteError     func(w http.ResponseWriter, r *http.Request, err error)
}

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

func newRequestIDs() *requestIDs {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return &requestIDs{prefix: hex.EncodeToString(b)}
}

// appendNext appends the next id to b.
func (g *requestIDs) appendNext(b []byte) []byte {
	b = append(b, g.prefix...)
	b = append(b, '-')
	return strconv.AppendUint(b, g.n.Add(1), 36)
}

// RequestState is what Observe keeps of one request: the status and size written, for
// the access log, and the route matched, for the metrics. It is the ResponseWriter the
// routes get, so that the routers can record their match without a context value.
type RequestState struct {
	http.ResponseWriter
	status int
	bytes  int64
	// idHeader backs the X-Request-Id header value and idBytes a generated id's bytes,
	// both allocated with the state.
	idHeader [1]string
	idBytes  [24]byte
	// SignedPattern is the signed route's pattern, once dispatched to it (the router
	// sets it, for the metrics, which would otherwise look it up again); public is set
	// when the request went to the public routes.
	SignedPattern string
	public        bool
}

func (s *RequestState) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *RequestState) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *RequestState) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// StateOf finds Observe's RequestState under w's wrappers; nil if there is none. (It
// is inlined where it is called: the signed routes' dispatch records its match with it.)
func StateOf(w http.ResponseWriter) *RequestState {
	for {
		switch v := w.(type) {
		case *RequestState:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// MarkPublic records that a request went to the public routes.
func MarkPublic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := StateOf(w); st != nil {
			st.public = true
		}
		next.ServeHTTP(w, r)
	})
}

// routeLabel names a request's route for the metrics by its pattern, never by its raw
// path, so that the label set stays small. The routers recorded their match in st
// (or in r.Pattern); only a refused or public request is looked up again.
func routeLabel(r *http.Request, st *RequestState, signed, public *http.ServeMux) string {
	var pattern string
	switch {
	case st.SignedPattern != "":
		pattern = st.SignedPattern
	case st.public:
		_, pattern = public.Handler(r)
	case r.Pattern == "/api/":
		_, pattern = signed.Handler(r) // refused before dispatch (signature, CORS)
	default:
		pattern = r.Pattern
	}
	if pattern == "" || pattern == "/" || pattern == "/api/" {
		return "unmatched"
	}
	return pattern
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

// Observe gives every request an id, logs it (never a header value such as
// Stripe-Signature or Authorization; successes only at debug), counts it by route and
// status, and turns a handler panic into a 500. It allocates as little as it can:
// it runs for every request. (Durations are measured on the real clock, not the
// archetype's: they are the request's own.)
func (f *Front) Observe(root http.Handler, routes Routes) http.Handler {
	next := root
	logger := f.Logger()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.inflight.Add(1)
		defer f.inflight.Add(-1)
		start := time.Now()
		st := &RequestState{ResponseWriter: w}
		reqID := r.Header.Get("X-Request-Id")
		if !validRequestID(reqID) {
			// The string shares st's bytes, which nothing writes again: no allocation.
			b := f.requestIDs.appendNext(st.idBytes[:0])
			reqID = unsafe.String(unsafe.SliceData(b), len(b))
		}
		st.idHeader[0] = reqID
		w.Header()["X-Request-Id"] = st.idHeader[:]
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.ErrorContext(r.Context(), "handler panic", "request_id", reqID, "panic", fmt.Sprint(p))
				if st.status == 0 {
					routes.WriteError(st, r, fmt.Errorf("panic: %v", p))
				}
			}
			took := time.Since(start)
			route := routeLabel(r, st, routes.Signed, routes.Public)
			routes.Metrics.ObserveRequest(route, st.status, took)
			if routes.Tracing != nil {
				telemetry.Route(r.Context(), r.Method, route, reqID)
			}
			f.logRequest(logger, r, st, reqID, took)
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
func (f *Front) errorLines(level slog.Level) *lineBudget {
	switch level {
	case slog.LevelInfo:
		return &f.clientErrorLines
	case slog.LevelWarn:
		return &f.serverErrorLines
	}
	return nil
}

func (f *Front) logRequest(logger *slog.Logger, r *http.Request, st *RequestState, reqID string, took time.Duration) {
	level := accessLevel(st.status)
	ctx := r.Context()
	if !logger.Enabled(ctx, level) {
		return
	}
	var suppressed int64
	if budget := f.errorLines(level); budget != nil {
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
	logger.LogAttrs(ctx, level, "request", attrs[:n]...)
}
