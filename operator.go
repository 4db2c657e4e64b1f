package appbackend

import (
	"context"
	"fmt"
	"os"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/alert"
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
	if err != nil || a.cfg.AlertURL == "" {
		return err
	}
	// The notifier of APPBACKEND_ALERT_URL; without it a.alerts is nil, whose methods
	// do nothing.
	host, _ := os.Hostname()
	n, err := alert.New(alert.Config{URL: a.cfg.AlertURL, Secret: a.cfg.AlertSecret, Source: host, Archetype: a.archetype})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	a.alerts = n
	return nil
}

// openAdmin builds the admin dashboard when APPBACKEND_ADMIN_TOKEN is set. It needs the
// event processor, so it comes after startEvents.
func (a *App) openAdmin(ctx context.Context) error {
	if a.cfg.AdminToken == "" {
		return nil
	}
	// River's own UI, on the same client and behind the same sign-in.
	riverUI, err := admin.StartRiverUI(ctx, a.rt.River(), a.logger)
	if err != nil {
		return err
	}
	cfg := admin.Config{
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
		Jobs:        a.rt.River(),
		Schedules:   a.scheduleRows,
		Archetype:   a.archetype,
		BackupEvery: a.cfg.BackupEvery,
	}
	if a.cfg.BackupDir != "" {
		cfg.LastBackup = admin.LastBackup(a.db.Setting)
	}
	a.admin, err = admin.New(cfg)
	return err
}

// observeEventOutcome counts processed and dead events, and alerts on a dead one.
func (a *App) observeEventOutcome(ev store.Event, out store.EventOutcome) {
	a.metrics.ObserveEventOutcome(ev, out)
	if out.Status == store.EventDead {
		a.alerts.EventDead(ev)
	}
}
