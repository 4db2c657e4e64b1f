package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/appbackend/appbackend/store"
)

// Source is what the scrape-time gauges read; a [store.Store] is one. Its listings
// use the store's read pool, so a scrape does not wait on webhook commits.
type Source interface {
	ListInstallations(ctx context.Context, f store.InstallationFilter) ([]store.Installation, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	CountEvents(ctx context.Context) (map[store.EventStatus]int, error)
}

// storeCollector reads the database at scrape time, so the gauges are never stale and
// cost nothing between scrapes.
type storeCollector struct {
	src     Source
	timeout time.Duration

	installations *prometheus.Desc
	events        *prometheus.Desc
	lastEvent     *prometheus.Desc
}

func newStoreCollector(src Source, timeout time.Duration) *storeCollector {
	return &storeCollector{
		src:     src,
		timeout: timeout,
		installations: prometheus.NewDesc(Namespace+"_installations",
			"Accounts by mode (live, test) and state (installed, uninstalled), read from the database at scrape time.",
			[]string{"mode", "state"}, nil),
		events: prometheus.NewDesc(Namespace+"_events",
			"Inbox events by status (pending, processed, failed, dead), read from the database at scrape time.",
			[]string{"status"}, nil),
		lastEvent: prometheus.NewDesc(Namespace+"_last_event_received_timestamp_seconds",
			"When the newest inbox event of a mode was received (Unix time); absent while none was.",
			[]string{"mode"}, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.installations
	ch <- c.events
	ch <- c.lastEvent
}

func modeName(livemode bool) string {
	if livemode {
		return "live"
	}
	return "test"
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	if ins, err := c.src.ListInstallations(ctx, store.InstallationFilter{}); err != nil {
		ch <- prometheus.NewInvalidMetric(c.installations, err)
	} else {
		counts := make(map[[2]string]int)
		for _, in := range ins {
			counts[[2]string{modeName(in.Livemode), string(in.Status)}]++
		}
		for _, mode := range []string{"live", "test"} {
			for _, state := range []store.InstallStatus{store.Installed, store.Uninstalled} {
				n := counts[[2]string{mode, string(state)}]
				ch <- prometheus.MustNewConstMetric(c.installations, prometheus.GaugeValue, float64(n), mode, string(state))
			}
		}
	}

	if byStatus, err := c.src.CountEvents(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.events, err)
	} else {
		for _, s := range []store.EventStatus{store.EventPending, store.EventProcessed, store.EventFailed, store.EventDead} {
			ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(byStatus[s]), string(s))
		}
	}

	for _, live := range []bool{true, false} {
		newest, err := c.src.ListEvents(ctx, store.EventFilter{Livemode: &live, Limit: 1})
		switch {
		case err != nil:
			ch <- prometheus.NewInvalidMetric(c.lastEvent, err)
		case len(newest) == 1:
			at := float64(newest[0].ReceivedAt.UnixNano()) / 1e9
			ch <- prometheus.MustNewConstMetric(c.lastEvent, prometheus.GaugeValue, at, modeName(live))
		}
	}
}
