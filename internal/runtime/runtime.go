// Package runtime is what every flow of a running appbackend shares, owned in one
// place: the database (a store.Store), the River client that runs every job on it,
// transactions, and the logger. It is built first; each flow (event processing,
// installations, schedules and reconciliation, the app's jobs, metrics) then registers
// its workers and its part of River's configuration on it, and Build makes the one
// client from what was registered. The server (appbackend.App.Run) and the CLI build
// it through the same code, so both run River configured alike.
package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/store"
)

// Runtime is the shared core of a running appbackend. Register workers and River
// configuration before Build; use River after it.
type Runtime struct {
	Store  store.Store
	Logger *slog.Logger

	mu        sync.Mutex
	workers   *river.Workers
	configure []func(*river.Config)
	client    *river.Client[*sql.Tx]
}

// New returns a Runtime over st. A nil logger discards.
func New(st store.Store, logger *slog.Logger) *Runtime {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runtime{Store: st, Logger: logger, workers: river.NewWorkers()}
}

// Workers is the set every flow adds its River workers to, before Build.
func (r *Runtime) Workers() *river.Workers { return r.workers }

// ConfigureRiver registers f to adjust River's configuration when Build makes the
// client: queues, periodic jobs, middleware, timeouts. Functions run in registration
// order, each on the result of the previous ones.
func (r *Runtime) ConfigureRiver(f func(*river.Config)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		panic("runtime: ConfigureRiver after Build")
	}
	r.configure = append(r.configure, f)
}

// Build makes the River client from what was registered. It is an error to call it
// twice.
func (r *Runtime) Build() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return errors.New("runtime: Build called twice")
	}
	// River's info (job counts every 5 s, the client started) is for debugging.
	cfg := &river.Config{Logger: slog.New(Quieter(r.Logger.Handler())), Workers: r.workers}
	for _, f := range r.configure {
		f(cfg)
	}
	client, err := river.NewClient(r.Store.RiverDriver(), cfg)
	if err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	r.client = client
	return nil
}

// River is the client Build made; nil before.
func (r *Runtime) River() *river.Client[*sql.Tx] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.client
}

// InTx runs fn in a transaction on the store's write pool (store.InTx).
func (r *Runtime) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return store.InTx(ctx, r.Store.DB(), fn)
}
