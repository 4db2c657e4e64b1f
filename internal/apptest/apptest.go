// Package apptest is the one seam between package appbackend and its test kit's
// worker helper (appbackendtest.NewWorker): it lets the kit start an App's workers
// and event handlers without the HTTP server that Run starts, and without adding to
// App's public methods. Package appbackend sets StartWorkers in an init function.
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
	// Stop stops the workers and closes the database.
	Stop func(ctx context.Context) error
}

// StartWorkers starts app (an *appbackend.App) as Run does, up to listening.
var StartWorkers func(ctx context.Context, app any) (*Workers, error)
