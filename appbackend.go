package appbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/alert"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/apptest"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/devmode"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/gateway"
	"github.com/appbackend/appbackend/internal/hook"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/metrics"
	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/server"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/telemetry"
	"github.com/appbackend/appbackend/internal/webhook"
	"github.com/appbackend/appbackend/stripeclient"
)

// App is one appbackend: its configuration, its routes and, once running, its database
// and HTTP server. Build it with New, register routes and handlers, then call Run.
type App struct {
	cfg    Config
	logger *slog.Logger
	// archetype is the logger and clock every internal service shares (baseservice).
	archetype *baseservice.Archetype

	mu      sync.Mutex
	started bool
	// signed holds the app's signed routes; every pattern is under /api/.
	signed *http.ServeMux
	// public holds unsigned routes (health, webhooks, admin).
	public *http.ServeMux

	// The registries, from New: Run's flows read them, nothing is replayed.
	handlers    *events.Handlers
	onInstall   hook.Hook[store.Installation]
	onUninstall hook.Hook[store.Installation]
	onCleanup   hook.Hook[cleanupTarget]
	onReauth    hook.Hook[store.Installation]

	db        store.Store
	verifier  *appauth.Verifier
	lifecycle *install.Lifecycle
	// rt owns the River client (its configuration, workers, start, stop and
	// liveness), from New; Run opens it on the database and every flow registers on it.
	rt        *runtime.Runtime
	processor *events.Processor
	sched     scheduling
	receiver  *webhook.Receiver
	stripe    *stripeclient.Clients
	oauth     *oauth.Manager // OAuth tokens of apps installed with stripe_api_access_type "oauth"
	links     *install.Links // GET /install and its callback; built with the lifecycle
	// restrictedKeys serves RestrictedKeyRoute; built with oauth.
	restrictedKeys *oauth.RestrictedKeys
	metrics        *metrics.Metrics
	alerts         *alert.Notifier // APPBACKEND_ALERT_URL; nil without it
	admin          *admin.Handler  // nil until Run, and without APPBACKEND_ADMIN_TOKEN
	// gateway proxies to and calls the app's own server (Config.Gateway); nil when off.
	gateway *gateway.Service
	// tel exports traces (Config.Tracing); nil when off, and then nothing is traced.
	tel *telemetry.Tracing
	// devSecrets lists what --dev generated, for the start-up banner.
	devSecrets DevSecrets
	// front observes every request (request ids, access log, metrics, panics) and
	// shuts the listeners down; ready is GET /readyz.
	front *server.Front
	ready *server.Readiness
}

// DevSecrets are the secrets --dev generated or loaded, printed at start.
type DevSecrets struct {
	AppSecret     string
	WebhookSecret string
	AdminToken    string
	// UpstreamSecret is the gateway's secret, generated only with an upstream set.
	UpstreamSecret string
}

// New validates cfg and returns an App ready for routes. Nothing is opened until Run.
func New(cfg Config) (*App, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = cfg.newLogger(os.Stderr)
	}
	a := &App{
		cfg:       cfg,
		logger:    logger,
		archetype: &baseservice.Archetype{Logger: logger, Now: time.Now},
		signed:    http.NewServeMux(),
		public:    http.NewServeMux(),

		handlers: &events.Handlers{},
		rt:       newRuntime(cfg, logger),
		sched:    scheduling{set: schedule.NewSet()},
	}
	a.front = server.NewFront(a.archetype)
	// The store and the receiver are opened by Run: the probe reaches them when it runs.
	a.ready = server.NewReadiness(server.ReadyConfig{
		Archetype: a.archetype, Database: cfg.Database, WriteError: a.writeError,
		Ping: func(ctx context.Context) error { return a.db.Ping(ctx) },
		WriteErr: func(ctx context.Context) error {
			if a.receiver == nil {
				return nil
			}
			return a.receiver.WriteErr(ctx)
		},
	})
	a.signed.HandleFunc("POST /api/whoami", handleWhoami)
	a.signed.HandleFunc("GET /api/installation", a.handleInstallation)
	a.signed.HandleFunc("GET /api/jobs/{id}", a.handleJob)
	// The restricted-key service needs the database: a.restrictedKeys exists once Run opened it.
	a.signed.HandleFunc("POST "+RestrictedKeyRoute, func(w http.ResponseWriter, r *http.Request) { a.restrictedKeys.ServeSave(w, r) })
	a.signed.HandleFunc("GET "+RestrictedKeyRoute, func(w http.ResponseWriter, r *http.Request) { a.restrictedKeys.ServeStatus(w, r) })
	a.public.HandleFunc("POST /webhooks/stripe", a.handleWebhook)
	// The dashboard is built by Run; until then, and without a token, a.admin is nil,
	// which answers that it is disabled.
	a.public.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) { a.admin.ServeHTTP(w, r) })
	// The install links need the database: a.links exists once Run opened it.
	a.public.HandleFunc("GET /install", func(w http.ResponseWriter, r *http.Request) { a.links.ServeInstall(w, r) })
	a.public.HandleFunc("GET /install/callback", func(w http.ResponseWriter, r *http.Request) { a.links.ServeCallback(w, r) })
	// Last of the unsigned routes: what none of them matches gets the contract's JSON
	// 404. Registered here, not at Run, so that an app's HandleUnsigned pattern that
	// conflicts with it panics at registration.
	a.public.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, apierror.New(apierror.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path))
	})
	if err := a.newGateway(); err != nil {
		return nil, err
	}
	return a, nil
}

// newRuntime configures the one River client from cfg.
func newRuntime(cfg Config, logger *slog.Logger) *runtime.Runtime {
	kind, _, _ := setup.ParseDatabase(cfg.Database)
	return runtime.New(runtime.Config{
		Archetype:        &baseservice.Archetype{Logger: logger},
		MaxAttempts:      cfg.EventMaxAttempts,
		RetryPolicy:      cfg.EventRetryPolicy,
		RescueStuckAfter: cfg.JobRescueAfter,
		// River's finished jobs go with the processed events they record.
		JobRetention: cfg.ProcessedRetention,
		// One process owns a SQLite file, so whatever is running at start was cut off
		// by a crash: run it now rather than after the rescue delay.
		ResumeOnStart: kind == "sqlite",
	})
}

// Logger is the App's structured logger.
func (a *App) Logger() *slog.Logger { return a.logger }

// Handle registers a signed route. The pattern is a net/http ServeMux pattern under
// /api/ ("POST /api/do_secret_stuff", "GET /api/items/{id}"). The handler runs only for
// requests whose Stripe-Signature verifies; IdentityFrom gives it the signed identity.
// CORS preflights and headers are answered for it.
func (a *App) Handle(pattern string, h http.Handler) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		panic("appbackend: Handle called after Run")
	}
	path := pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		path = strings.TrimSpace(pattern[i+1:])
	}
	if !strings.HasPrefix(path, "/api/") {
		panic(fmt.Sprintf("appbackend: signed route %q must be under /api/", pattern))
	}
	a.signed.Handle(pattern, h)
}

// HandleFunc registers a signed route handled by f; see Handle.
func (a *App) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	a.Handle(pattern, http.HandlerFunc(f))
}

// IdentityFrom returns the verified identity of the signed request whose context is ctx.
func IdentityFrom(ctx context.Context) (*appauth.Identity, bool) {
	return appauth.FromContext(ctx)
}

// Run opens the database, serves HTTP until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return errors.New("appbackend: Run called twice")
	}
	a.started = true
	a.mu.Unlock()
	if started, ok := apptest.WorkersOnlyFrom(ctx); ok {
		return a.runWorkers(ctx, started) // the test kit's NewWorker: no listener
	}

	if a.cfg.Tracing != nil {
		tel, err := telemetry.Start(ctx, a.cfg.Tracing, a.logger)
		if err != nil {
			return fmt.Errorf("%w: traces: %v", ErrConfig, err)
		}
		a.tel = tel
		a.logger.InfoContext(ctx, "exporting traces", tel.Describe()...)
		// Last, once every job stopped: their spans are exported too.
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := tel.Shutdown(sctx); err != nil {
				a.logger.Warn("traces not all exported at shutdown", "err", err)
			}
		}()
	}

	if err := a.open(ctx); err != nil {
		return err
	}
	defer a.db.Close()
	// Listen before anything starts working, so that a taken port fails fast.
	ln := a.cfg.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", a.cfg.Addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
		}
	}
	metricsLn, err := metrics.Listen(a.cfg.MetricsAddr, a.cfg.MetricsListener)
	if err != nil {
		ln.Close()
		return err
	}
	closeListeners := func() {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
	}
	if err := a.openMetrics(); err != nil {
		closeListeners()
		return err
	}
	if err := a.startEvents(ctx); err != nil {
		closeListeners()
		return errors.Join(err, a.stopEvents(ctx))
	}
	if err := a.openAdmin(ctx); err != nil {
		closeListeners()
		return errors.Join(err, a.stopEvents(ctx))
	}
	if a.gateway != nil {
		if err := a.gateway.Start(); err != nil {
			closeListeners()
			return errors.Join(err, a.stopEvents(ctx))
		}
		defer a.gateway.Stop()
	}

	handler := a.handler()
	prod, err := a.startProduction(ctx, ln, handler)
	if err != nil {
		closeListeners()
		return errors.Join(err, a.stopEvents(ctx))
	}
	go a.oauth.RefreshLoop(ctx, time.Minute, 10*time.Minute)
	srv := a.front.HTTPServer(prod.plainHandler(handler))
	serveErr := make(chan error, 3)
	go func() { serveErr <- srv.Serve(ln) }()
	listening := slog.LevelInfo
	if a.cfg.Dev {
		listening = slog.LevelDebug // the banner below gives the address
	}
	a.logger.Log(ctx, listening, "listening", "addr", "http://"+ln.Addr().String())
	prod.serve(serveErr)
	var metricsSrv *http.Server
	if metricsLn != nil {
		metricsSrv = a.metrics.Server(a.writeError)
		go func() {
			if err := metricsSrv.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("metrics listener: %w", err)
			}
		}()
		a.logger.Info("metrics listening", "addr", "http://"+metricsLn.Addr().String()+"/metrics")
	}
	if a.cfg.Ready != nil {
		a.cfg.Ready(ln.Addr())
	}
	if a.cfg.Dev {
		out := a.cfg.DevOut
		if out == nil {
			out = os.Stderr
		}
		devmode.Print(out, devmode.Banner{Addr: ln.Addr(), Secrets: devmode.Secrets(a.devSecrets), Admin: a.admin != nil, CLI: devmode.CLICommand()})
	}

	var runErr error
	select {
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.logger.Info("shutting down", "http_timeout", a.cfg.ShutdownTimeout, "events_timeout", a.cfg.EventShutdownTimeout)
	// HTTP first, so no new event is accepted; then the inbox drains what was accepted
	// and running jobs finish (or are cancelled, to be retried after a restart). Each
	// stage has its own budget, so a stalled client cannot eat the queue's.
	if metricsSrv != nil {
		_ = metricsSrv.Close() // a scrape cut short is repeated by the next
	}
	prod.shutdownHTTP(ctx, srv)
	eventsCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.EventShutdownTimeout)
	defer cancel()
	if err := a.stopEvents(eventsCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("stop event processing: %w", err))
	}
	prod.stop()
	return runErr
}

// DevSecrets returns what --dev generated or reloaded; empty outside --dev or before Run
// opened the database.
func (a *App) DevSecrets() DevSecrets { return a.devSecrets }

// open opens the database and builds what depends on the secrets it may hold.
func (a *App) open(ctx context.Context) error {
	// Each migration applied is reported at debug; the start says how many in one line.
	migrations := &migrationCount{h: runtime.Quieter(a.logger.Handler()), n: new(atomic.Int64)}
	db, err := setup.OpenStore(ctx, a.cfg.Database, setup.StoreOptions{
		Logger:           slog.New(migrations),
		PoolSize:         a.cfg.DBPoolSize,
		StatementTimeout: a.cfg.DBStatementTimeout,
		Migrations:       a.cfg.Migrations,
	})
	if err != nil {
		return err
	}
	a.db = db
	a.logger.InfoContext(ctx, "database ready", "database", setup.RedactDatabase(a.cfg.Database),
		"migrations_applied", migrations.n.Load())
	a.rt.Open(db)
	if a.cfg.Dev {
		if err := a.loadDevSecrets(ctx); err != nil {
			db.Close()
			return err
		}
		// The stored token is checked like a configured one: the database file may
		// not be the one --dev wrote.
		if err := checkAdminToken(a.cfg.AdminToken); err != nil {
			db.Close()
			return err
		}
	}
	a.verifier, err = appauth.NewVerifier(a.cfg.AppSecrets)
	if err != nil {
		db.Close()
		return fmt.Errorf("%w: STRIPE_APP_SECRETS: %v", ErrConfig, err)
	}
	if err := a.openStripe(ctx); err != nil {
		db.Close()
		return err
	}
	if err := a.openOAuth(); err != nil {
		db.Close()
		return err
	}
	if err := a.openGateway(); err != nil {
		db.Close()
		return err
	}
	return nil
}

// loadDevSecrets fills every missing secret from the database, generating and storing
// it on first use so that a developer's UI extension keeps working across restarts.
func (a *App) loadDevSecrets(ctx context.Context) error {
	get := func(key, prefix string) (string, error) {
		return a.settingOrCreate(ctx, key, func() string { return prefix + randomHex(24) })
	}
	if len(a.cfg.AppSecrets) == 0 {
		s, err := get("dev.app_secret", "absec_dev_")
		if err != nil {
			return err
		}
		a.cfg.AppSecrets = []string{s}
		a.devSecrets.AppSecret = s
	}
	if len(a.cfg.WebhookSecrets) == 0 {
		s, err := get("dev.webhook_secret", "whsec_dev_")
		if err != nil {
			return err
		}
		a.cfg.WebhookSecrets = []string{s}
		a.devSecrets.WebhookSecret = s
	}
	if a.cfg.AdminToken == "" {
		s, err := get("dev.admin_token", "")
		if err != nil {
			return err
		}
		a.cfg.AdminToken = s
		a.devSecrets.AdminToken = s
	}
	if a.cfg.Gateway.Upstream != "" && a.cfg.Gateway.Secret == "" {
		s, err := a.settingOrCreate(ctx, "dev.upstream_secret", gateway.NewSecret)
		if err != nil {
			return err
		}
		a.cfg.Gateway.Secret = s
		a.devSecrets.UpstreamSecret = s
	}
	return nil
}

// settingOrCreate returns the setting key, storing a new value first if it is unset.
// Replicas starting together on one database all end up with the value stored first.
func (a *App) settingOrCreate(ctx context.Context, key string, create func() string) (string, error) {
	v, ok, err := a.db.Setting(ctx, key)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	if ok {
		return v, nil
	}
	v, err = a.db.PutSettingIfAbsent(ctx, key, create())
	if err != nil {
		return "", fmt.Errorf("store %s: %w", key, err)
	}
	return v, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b)
}

// writeError answers with the contract's JSON error body.
func (a *App) writeError(w http.ResponseWriter, r *http.Request, err error) {
	a.WriteError(w, r, err)
}

// migrationCount counts the migrations the store reports applied — appbackend's and
// the app's ("applied migration") and River's ("…: Applied migration") — and passes
// every record on to h.
type migrationCount struct {
	h slog.Handler
	n *atomic.Int64
}

func (m *migrationCount) Enabled(ctx context.Context, l slog.Level) bool {
	return l == slog.LevelInfo || m.h.Enabled(ctx, l) // migrations are reported at info
}

func (m *migrationCount) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && strings.HasSuffix(strings.ToLower(r.Message), "applied migration") {
		m.n.Add(1)
	}
	if !m.h.Enabled(ctx, r.Level) {
		return nil
	}
	return m.h.Handle(ctx, r)
}

func (m *migrationCount) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &migrationCount{h: m.h.WithAttrs(attrs), n: m.n}
}

func (m *migrationCount) WithGroup(name string) slog.Handler {
	return &migrationCount{h: m.h.WithGroup(name), n: m.n}
}
