package appbackend

import (
	"context"
	"fmt"
	"net/http"

	"riverqueue.com/riverui"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/metrics"
	"github.com/appbackend/appbackend/internal/store"
)

// openMetrics builds the Prometheus metrics (the collectors read the store at scrape
// time), their operational readings and the alerts.
func (a *App) openMetrics() error {
	m, err := metrics.New(metrics.Config{Store: a.db, Archetype: a.archetype})
	if err != nil {
		return err
	}
	a.metrics = m
	err = m.AddOperationalReadings(metrics.OperationalConfig{Store: a.db,
		Backups: a.cfg.BackupDir != "", BackupEvery: a.cfg.BackupEvery, Domains: a.cfg.Domains})
	if err != nil {
		return err
	}
	return a.openAlerts()
}

// separateMetrics reports whether /metrics has a listener of its own.
func (a *App) separateMetrics() bool {
	return a.cfg.MetricsAddr != "" || a.cfg.MetricsListener != nil
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

// observeEventOutcome counts processed and dead events, and alerts on a dead one.
func (a *App) observeEventOutcome(ev store.Event, out store.EventOutcome) {
	a.metrics.ObserveEventOutcome(ev, out)
	if out.Status == store.EventDead {
		a.alerts.EventDead(ev)
	}
}
