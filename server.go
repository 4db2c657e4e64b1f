package appbackend

import (
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/forwarded"
	"github.com/appbackend/appbackend/internal/jsjson"
	"github.com/appbackend/appbackend/internal/metrics"
	"github.com/appbackend/appbackend/internal/server"
	"github.com/appbackend/appbackend/internal/telemetry"
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
	root.Handle("GET /readyz", a.ready)
	if a.cfg.MetricsAddr == "" && a.cfg.MetricsListener == nil { // else on its own listener
		root.Handle("GET /metrics", a.metrics.Handler())
	}
	root.Handle("/", server.MarkPublic(a.public))
	// Validated in New; the zero value trusts no proxy.
	proxies, _ := forwarded.Parse(a.cfg.TrustedProxies)
	h := a.front.Observe(apiFirst(root, api), server.Routes{Signed: a.signed, Public: a.public, Metrics: a.metrics, Tracing: a.tel, WriteError: a.writeError})
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
			if st := server.StateOf(w); st != nil {
				st.SignedPattern = "/api/ (upstream)"
			}
			a.gateway.ServeHTTP(w, r)
			return
		}
		if pattern == "" {
			// ServeMux's own 404/405 are plain text; the contract wants JSON.
			a.writeError(w, r, routeMiss(a.signed, r))
			return
		}
		if st := server.StateOf(w); st != nil {
			st.SignedPattern = pattern // for the metrics, which would look it up again
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
