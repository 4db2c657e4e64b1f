package appbackend

import (
	"context"
	"errors"

	"github.com/appbackend/appbackend/internal/apptest"
)

// The test kit's worker helper (appbackendtest.NewWorker) runs an app's jobs and event
// handlers without an HTTP server; it reaches startWorkers through internal/apptest so
// that App gains no public method for it.
func init() {
	apptest.StartWorkers = func(ctx context.Context, app any) (*apptest.Workers, error) {
		return app.(*App).startWorkers(ctx)
	}
}

// startWorkers does what Run does before it listens: it opens the database, builds
// the metrics the workers record into, and starts the event processor and the River
// client with every registered handler, hook, worker and schedule.
func (a *App) startWorkers(ctx context.Context) (*apptest.Workers, error) {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return nil, errors.New("appbackend: the app is already started")
	}
	a.started = true
	a.mu.Unlock()
	if err := a.open(ctx); err != nil {
		return nil, err
	}
	if err := a.openMetrics(); err != nil {
		a.db.Close()
		return nil, err
	}
	if err := a.startEvents(ctx); err != nil {
		err = errors.Join(err, a.stopEvents(ctx))
		a.db.Close()
		return nil, err
	}
	return &apptest.Workers{
		AppendEventsTx: a.processor.AppendTx,
		Stop: func(ctx context.Context) error {
			err := a.stopEvents(ctx)
			return errors.Join(err, a.db.Close())
		},
	}, nil
}
