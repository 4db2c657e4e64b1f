// Package apptest is the one seam between package appbackend and its test kit's
// worker helper (appbackendtest.NewWorker): it lets the kit run an App's workers and
// event handlers without the HTTP server, and without adding to App's public methods.
//
// The kit calls the public App.Run with a context from WorkersOnly; Run, seeing it,
// starts what it starts before it listens, hands the kit the Workers, and stops them
// when the context ends. Only this module can build such a context, so an app's Run is
// unaffected. It is a context value rather than a function variable because this
// package cannot name *appbackend.App (the root imports it), and a function that took
// the app as an any would be the untyped seam this replaces.
package apptest

import (
	"context"
	"database/sql"

	"github.com/appbackend/appbackend/internal/store"
)

// Workers is an App opened and working — its database migrated, its River client
// running its jobs, its event processor running its handlers — with no listener.
type Workers struct {
	// AppendEventsTx stores events in tx and queues them for the app's handlers,
	// as the webhook receiver does for a delivered event.
	AppendEventsTx func(ctx context.Context, tx *sql.Tx, evs []*store.Event) ([]bool, error)
}

type workersOnlyKey struct{}

// WorkersOnly returns a context under which App.Run starts the workers only and calls
// started with them before it waits for ctx to end.
func WorkersOnly(ctx context.Context, started func(*Workers)) context.Context {
	return context.WithValue(ctx, workersOnlyKey{}, started)
}

// WorkersOnlyFrom returns the started function of a context from WorkersOnly.
func WorkersOnlyFrom(ctx context.Context) (started func(*Workers), ok bool) {
	started, ok = ctx.Value(workersOnlyKey{}).(func(*Workers))
	return started, ok
}
