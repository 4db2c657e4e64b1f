package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/store"
)

// OperationalConfig is what the operational readings read: the App's database and the
// settings that say which readings apply.
type OperationalConfig struct {
	// Store is the App's database: the pause is River's queue's, the latest backup and
	// the certificates are in its settings.
	Store store.Store
	// Backups says scheduled backups are on (APPBACKEND_BACKUP_DIR), every BackupEvery
	// (default backup.DefaultEvery).
	Backups     bool
	BackupEvery time.Duration
	// Domains are APPBACKEND_DOMAIN: each one's certificate expiry is read from Store
	// when it keeps certificates (a certstore.DB).
	Domains []string
}

// AddOperationalReadings exports, read at scrape time, what the alerting rules of
// deploy/prometheus-rules.yml need beyond the counters: whether event processing is
// paused, when the latest scheduled backup was written and how often one should be,
// and when each APPBACKEND_DOMAIN's certificate expires.
func (m *Metrics) AddOperationalReadings(c OperationalConfig) error {
	readings := []Reading{{
		Name: "events_paused",
		Help: "1 while event processing (and gateway delivery) is paused with `appbackend events pause`, else 0.",
		Read: func(ctx context.Context) (map[string]float64, error) {
			_, paused, err := events.PauseState(ctx, c.Store)
			if paused {
				return map[string]float64{"": 1}, err
			}
			return map[string]float64{"": 0}, err
		},
	}}
	if c.Backups {
		every := c.BackupEvery
		if every == 0 {
			every = backup.DefaultEvery
		}
		readings = append(readings, Reading{
			Name: "backup_last_success_timestamp_seconds",
			Help: "When the latest scheduled backup that passed its check was started (Unix time); absent until the first one.",
			Read: func(ctx context.Context) (map[string]float64, error) {
				info, ok, err := backup.Last(ctx, c.Store.Setting)
				if err != nil || !ok {
					return nil, err
				}
				return map[string]float64{"": Unix(info.StartedAt)}, nil
			},
		}, Reading{
			Name: "backup_interval_seconds",
			Help: "APPBACKEND_BACKUP_EVERY: how often a scheduled backup is written.",
			Read: func(context.Context) (map[string]float64, error) {
				return map[string]float64{"": every.Seconds()}, nil
			},
		})
	}
	if db, ok := c.Store.(certstore.DB); ok && len(c.Domains) > 0 {
		readings = append(readings, Reading{
			Name: "certificate_expiry_timestamp_seconds", Label: "domain",
			Help: "When the stored certificate of each APPBACKEND_DOMAIN expires (Unix time); 0 while none is stored.",
			Read: func(ctx context.Context) (map[string]float64, error) {
				expiry, err := certstore.Expiry(ctx, db, c.Domains)
				if err != nil {
					return nil, err
				}
				out := make(map[string]float64, len(expiry))
				for d, at := range expiry {
					out[d] = 0
					if !at.IsZero() {
						out[d] = Unix(at)
					}
				}
				return out, nil
			},
		})
	}
	for _, r := range readings {
		if err := m.AddReading(r); err != nil {
			return err
		}
	}
	return nil
}

// ObserveWebhookEvent counts every event a webhook commit stored or recognised
// (webhook.Config.ObserveEvent).
func (m *Metrics) ObserveWebhookEvent(ev store.Event, duplicate bool) {
	if duplicate {
		m.EventDuplicate(ev.Type)
	} else {
		m.EventReceived(ev.Type)
	}
}

// ObserveEventOutcome counts processed and dead events; the lag runs from the
// acknowledgement to the commit of the processing.
func (m *Metrics) ObserveEventOutcome(ev store.Event, out store.EventOutcome) {
	if strings.HasPrefix(ev.Type, "account.application.") {
		// The installation gauges are served from a snapshot; this one is out of date.
		m.InvalidateGauges()
	}
	switch out.Status {
	case store.EventProcessed:
		m.EventProcessed(ev.Type, time.Since(ev.ReceivedAt))
	case store.EventDead:
		m.EventDead(ev.Type)
	}
}

// ConfigureRiver adds the job-run metrics to River's configuration
// (runtime.ConfigureRiver).
func (m *Metrics) ConfigureRiver(c *river.Config) {
	c.Middleware = append(c.Middleware, m.JobMiddleware())
}

// Listen opens the listener of APPBACKEND_METRICS_ADDR: ln when one is given (tests),
// else addr; nil, nil when /metrics has no listener of its own.
func Listen(addr string, ln net.Listener) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (APPBACKEND_METRICS_ADDR): %w", addr, err)
	}
	return ln, nil
}

// Server serves GET /metrics alone, for the metrics listener; writeError answers
// anything else with the contract's JSON 404.
func (m *Metrics) Server(writeError func(w http.ResponseWriter, r *http.Request, err error)) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, apierror.New(apierror.CodeNotFound, "this listener serves GET /metrics only"))
	})
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger().Handler(), slog.LevelWarn),
	}
}
