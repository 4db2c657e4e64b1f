package metrics_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/metrics"
	"github.com/appbackend/appbackend/internal/store"
)

// The App's event observations are the metrics' own: a webhook's new and duplicate
// events, and the processing's processed and dead outcomes.
func TestObserveEvents(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(metrics.Config{})
	require.NoError(t, err)
	ev := store.Event{ID: "evt_1", Type: "invoice.paid", ReceivedAt: time.Now().Add(-time.Second)}
	m.ObserveWebhookEvent(ev, false)
	m.ObserveWebhookEvent(ev, true)
	m.ObserveEventOutcome(ev, store.EventOutcome{Status: store.EventProcessed})
	m.ObserveEventOutcome(ev, store.EventOutcome{Status: store.EventDead})
	m.ObserveEventOutcome(ev, store.EventOutcome{Status: store.EventFailed}) // retried: not counted
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, name := range []string{"received", "duplicate", "processed", "dead"} {
		require.Contains(t, w.Body.String(), "appbackend_events_"+name+`_total{type="invoice.paid"} 1`+"\n")
	}
}

// The metrics listener serves GET /metrics and answers anything else with the
// contract's JSON 404; without an address or a listener there is none.
func TestMetricsServer(t *testing.T) {
	t.Parallel()
	ln, err := metrics.Listen("", nil)
	require.NoError(t, err)
	require.Nil(t, ln)
	given, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer given.Close()
	ln, err = metrics.Listen("ignored:1", given)
	require.NoError(t, err)
	require.Equal(t, given, ln)

	m, err := metrics.New(metrics.Config{})
	require.NoError(t, err)
	srv := m.Server(func(w http.ResponseWriter, r *http.Request, err error) { apierror.Write(w, r, nil, err) })
	w := httptest.NewRecorder()
	srv.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "appbackend_")
	w = httptest.NewRecorder()
	srv.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusNotFound, w.Code)
	var body struct{ Error apierror.Error }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, apierror.CodeNotFound, body.Error.Code)
	require.Equal(t, "this listener serves GET /metrics only", body.Error.Message)
}
