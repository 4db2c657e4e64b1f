package events

import (
	"context"
	"slices"
	"testing"

	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
)

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
		if got := Matches(tc.pattern, tc.eventType); got != tc.want {
			t.Errorf("Matches(%q, %q) = %v, want %v", tc.pattern, tc.eventType, got, tc.want)
		}
	}
}

func newProcessor(t *testing.T, cfg Config) *Processor {
	t.Helper()
	p, err := New(runtime.New(dbtest.SQLite(t), nil), cfg)
	if err != nil {
		t.Fatal(err)
	}
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
			if !ev.NotInstalled {
				t.Errorf("handler %q does not see the built-in's annotation", pattern)
			}
			calls = append(calls, pattern)
			return nil
		})
	}
	if err := p.runHandlers(t.Context(), &store.Event{ID: "evt_1", Type: "customer.created"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"builtin", "*", "customer.*", "customer.created"}; !slices.Equal(calls, want) {
		t.Errorf("calls = %v, want %v", calls, want)
	}
}

func TestPanicBecomesError(t *testing.T) {
	t.Parallel()
	p := newProcessor(t, Config{})
	p.On("*", func(ctx context.Context, ev store.Event) error { panic("handler bug") })
	err := p.runHandlers(t.Context(), &store.Event{ID: "evt_1", Type: "x"})
	if err == nil || err.Error() != `handler "*": panic: handler bug` {
		t.Errorf("runHandlers = %v, want the panic as an error", err)
	}
}

func TestStopWithoutStart(t *testing.T) {
	t.Parallel()
	p := newProcessor(t, Config{})
	for range 2 {
		if err := p.Stop(t.Context()); err != nil {
			t.Errorf("Stop without Start = %v, want nil", err)
		}
	}
}

func TestNewRejectsSecondEventWorker(t *testing.T) {
	t.Parallel()
	p := newProcessor(t, Config{})
	if _, err := New(p.rt, Config{}); err == nil {
		t.Errorf("a second Processor on the same runtime was accepted, want an error")
	}
}
