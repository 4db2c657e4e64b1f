package replicas

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// BenchmarkAck measures durable webhook acknowledgements per second by the method of
// webhook.BenchmarkAck — 64 concurrent senders post signed events over loopback HTTP,
// each answered once its event is committed, while the events are processed (a
// handler writes one row per event in the processing transaction) — against replica
// processes: one and two on PostgreSQL (the senders alternate between the two, as a
// load balancer would), and one on SQLite on the same harness for comparison.
//
//	go test -run '^$' -bench BenchmarkAck -benchtime 5000x ./internal/replicas/
func BenchmarkAck(b *testing.B) {
	for _, tc := range []struct {
		name     string
		database func(b *testing.B) string
		replicas int
	}{
		{"sqlite/1-replica", func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "appbackend.db") }, 1},
		{"postgres/1-replica", func(b *testing.B) string { return pgtest.NewDatabase(b) }, 1},
		{"postgres/2-replicas", func(b *testing.B) string { return pgtest.NewDatabase(b) }, 2},
	} {
		b.Run(tc.name, func(b *testing.B) {
			database := tc.database(b)
			var replicas []*e2etest.Server
			for i := range tc.replicas {
				replicas = append(replicas, startReplica(b, fmt.Sprintf("r%d", i+1), database, e2etest.TestServer, nil))
			}
			elapsed, latencies := postConcurrently(b, replicas, 64)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "acks/s")
			b.ReportMetric(float64(latencies[len(latencies)*50/100].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// postConcurrently posts b.N distinct signed events from the given number of senders,
// event i to replica i mod len(replicas), and returns the elapsed time and the sorted
// latencies. Every event must be acknowledged.
func postConcurrently(b *testing.B, replicas []*e2etest.Server, senders int) (time.Duration, []time.Duration) {
	events := make([]e2etest.SignedEvent, b.N)
	for i := range events {
		events[i] = e2etest.NewSignedEvent("customer.created", webhooktest.Account("acct_bench"))
	}
	latencies := make([]time.Duration, b.N)
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				sent := time.Now()
				status, _ := post(ctx, replicas[i%len(replicas)], events[i])
				latencies[i] = time.Since(sent)
				if status != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		require.FailNow(b, fmt.Sprintf("%d of %d events not acknowledged", n, b.N))
	}
	slices.Sort(latencies)
	return elapsed, latencies
}
