package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/appbackend/appbackend/internal/store"
)

// Source is what the scrape-time gauges read; a [store.Store] is one. Its listings
// use the store's read pool, so a scrape does not wait on webhook commits.
type Source interface {
	ListInstallations(ctx context.Context, f store.InstallationFilter) ([]store.Installation, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	CountEvents(ctx context.Context) (map[store.EventStatus]int, error)
}

// DefaultGaugeMaxAge is how old the database gauges may be before a scrape starts
// reading them again.
const DefaultGaugeMaxAge = 15 * time.Second

// storeCollector serves the database gauges from a snapshot, so that a scrape costs
// the same at a hundred installations as at a hundred thousand. A snapshot older than
// maxAge is served while one refresh reads the database in the background; only the
// first scrape, and the first after [Metrics.InvalidateGauges], wait for a read.
// At most one read runs at a time, whatever the number of concurrent scrapes.
type storeCollector struct {
	src     Source
	timeout time.Duration
	maxAge  time.Duration
	now     func() time.Time

	installations *prometheus.Desc
	events        *prometheus.Desc
	lastEvent     *prometheus.Desc

	mu         sync.Mutex
	snap       *snapshot
	gen        uint64        // bumped by invalidate; a snapshot of an older gen is not served as is
	refreshing chan struct{} // non-nil while a read runs; closed when it is done
}

// snapshot is one read of the database gauges; a part whose read failed keeps its
// error and is reported as invalid.
type snapshot struct {
	at  time.Time
	gen uint64

	installations    map[[2]string]int
	installationsErr error
	events           map[store.EventStatus]int
	eventsErr        error
	lastEvent        map[string]time.Time
	lastEventErr     error
}

func newStoreCollector(src Source, timeout, maxAge time.Duration, now func() time.Time) *storeCollector {
	return &storeCollector{
		src:     src,
		timeout: timeout,
		maxAge:  maxAge,
		now:     now,
		installations: prometheus.NewDesc(Namespace+"_installations",
			"Accounts by mode (live, test) and state (installed, uninstalled), read from the database up to 15 s (by default) before the scrape.",
			[]string{"mode", "state"}, nil),
		events: prometheus.NewDesc(Namespace+"_events",
			"Inbox events by status (pending, processed, failed, dead), read from the database up to 15 s (by default) before the scrape.",
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

// invalidate makes the next scrape wait for a read that started after this call.
func (c *storeCollector) invalidate() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// startRefreshLocked starts a read unless one runs, and returns its done channel.
func (c *storeCollector) startRefreshLocked() chan struct{} {
	if c.refreshing != nil {
		return c.refreshing
	}
	done := make(chan struct{})
	c.refreshing = done
	gen := c.gen
	go func() {
		s := c.read(gen)
		c.mu.Lock()
		c.snap = s
		c.refreshing = nil
		c.mu.Unlock()
		close(done)
	}()
	return done
}

// current returns the snapshot to serve, waiting (up to the scrape timeout) only when
// there is none yet or it predates an invalidation.
func (c *storeCollector) current() *snapshot {
	deadline := time.NewTimer(c.timeout)
	defer deadline.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	want := c.gen
	for c.snap == nil || c.snap.gen < want {
		done := c.startRefreshLocked()
		c.mu.Unlock()
		select {
		case <-done:
		case <-deadline.C:
			c.mu.Lock()
			return c.snap
		}
		c.mu.Lock()
	}
	if c.now().Sub(c.snap.at) > c.maxAge {
		c.startRefreshLocked()
	}
	return c.snap
}

func (c *storeCollector) read(gen uint64) *snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	s := &snapshot{at: c.now(), gen: gen}
	if ins, err := c.src.ListInstallations(ctx, store.InstallationFilter{}); err != nil {
		s.installationsErr = err
	} else {
		s.installations = make(map[[2]string]int)
		for _, in := range ins {
			s.installations[[2]string{modeName(in.Livemode), string(in.Status)}]++
		}
	}
	s.events, s.eventsErr = c.src.CountEvents(ctx)
	s.lastEvent = make(map[string]time.Time)
	for _, live := range []bool{true, false} {
		newest, err := c.src.ListEvents(ctx, store.EventFilter{Livemode: &live, Limit: 1})
		switch {
		case err != nil:
			s.lastEventErr = err
		case len(newest) == 1:
			s.lastEvent[modeName(live)] = newest[0].ReceivedAt
		}
	}
	return s
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.current()
	if s == nil {
		err := errors.New("metrics: the database gauges were not read within the scrape timeout")
		ch <- prometheus.NewInvalidMetric(c.installations, err)
		return
	}
	if s.installationsErr != nil {
		ch <- prometheus.NewInvalidMetric(c.installations, s.installationsErr)
	} else {
		for _, mode := range []string{"live", "test"} {
			for _, state := range []store.InstallStatus{store.Installed, store.Uninstalled} {
				n := s.installations[[2]string{mode, string(state)}]
				ch <- prometheus.MustNewConstMetric(c.installations, prometheus.GaugeValue, float64(n), mode, string(state))
			}
		}
	}
	if s.eventsErr != nil {
		ch <- prometheus.NewInvalidMetric(c.events, s.eventsErr)
	} else {
		for _, st := range []store.EventStatus{store.EventPending, store.EventProcessed, store.EventFailed, store.EventDead} {
			ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(s.events[st]), string(st))
		}
	}
	if s.lastEventErr != nil {
		ch <- prometheus.NewInvalidMetric(c.lastEvent, s.lastEventErr)
	}
	for _, mode := range []string{"live", "test"} {
		if at, ok := s.lastEvent[mode]; ok {
			ch <- prometheus.MustNewConstMetric(c.lastEvent, prometheus.GaugeValue, float64(at.UnixNano())/1e9, mode)
		}
	}
}
