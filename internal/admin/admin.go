package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/store"
)

// Store is what the dashboard reads; a [store.Store] is one. Every method reads
// through the store's read pool.
type Store interface {
	ListInstallations(ctx context.Context, f store.InstallationFilter) ([]store.Installation, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	Event(ctx context.Context, id string) (store.Event, error)
	CountEvents(ctx context.Context) (map[store.EventStatus]int, error)
	CountMatchingEvents(ctx context.Context, f store.EventFilter) (int, error)
}

// JobLister lists River jobs; *river.Client[*sql.Tx] (events.Processor.River()) is one.
type JobLister interface {
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// ScheduleRow is one schedule as the jobs page shows it.
type ScheduleRow struct {
	Name      string    // the schedule's name
	Spec      string    // when it runs: a cron expression or an interval
	Scope     string    // "global", or "per account" for schedules that follow installations
	Accounts  int       // accounts it runs for (per-account schedules)
	LastRunAt time.Time // zero if it never ran
	NextRunAt time.Time // zero if not planned
	LastError string    // the error of the latest run; empty after a success
}

// DefaultSessionTTL is how long a login lasts.
const DefaultSessionTTL = 12 * time.Hour

// Config configures the admin handler.
type Config struct {
	// Token is APPBACKEND_ADMIN_TOKEN; required.
	Token string
	// Store is the database the pages read; required.
	Store Store
	// Replay re-enqueues an event (events.Processor.Replay); nil hides the replay
	// buttons and makes the replay routes answer 503. An error wrapping
	// store.ErrNotFound answers 404.
	Replay func(ctx context.Context, eventID string) error
	// Operations replays events in bulk and pauses processing.
	Operations Operations
	// Jobs lists River's jobs; nil shows the jobs section as unavailable.
	Jobs JobLister
	// RiverUI, when set, is River's own UI, served under /admin/river/ behind the same
	// sign-in and cross-origin protection (riverui.NewHandler with Prefix "/admin/river").
	RiverUI http.Handler
	// Schedules lists the schedules; nil shows "no schedules".
	Schedules func(ctx context.Context) ([]ScheduleRow, error)
	// LastBackup, when set, says when the latest scheduled backup was written and
	// where (ok false: none yet); the pages' footer shows it, stale after
	// BackupEvery twice.
	LastBackup  func(ctx context.Context) (at time.Time, file string, ok bool, err error)
	BackupEvery time.Duration
	// TrustedOrigins are origins (scheme://host[:port]) allowed to POST besides the
	// request's own host, for a reverse proxy that rewrites Host.
	TrustedOrigins []string
	// SessionTTL is how long a login lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
	// SignInBurst is how many wrong tokens (sign-in form or bearer) a client address
	// may send before it is throttled (default DefaultSignInBurst); it then earns one
	// more try every SignInRefill (default DefaultSignInRefill). A throttled address
	// gets 429 with Retry-After; a valid session cookie still works.
	SignInBurst  int
	SignInRefill time.Duration
	// Archetype is the App's logger, which receives internal errors and failed logins
	// (never a token), and its clock; nil discards the logs and uses the real clock.
	Archetype *baseservice.Archetype
}

// Handler serves /admin/. Build it with [New] and mount it at "/admin/".
type Handler struct {
	baseservice.Base
	cfg      Config
	sessions sessionKey
	throttle *signInThrottle
	failures *failureLog
	pages    *pages
	root     http.Handler
}

// New checks cfg and returns the admin handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Token == "" {
		return nil, errors.New("admin: a token is required (APPBACKEND_ADMIN_TOKEN)")
	}
	if cfg.Store == nil {
		return nil, errors.New("admin: a store is required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SignInBurst <= 0 {
		cfg.SignInBurst = DefaultSignInBurst
	}
	if cfg.SignInRefill <= 0 {
		cfg.SignInRefill = DefaultSignInRefill
	}
	pg, err := loadPages()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, sessions: newSessionKey(cfg.Token), pages: pg,
		throttle: newSignInThrottle(cfg.SignInBurst, cfg.SignInRefill)}
	h.Init(cfg.Archetype)
	h.failures = newFailureLog(h.Logger())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/{$}", h.installationsPage)
	mux.HandleFunc("GET /admin/events", h.eventsPage)
	mux.HandleFunc("GET /admin/events/{id}", h.eventPage)
	mux.HandleFunc("POST /admin/events/{id}/replay", h.replayForm)
	mux.HandleFunc("POST /admin/events/replay", h.bulkReplayForm)
	mux.HandleFunc("POST /admin/events/pause", h.pauseForm(true))
	mux.HandleFunc("POST /admin/events/resume", h.pauseForm(false))
	mux.HandleFunc("GET /admin/jobs", h.jobsPage)
	mux.HandleFunc("GET /admin/login", h.loginPage)
	mux.HandleFunc("POST /admin/logout", h.logout)

	mux.HandleFunc("GET /admin/api/installations", h.apiInstallations)
	mux.HandleFunc("GET /admin/api/events", h.apiEvents)
	mux.HandleFunc("GET /admin/api/events/{id}", h.apiEvent)
	mux.HandleFunc("POST /admin/api/events/{id}/replay", h.apiReplay)
	mux.HandleFunc("POST /admin/api/events/replay", h.apiBulkReplay)
	mux.HandleFunc("POST /admin/api/events/pause", h.apiPause(true))
	mux.HandleFunc("POST /admin/api/events/resume", h.apiPause(false))
	mux.HandleFunc("GET /admin/api/processing", h.apiProcessing)
	mux.HandleFunc("GET /admin/api/jobs", h.apiJobs)
	mux.HandleFunc("GET /admin/api/schedules", h.apiSchedules)
	mux.HandleFunc("GET /admin/api/stats", h.apiStats)

	authed := h.requireAuth(dispatch(mux, h.notFound))
	gate := http.NewServeMux()
	gate.Handle("POST /admin/login", securityHeaders(http.HandlerFunc(h.login)))
	gate.Handle("/admin/", securityHeaders(authed))
	if cfg.RiverUI != nil {
		// River's UI is a single-page app with its own scripts and styles, so it gets
		// a policy that allows this origin's, and no nonce.
		gate.Handle("/admin/river/", riverUIHeaders(h.requireAuth(cfg.RiverUI)))
	}

	cop := http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("admin: trusted origin %q: %w", o, err)
		}
	}
	cop.SetDenyHandler(securityHeaders(http.HandlerFunc(h.crossOriginRefused)))
	h.root = cop.Handler(gate)
	return h, nil
}

// ServeHTTP implements http.Handler. A nil Handler is the dashboard turned off (no
// APPBACKEND_ADMIN_TOKEN): the App mounts it all the same, and every /admin/ path
// answers the contract's JSON 404 saying how to turn it on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h == nil {
		serveDisabled(w, r)
		return
	}
	h.root.ServeHTTP(w, r)
}

// dispatch serves r with mux if a route matches; otherwise miss answers (mux's own
// 404 and 405 are plain text).
func dispatch(mux *http.ServeMux, miss http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			miss(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/admin/api/") }

type nonceKey struct{}

// securityHeaders forbids framing, sniffing, caching and referrers, and allows only
// the inline stylesheet that carries this response's nonce: no script runs on an
// admin page.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		nonce := base64.RawStdEncoding.EncodeToString(b)
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
	})
}

func riverUIHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func nonceOf(r *http.Request) string {
	n, _ := r.Context().Value(nonceKey{}).(string)
	return n
}

func (h *Handler) crossOriginRefused(w http.ResponseWriter, r *http.Request) {
	const msg = "cross-origin request refused"
	if isAPI(r) {
		apierror.Write(w, r, h.Logger(), apierror.New(apierror.CodeForbidden, msg))
		return
	}
	h.renderError(w, r, http.StatusForbidden, "Refused", "This form was sent from another site, so it was refused. Open the dashboard directly and try again.")
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		apierror.Write(w, r, h.Logger(), apierror.New(apierror.CodeNotFound, "no admin route for "+r.Method+" "+r.URL.Path))
		return
	}
	h.renderError(w, r, http.StatusNotFound, "Not found", "There is no admin page here.")
}

// fail answers an error: JSON on the API, an error page otherwise. Errors that are not
// an *apierror.Error are logged and shown without detail.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if isAPI(r) {
		apierror.Write(w, r, h.Logger(), err)
		return
	}
	var e *apierror.Error
	if errors.As(err, &e) {
		h.renderError(w, r, apierror.StatusOf(err), http.StatusText(apierror.StatusOf(err)), e.Message)
		return
	}
	h.Logger().ErrorContext(r.Context(), "admin page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	h.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "The page could not be built; the server log has the details.")
}
