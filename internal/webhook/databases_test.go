package webhook_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
	"github.com/appbackend/appbackend/internal/webhook"
	"github.com/stretchr/testify/require"
)

// databases opens a fresh, migrated store of each kind, for the tests whose behaviour
// depends on what the database accepts.
var databases = dbtest.Stores

// inbox is a receiver on st that stores and enqueues events (nothing processes them),
// served on a loopback port.
type inbox struct {
	st  store.Store
	rcv *webhook.Receiver
	b   *testBundle // only url is set, for post and postOK
}

func newInbox(t *testing.T, st store.Store, cfg webhook.Config) *inbox {
	t.Helper()
	rt := runtime.New(runtime.Config{RetryPolicy: fastRetry{}})
	rt.Open(st)
	proc, err := events.New(rt, events.Config{})
	require.NoError(t, err)
	require.NoError(t, rt.Build())
	verifier, err := appauth.NewVerifier([]string{secret})
	require.NoError(t, err)
	rcv, err := webhook.NewReceiver(st, verifier, proc, cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(rcv)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, rcv.Close(ctx), "close receiver")
	})
	return &inbox{st: st, rcv: rcv, b: &testBundle{url: srv.URL}}
}

func webhookConfig() webhook.Config { return webhook.Config{} }

func listEvents(t *testing.T, st store.Store) []store.Event {
	t.Helper()
	list, err := st.ListEvents(t.Context(), store.EventFilter{})
	require.NoError(t, err)
	return list
}
