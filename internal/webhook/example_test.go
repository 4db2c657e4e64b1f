package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/appbackend/appbackend/internal/webhook"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

// Example wires the inbox the way `appbackend serve` does: the store, the installation
// lifecycle, the event processor and the receiver; then shuts them down in order.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "appbackend-example")
	defer os.RemoveAll(dir)

	st, err := sqlite.Open(ctx, filepath.Join(dir, "appbackend.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	lifecycle := install.New(st, install.Config{})
	lifecycle.OnInstall(func(ctx context.Context, in store.Installation) error {
		fmt.Println("installed:", in.AccountID, "live:", in.Livemode)
		return nil
	})
	rt := runtime.New(runtime.Config{})
	rt.Open(st)
	if err := lifecycle.AddWorkers(rt); err != nil {
		log.Fatal(err)
	}
	proc, err := events.New(rt, events.Config{BuiltIn: []events.BuiltIn{lifecycle.HandleEvent}})
	if err != nil {
		log.Fatal(err)
	}
	if err := rt.Build(); err != nil {
		log.Fatal(err)
	}
	proc.On("customer.created", func(ctx context.Context, ev store.Event) error {
		tx, _ := store.TxFrom(ctx) // write through tx: it commits with the event's status
		_ = tx
		fmt.Println("customer created in", ev.AccountID)
		return nil
	})

	verifier, err := appauth.NewVerifier([]string{"whsec_example"})
	if err != nil {
		log.Fatal(err)
	}
	receiver, err := webhook.NewReceiver(st, verifier, proc, webhook.Config{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/stripe", receiver)
	srv := httptest.NewServer(mux)
	if err := rt.Start(ctx); err != nil {
		log.Fatal(err)
	}

	for _, body := range [][]byte{
		webhooktest.Event("account.application.authorized", webhooktest.Account("acct_123"), webhooktest.Created(time.Now().Add(-time.Second))),
		webhooktest.Event("customer.created", webhooktest.Account("acct_123")),
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/stripe", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", webhooktest.Sign(body, "whsec_example", time.Now()))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		res.Body.Close()
		for !allProcessed(ctx, st) { // so that the output comes in order
			time.Sleep(10 * time.Millisecond)
		}
	}

	// Shutdown: the HTTP server first (requests in flight get their answers), then the
	// receiver (drains its queue), then processing, then the database.
	srv.Close()
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = receiver.Close(stopCtx)
	_ = rt.Stop(stopCtx)

	// Output:
	// installed: acct_123 live: false
	// customer created in acct_123
}

func allProcessed(ctx context.Context, st store.Store) bool {
	counts, err := st.CountEvents(ctx)
	if err != nil {
		return false
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	return counts[store.EventProcessed] == total
}
