package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/metrics"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

// countingSource counts the full reads of the installations table, and may hold each
// one until release is closed.
type countingSource struct {
	fakeSource
	mu      sync.Mutex
	reads   atomic.Int64
	release chan struct{}
}

func (c *countingSource) ListInstallations(ctx context.Context, f store.InstallationFilter) ([]store.Installation, error) {
	c.reads.Add(1)
	if c.release != nil {
		<-c.release
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fakeSource.ListInstallations(ctx, f)
}

func (c *countingSource) set(ins ...store.Installation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.installations = ins
}

// TestScrapesShareOneRead: scrapes within GaugeMaxAge are served from one read of the
// store, concurrent ones included; InvalidateGauges makes the next scrape current.
func TestScrapesShareOneRead(t *testing.T) {
	t.Parallel()
	src := &countingSource{release: make(chan struct{})}
	src.set(store.Installation{AccountID: "acct_1", Livemode: true, Status: store.Installed})
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Config{Registry: reg, Store: src, GaugeMaxAge: time.Hour})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 { // the first scrapes wait for the one read
		wg.Go(func() { testutil.CollectAndCount(reg, "appbackend_installations") })
	}
	for src.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(src.release)
	wg.Wait()
	for range 100 {
		testutil.CollectAndCount(reg, "appbackend_installations")
	}
	n := src.reads.Load()
	require.EqualValues(t, 1, n, "108 scrapes read the installations %d times, want once", n)

	src.set(
		store.Installation{AccountID: "acct_1", Livemode: true, Status: store.Installed},
		store.Installation{AccountID: "acct_2", Livemode: true, Status: store.Installed},
	)
	m.InvalidateGauges()
	got := seriesValue(t, reg, "appbackend_installations", "mode", "live", "state", "installed")
	require.EqualValues(t, 2, got, "after InvalidateGauges: %v live installations, want 2", got)
	n = src.reads.Load()
	require.EqualValues(t, 2, n, "reads after an invalidation = %d, want 2", n)
}

// TestStaleGaugesAreRefreshedInTheBackground: past GaugeMaxAge a scrape answers at
// once with what it has and a read brings the gauges up to date for the next ones.
func TestStaleGaugesAreRefreshedInTheBackground(t *testing.T) {
	t.Parallel()
	src := &countingSource{}
	src.set(store.Installation{AccountID: "acct_1", Status: store.Installed})
	reg := prometheus.NewRegistry()
	_, err := metrics.New(metrics.Config{Registry: reg, Store: src, GaugeMaxAge: time.Nanosecond})
	require.NoError(t, err)
	got := seriesValue(t, reg, "appbackend_installations", "mode", "test", "state", "installed")
	require.EqualValues(t, 1, got, "first scrape: %v, want 1", got)
	src.set()
	deadline := time.Now().Add(10 * time.Second)
	for seriesValue(t, reg, "appbackend_installations", "mode", "test", "state", "installed") != 0 {
		require.False(t, time.Now().After(deadline), "the stale gauge was never refreshed")
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkScrape measures GET /metrics over a SQLite store of 100,000 installations:
// "cached" is every scrape, "read" is one that reads the table (the first, or one
// after an invalidation; before the snapshot, every scrape).
func BenchmarkScrape(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	require.NoError(b, err)
	defer st.Close()
	tx, err := st.DB().BeginTx(ctx, nil)
	require.NoError(b, err)
	now := time.Now().UTC().Truncate(time.Second)
	for i := range n {
		in := store.Installation{AccountID: fmt.Sprintf("acct_%07d", i), Livemode: i%3 != 0,
			Status: store.Installed, InstalledAt: now, UpdatedAt: now, LastEventID: fmt.Sprintf("evt_%07d", i)}
		if i%10 == 0 {
			in.Status, in.UninstalledAt = store.Uninstalled, now
		}
		require.NoError(b, st.PutInstallationTx(ctx, tx, in))
	}
	require.NoError(b, tx.Commit())
	m, err := metrics.New(metrics.Config{Store: st})
	require.NoError(b, err)
	h := m.Handler()
	scrape := func(b *testing.B) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if w.Code != http.StatusOK {
			require.FailNow(b, fmt.Sprintf("GET /metrics = %d", w.Code))
		}
	}
	scrape(b)
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			scrape(b)
		}
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			m.InvalidateGauges()
			scrape(b)
		}
	})
}
