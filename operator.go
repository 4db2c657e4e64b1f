package appbackend

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/metrics"
	"github.com/appbackend/appbackend/internal/store"
)

// openMetrics builds the Prometheus metrics; the collectors read the store at scrape time.
func (a *App) openMetrics() error {
	m, err := metrics.New(metrics.Config{Store: a.db, Archetype: a.archetype})
	if err != nil {
		return err
	}
	a.metrics = m
	if err := a.addOperationalReadings(); err != nil {
		return err
	}
	return a.openAlerts()
}

// separateMetrics reports whether /metrics has a listener of its own.
func (a *App) separateMetrics() bool {
	return a.cfg.MetricsAddr != "" || a.cfg.MetricsListener != nil
}

// listenMetrics opens the metrics listener, if configured.
func (a *App) listenMetrics() (net.Listener, error) {
	if ln := a.cfg.MetricsListener; ln != nil {
		return ln, nil
	}
	if a.cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (APPBACKEND_METRICS_ADDR): %w", a.cfg.MetricsAddr, err)
	}
	return ln, nil
}

// metricsServer serves GET /metrics alone, for the metrics listener.
func (a *App) metricsServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, apierror.New(apierror.CodeNotFound, "this listener serves GET /metrics only"))
	})
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
}

// openAdmin builds the admin dashboard when APPBACKEND_ADMIN_TOKEN is set. It needs the
// event processor, so it comes after startEvents.
func (a *App) openAdmin(ctx context.Context) error {
	if a.cfg.AdminToken == "" {
		return nil
	}
	// River's own UI, on the same client and behind the same sign-in.
	riverUI, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(a.rt.River(), nil),
		Logger:    a.logger,
		Prefix:    "/admin/river",
	})
	if err != nil {
		return fmt.Errorf("river UI: %w", err)
	}
	if err := riverUI.Start(ctx); err != nil {
		return fmt.Errorf("river UI: %w", err)
	}
	h, err := admin.New(admin.Config{
		RiverUI: riverUI,
		Token:   a.cfg.AdminToken,
		Store:   a.db,
		Replay:  a.processor.Replay,
		Operations: admin.Operations{
			ReplayMatching: func(ctx context.Context, f store.EventFilter) (int, error) {
				return a.processor.ReplayMatching(ctx, f, nil)
			},
			Pause: a.processor.Pause, Resume: a.processor.Resume, PauseState: a.processor.PauseState,
		},
		Jobs:      a.rt.River(),
		Schedules: a.scheduleRows,
		Archetype: a.archetype,

		LastBackup:  a.lastBackup(),
		BackupEvery: a.cfg.BackupEvery,
	})
	if err != nil {
		return err
	}
	a.admin = h
	return nil
}

// handleAdmin serves /admin/ when it is enabled.
func (a *App) handleAdmin(w http.ResponseWriter, r *http.Request) {
	if a.admin == nil {
		a.writeError(w, r, apierror.New(apierror.CodeNotFound, "the admin dashboard is disabled: set APPBACKEND_ADMIN_TOKEN"))
		return
	}
	a.admin.ServeHTTP(w, r)
}

// observeWebhookEvent counts every event a webhook commit stored or recognised.
func (a *App) observeWebhookEvent(ev store.Event, duplicate bool) {
	if duplicate {
		a.metrics.EventDuplicate(ev.Type)
	} else {
		a.metrics.EventReceived(ev.Type)
	}
}

// observeEventOutcome counts processed and dead events; the lag runs from the
// acknowledgement to the commit of the processing.
func (a *App) observeEventOutcome(ev store.Event, out store.EventOutcome) {
	if strings.HasPrefix(ev.Type, "account.application.") {
		// The installation gauges are served from a snapshot; this one is out of date.
		a.metrics.InvalidateGauges()
	}
	switch out.Status {
	case store.EventProcessed:
		a.metrics.EventProcessed(ev.Type, time.Since(ev.ReceivedAt))
	case store.EventDead:
		a.metrics.EventDead(ev.Type)
		a.alerts.EventDead(ev)
	}
}

// riverMetrics adds the job-run metrics to River's configuration.
func (a *App) riverMetrics(c *river.Config) {
	c.Middleware = append(c.Middleware, a.metrics.JobMiddleware())
}
