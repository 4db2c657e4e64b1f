package appbackend

import (
	"context"
	"fmt"
	"os"

	"github.com/appbackend/appbackend/internal/alert"
	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/metrics"
)

// addOperationalReadings exports, read at scrape time, what the alerting rules of
// deploy/prometheus-rules.yml need beyond the counters: whether event processing is
// paused, when the latest scheduled backup was written and how often one should be,
// and when each APPBACKEND_DOMAIN's certificate expires.
func (a *App) addOperationalReadings() error {
	readings := []metrics.Reading{{
		Name: "events_paused",
		Help: "1 while event processing (and gateway delivery) is paused with `appbackend events pause`, else 0.",
		Read: func(ctx context.Context) (map[string]float64, error) {
			_, paused, err := events.PauseState(ctx, a.db)
			if paused {
				return map[string]float64{"": 1}, err
			}
			return map[string]float64{"": 0}, err
		},
	}}
	if a.cfg.BackupDir != "" {
		every := a.cfg.BackupEvery
		if every == 0 {
			every = DefaultBackupEvery
		}
		readings = append(readings, metrics.Reading{
			Name: "backup_last_success_timestamp_seconds",
			Help: "When the latest scheduled backup that passed its check was started (Unix time); absent until the first one.",
			Read: func(ctx context.Context) (map[string]float64, error) {
				info, ok, err := backup.Last(ctx, a.db.Setting)
				if err != nil || !ok {
					return nil, err
				}
				return map[string]float64{"": metrics.Unix(info.StartedAt)}, nil
			},
		}, metrics.Reading{
			Name: "backup_interval_seconds",
			Help: "APPBACKEND_BACKUP_EVERY: how often a scheduled backup is written.",
			Read: func(context.Context) (map[string]float64, error) {
				return map[string]float64{"": every.Seconds()}, nil
			},
		})
	}
	if db, ok := a.db.(certstore.DB); ok && len(a.cfg.Domains) > 0 {
		readings = append(readings, metrics.Reading{
			Name: "certificate_expiry_timestamp_seconds", Label: "domain",
			Help: "When the stored certificate of each APPBACKEND_DOMAIN expires (Unix time); 0 while none is stored.",
			Read: func(ctx context.Context) (map[string]float64, error) {
				expiry, err := CertificateExpiry(ctx, db, a.cfg.Domains)
				if err != nil {
					return nil, err
				}
				out := make(map[string]float64, len(expiry))
				for d, at := range expiry {
					out[d] = 0
					if !at.IsZero() {
						out[d] = metrics.Unix(at)
					}
				}
				return out, nil
			},
		})
	}
	for _, r := range readings {
		if err := a.metrics.AddReading(r); err != nil {
			return err
		}
	}
	return nil
}

// openAlerts builds the notifier of APPBACKEND_ALERT_URL (nil without it: its
// methods then do nothing).
func (a *App) openAlerts() error {
	if a.cfg.AlertURL == "" {
		return nil
	}
	host, _ := os.Hostname()
	n, err := alert.New(alert.Config{URL: a.cfg.AlertURL, Secret: a.cfg.AlertSecret, Source: host, Archetype: a.archetype})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	a.alerts = n
	return nil
}
