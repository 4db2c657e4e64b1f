package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/telemetry"
	"github.com/appbackend/appbackend/stripeclient"
)

// ServiceConfig is what the gateway service knows from the App's configuration, before
// anything is opened.
type ServiceConfig struct {
	// Upstream is the base URL of the app's own server (APPBACKEND_UPSTREAM).
	Upstream string
	// Timeout bounds each call to the upstream (default DefaultTimeout).
	Timeout time.Duration
	// EventsPath is the upstream path events are POSTed to.
	EventsPath string
	// APIAddr is the upstream API's listen address (APPBACKEND_UPSTREAM_API_ADDR);
	// APIListener, when set, is served instead.
	APIAddr     string
	APIListener net.Listener
	// MaxBody bounds a request body of the upstream API.
	MaxBody int64
	// Schedules are the config file's [[schedule]]s, each a call on the upstream.
	Schedules []Schedule
	// WriteError answers a request with the contract's JSON error (the App's, which
	// logs 5xx answers); nil writes it unlogged.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
}

// Schedule is a [[schedule]] of the config file: at each slot of Every, Call ("POST
// /jobs/refresh") is made on the upstream, once, or once per installed account and
// mode when PerAccount.
type Schedule struct {
	Name       string
	Every      string
	PerAccount bool
	Call       string
}

// Deps is what the service uses once the App's database is open. The functions are
// called late (at a request, an event, a job), so that they may reach what the App
// builds after Open: the River client, the installation lifecycle.
type Deps struct {
	// Secret is the upstream secret (--dev may have generated it at open).
	Secret string
	// River is the App's River client, which runs the upstream's jobs.
	River func() *river.Client[*sql.Tx]
	// Clients are the App's Stripe clients; the Stripe proxy needs a key for the mode.
	Clients *stripeclient.Clients
	// Stripe is the App's Stripe(ctx): the client for the account and mode bound to
	// ctx, with the credentials that account installed the app with.
	Stripe func(ctx context.Context) (*stripeclient.Client, error)
	// InstallationAfter is the account's installation status once ev is processed
	// (ok false when the account never installed the app in ev's mode).
	InstallationAfter func(ctx context.Context, ev *store.Event) (status store.InstallStatus, ok bool, err error)
	// Tracing traces the upstream API's requests; nil when traces are off.
	Tracing *telemetry.Tracing
}

// Service is the gateway mode of an App: the proxy of unhandled signed routes to the
// upstream (ServeHTTP), the delivery of events (DeliverEvent), the config file's
// schedules and the upstream's jobs, and the upstream API the upstream calls back
// (Start, Handler). Build it with NewService, then Open it once the secrets are known.
type Service struct {
	baseservice.Base

	arch *baseservice.Archetype
	cfg  ServiceConfig
	deps Deps
	gw   *Gateway

	mu     sync.Mutex
	server *http.Server
}

// NewService returns the gateway service of cfg, ready for RegisterSchedules; it calls
// nothing until Open.
func NewService(arch *baseservice.Archetype, cfg ServiceConfig) *Service {
	if cfg.WriteError == nil {
		cfg.WriteError = func(w http.ResponseWriter, r *http.Request, err error) { apierror.Write(w, r, nil, err) }
	}
	s := &Service{arch: arch, cfg: cfg}
	s.Init(arch)
	return s
}

// Open builds the client of the upstream with deps.Secret. It fails on a secret that
// is not a Standard Webhooks secret, or an upstream that is not an http(s) URL.
func (s *Service) Open(deps Deps) error {
	gw, err := New(s.arch, Config{Upstream: s.cfg.Upstream, Secret: deps.Secret, Timeout: s.cfg.Timeout, WriteError: s.cfg.WriteError})
	if err != nil {
		return err
	}
	s.deps, s.gw = deps, gw
	return nil
}

// ServeHTTP proxies a verified request that no signed route of the App handles to the
// upstream (see Gateway.ServeHTTP).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.gw.ServeHTTP(w, r) }

// Start listens on the upstream API's address and serves Handler until Stop. A taken
// address fails at once.
func (s *Service) Start() error {
	ln := s.cfg.APIListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.APIAddr); err != nil {
			return fmt.Errorf("listen on %s (APPBACKEND_UPSTREAM_API_ADDR): %w", s.cfg.APIAddr, err)
		}
	}
	api := s.Handler()
	if s.deps.Tracing != nil {
		api = s.deps.Tracing.Handler(api)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	s.mu.Lock()
	s.server = srv
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.Logger().Error("upstream API listener", "err", err)
		}
	}()
	s.Logger().Info("upstream API listening", "addr", "http://"+ln.Addr().String())
	return nil
}

// Stop shuts the upstream API down, giving its requests in flight five seconds. It may
// be called without Start, and more than once.
func (s *Service) Stop() {
	s.mu.Lock()
	srv := s.server
	s.server = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
