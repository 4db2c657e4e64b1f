package events

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop() // the throwaway PostgreSQL server, if this process started one
	os.Exit(code)
}

// buildProcessor is a Processor on st whose runtime (configured by rcfg) is built:
// ready to enqueue, and to start with startProcessor.
func buildProcessor(t *testing.T, st store.Store, rcfg runtime.Config, cfg Config) *Processor {
	t.Helper()
	rt := openRuntime(st, rcfg)
	p, err := New(rt, cfg)
	require.NoError(t, err)
	require.NoError(t, rt.Build())
	return p
}

// startProcessor starts p's runtime and stops it when the test ends.
func startProcessor(t *testing.T, p *Processor) {
	t.Helper()
	require.NoError(t, p.rt.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.rt.Stop(ctx)
	})
}

func TestMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, eventType string
		want               bool
	}{
		{"*", "customer.created", true},
		{"customer.created", "customer.created", true},
		{"customer.created", "customer.updated", false},
		{"customer.*", "customer.updated", true},
		{"customer.*", "customer_cash_balance.created", false},
		{"customer.*", "invoice.paid", false},
		{"", "customer.created", false},
	} {
		require.Equal(t, tc.want, Matches(tc.pattern, tc.eventType), "Matches(%q, %q)", tc.pattern, tc.eventType)
	}
}

// openRuntime is a runtime open on st, ready for a processor.
func openRuntime(st store.Store, cfg runtime.Config) *runtime.Runtime {
	rt := runtime.New(cfg)
	rt.Open(st)
	return rt
}

func newProcessor(t *testing.T, cfg Config) *Processor {
	t.Helper()
	p, err := New(openRuntime(dbtest.SQLite(t), runtime.Config{}), cfg)
	require.NoError(t, err)
	return p
}

func TestHandlersRunInRegistrationOrder(t *testing.T) {
	t.Parallel()
	var calls []string
	record := func(name string) BuiltIn {
		return func(ctx context.Context, ev *store.Event) error {
			calls = append(calls, name)
			if name == "builtin" {
				ev.NotInstalled = true
			}
			return nil
		}
	}
	p := newProcessor(t, Config{BuiltIn: []BuiltIn{record("builtin")}})
	for _, pattern := range []string{"*", "invoice.paid", "customer.*", "customer.created"} {
		p.On(pattern, func(ctx context.Context, ev store.Event) error {
			require.True(t, ev.NotInstalled, "handler %q does not see the built-in's annotation", pattern)
			calls = append(calls, pattern)
			return nil
		})
	}
	require.NoError(t, p.runHandlers(t.Context(), &store.Event{ID: "evt_1", Type: "customer.created"}))
	require.Equal(t, []string{"builtin", "*", "customer.*", "customer.created"}, calls)
}

func TestPanicBecomesError(t *testing.T) {
	t.Parallel()
	p := newProcessor(t, Config{})
	p.On("*", func(ctx context.Context, ev store.Event) error { panic("handler bug") })
	err := p.runHandlers(t.Context(), &store.Event{ID: "evt_1", Type: "x"})
	require.EqualError(t, err, `handler "*": panic: handler bug`)
}

func TestStopWithoutStart(t *testing.T) {
	t.Parallel()
	p := newProcessor(t, Config{})
	for range 2 {
		require.NoError(t, p.rt.Stop(t.Context()))
		require.NoError(t, p.stop(t.Context()))
	}
}

func TestNewRejectsSecondEventWorker(t *testing.T) {
	t.Parallel()
	p := newProcessor(t, Config{})
	_, err := New(p.rt, Config{})
	require.ErrorContains(t, err, `a worker for job kind "appbackend.process_events" is already registered`)
}

// TestOnPanicsOnABadRegistration: a pattern that can match nothing, or a nil handler,
// fails where it is registered, as http.ServeMux does for a bad route.
func TestOnPanicsOnABadRegistration(t *testing.T) {
	t.Parallel()
	var hs Handlers
	noop := func(context.Context, store.Event) error { return nil }
	require.PanicsWithValue(t, `events: empty event pattern (use "*" for every event)`, func() { hs.On("", noop) })
	require.PanicsWithValue(t, `events: event pattern "invoice paid" has a space`, func() { hs.On("invoice paid", noop) })
	require.PanicsWithValue(t, `events: event pattern "*.paid": "*" may only end it ("customer.*")`, func() { hs.On("*.paid", noop) })
	require.PanicsWithValue(t, `events: nil handler for "invoice.paid"`, func() { hs.On("invoice.paid", nil) })
	require.NotPanics(t, func() { hs.On("customer*", noop) })
	require.False(t, hs.Handles("invoice.paid"), "a refused registration left a handler")
	require.True(t, hs.Handles("customer.created"))
}
