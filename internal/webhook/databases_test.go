package webhook_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/appbackend/appbackend/internal/webhook"
)

// databases opens a fresh, migrated store of each kind, for the tests whose behaviour
// depends on what the database accepts.
var databases = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "appbackend.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	},
	"postgres": func(t *testing.T) store.Store {
		st, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	},
}

// inbox is a receiver on st that stores and enqueues events (nothing processes them),
// served on a loopback port.
type inbox struct {
	st  store.Store
	rcv *webhook.Receiver
	b   *testBundle // only url is set, for post and postOK
}

func newInbox(t *testing.T, st store.Store, cfg webhook.Config) *inbox {
	t.Helper()
	rt := runtime.New(st, nil)
	proc, err := events.New(rt, events.Config{RetryPolicy: fastRetry{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Build(); err != nil {
		t.Fatal(err)
	}
	verifier, err := appauth.NewVerifier([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := webhook.NewReceiver(st, verifier, proc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rcv)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rcv.Close(ctx); err != nil {
			t.Errorf("close receiver: %v", err)
		}
	})
	return &inbox{st: st, rcv: rcv, b: &testBundle{url: srv.URL}}
}

func webhookConfig() webhook.Config { return webhook.Config{} }

func listEvents(t *testing.T, st store.Store) []store.Event {
	t.Helper()
	list, err := st.ListEvents(t.Context(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return list
}
