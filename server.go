package appbackend

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/metrics"
)

// Handler returns the App's whole HTTP handler: signed /api routes, health checks and
// the other public routes, behind request ids, access logs and panic recovery.
// It is valid once Run has opened the database (tests may call it after open).
func (a *App) Handler() http.Handler {
	root := http.NewServeMux()
	root.Handle("/api/", a.signedRoutes())
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	root.HandleFunc("GET /readyz", a.handleReady)
	if !a.separateMetrics() {
		root.Handle("GET /metrics", a.metrics.Handler())
	}
	root.Handle("/", a.public)
	a.public.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, apierror.New(apierror.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path))
	})
	return a.observe(root)
}

// signedRoutes wraps the app's signed routes: CORS first (a preflight carries no
// signature), then the signature check, then the route itself.
func (a *App) signedRoutes() http.Handler {
	dispatch := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := a.signed.Handler(r); pattern == "" {
			// ServeMux's own 404/405 are plain text; the contract wants JSON.
			a.writeError(w, r, routeMiss(a.signed, r))
			return
		}
		// ServeHTTP, not the handler found above: it also sets r.PathValue.
		a.signed.ServeHTTP(w, r)
	})
	return a.verifier.Protect(dispatch, appauth.WithMaxBody(a.cfg.MaxBody), appauth.WithLogger(a.logger),
		appauth.WithFailureHook(func(_ *http.Request, err error) {
			a.metrics.SignatureFailure("api", metrics.SignatureFailureReason(err))
		}))
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

func (a *App) handleReady(w http.ResponseWriter, r *http.Request) {
	if err := a.db.Ping(r.Context()); err != nil {
		now := time.Now().UnixNano()
		last := a.readyLoggedAt.Load()
		if (last == 0 || now-last >= int64(readyLogEvery)) && a.readyLoggedAt.CompareAndSwap(last, now) {
			a.logger.WarnContext(r.Context(), "database not ready", "err", RedactDatabaseError(err, a.cfg.Database))
		}
		a.writeError(w, r, apierror.New(apierror.CodeUnavailable, "database unreachable"))
		return
	}
	if a.readyLoggedAt.Swap(0) != 0 {
		a.logger.InfoContext(r.Context(), "database ready again")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// whoamiResponse is the body of POST /api/whoami.
type whoamiResponse struct {
	UserID    string          `json:"user_id"`
	AccountID string          `json:"account_id"`
	Roles     []string        `json:"roles"`
	Payload   json.RawMessage `json:"payload"`
}

func handleWhoami(w http.ResponseWriter, r *http.Request) {
	id, _ := appauth.FromContext(r.Context())
	resp := whoamiResponse{UserID: id.UserID, AccountID: id.AccountID, Roles: id.Roles, Payload: id.Payload}
	if resp.Roles == nil {
		resp.Roles = []string{}
	}
	if resp.Payload == nil {
		resp.Payload = json.RawMessage("null")
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// requestIDPattern bounds what a caller may pass as X-Request-Id, so that a log line
// cannot be forged or flooded through it.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// statusRecorder remembers the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe gives every request an id, logs one line per request (never a header value
// such as Stripe-Signature or Authorization), counts it by route and status, and turns
// a handler panic into a 500.
func (a *App) observe(root *http.ServeMux) http.Handler {
	next := http.Handler(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.inflight.Add(1)
		defer a.inflight.Add(-1)
		start := time.Now()
		reqID := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(reqID) {
			reqID = randomHex(8)
		}
		w.Header().Set("X-Request-Id", reqID)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.logger.ErrorContext(r.Context(), "handler panic", "request_id", reqID, "panic", fmt.Sprint(p))
				if rec.status == 0 {
					a.writeError(rec, r, fmt.Errorf("panic: %v", p))
				}
			}
			a.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", reqID),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", time.Since(start)),
			)
			a.metrics.ObserveRequest(a.routeLabel(root, r), rec.status, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}
