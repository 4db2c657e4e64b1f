package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/appbackend/appbackend/store"
	"github.com/appbackend/appbackend/webhook/webhooktest"
)

// BenchmarkDrain measures how fast stored events are processed: b.N events are
// acknowledged with processing stopped, then the worker drains them.
func BenchmarkDrain(b *testing.B) {
	bundle := setup(b, testConfig{noProcessing: true})
	bundle.proc.On("*", countEffect)
	ctx := context.Background()
	tx, err := bundle.st.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	for i := range b.N {
		ev := store.Event{ID: webhooktest.NewID("evt_"), Type: "customer.created", Raw: webhooktest.Event("customer.created"), Created: time.Now()}
		if _, err := bundle.st.InsertEventTx(ctx, tx, &ev); err != nil {
			b.Fatal(err)
		}
		ids[i] = ev.ID
	}
	if err := bundle.proc.EnqueueTx(ctx, tx, ids...); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if err := bundle.proc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for {
		counts, err := bundle.st.CountEvents(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if counts[store.EventProcessed] == b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
