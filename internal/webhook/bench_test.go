package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// BenchmarkAck measures durable acknowledgements: 64 concurrent senders post signed
// events over loopback HTTP into a SQLite file, with group commit and with one
// transaction per event (the baseline, same code path), each with the events being
// processed meanwhile and with acknowledgements alone.
//
//	go test -run '^$' -bench BenchmarkAck -benchtime 5000x ./internal/webhook/
func BenchmarkAck(b *testing.B) {
	for _, commit := range []struct {
		name     string
		perEvent bool
	}{{"group", false}, {"per-event", true}} {
		for _, load := range []struct {
			name         string
			noProcessing bool
		}{{"with-processing", false}, {"acks-only", true}} {
			b.Run(commit.name+"/"+load.name, func(b *testing.B) {
				bundle := setup(b, testConfig{perEventCommit: commit.perEvent, noProcessing: load.noProcessing})
				bundle.proc.On("*", countEffect)
				elapsed, latencies := postConcurrently(b, bundle, 64)
				st := bundle.rcv.Stats()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "acks/s")
				b.ReportMetric(float64(latencies[len(latencies)*50/100].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(st.Received)/float64(max(st.Batches, 1)), "events/commit")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// postConcurrently posts b.N distinct signed events from the given number of senders
// and returns the elapsed time and the sorted latencies.
func postConcurrently(b *testing.B, bundle *testBundle, senders int) (time.Duration, []time.Duration) {
	now := time.Now()
	type signed struct {
		body   []byte
		header string
	}
	requests := make([]signed, b.N)
	for i := range requests {
		body := webhooktest.Event("customer.created", webhooktest.Account("acct_bench"))
		requests[i] = signed{body, webhooktest.Sign(body, secret, now)}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders}}
	latencies := make([]time.Duration, b.N)
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, bundle.url, bytes.NewReader(requests[i].body))
				req.Header.Set("Stripe-Signature", requests[i].header)
				sent := time.Now()
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				latencies[i] = time.Since(sent)
				if res.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		require.FailNow(b, fmt.Sprintf("%d of %d requests not acknowledged", failed.Load(), b.N))
	}
	slices.Sort(latencies)
	return elapsed, latencies
}

// BenchmarkDrain measures how fast stored events are processed: b.N events are
// acknowledged through HTTP with processing stopped, then the workers drain them, with
// a handler that does nothing and with one that writes a row per event in the
// processing transaction. With 64 senders
// the events arrive in group commits, so in jobs of many events; with one sender
// every event has its own job, the worst case (a backlog of a quiet period).
//
//	go test -run '^$' -bench BenchmarkDrain -benchtime 5000x ./internal/webhook/
func BenchmarkDrain(b *testing.B) {
	noop := func(context.Context, store.Event) error { return nil }
	for _, tc := range []struct {
		name    string
		senders int
		handler events.Handler
	}{
		{"64-senders/noop-handler", 64, noop},
		{"1-sender/noop-handler", 1, noop},
		{"64-senders/handler-writes-a-row", 64, countEffect},
		{"1-sender/handler-writes-a-row", 1, countEffect},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bundle := setup(b, testConfig{noProcessing: true})
			bundle.proc.On("*", tc.handler)
			postConcurrently(b, bundle, tc.senders)
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			require.NoError(b, bundle.rt.Start(ctx))
			for {
				counts, err := bundle.st.CountEvents(ctx)
				require.NoError(b, err)
				if counts[store.EventProcessed] == b.N {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
