package appbackend

import (
	"context"
	"errors"

	"github.com/appbackend/appbackend/internal/apptest"
)

// runWorkers is Run for the test kit's worker helper (appbackendtest.NewWorker), which
// asks for it with a context from apptest.WorkersOnly: it does what Run does before it
// listens — opens the database, builds the metrics the workers record into, starts the
// event processor and the River client with every registered handler, hook, worker and
// schedule — hands the kit the Workers, and stops them once ctx ends, as Run does.
func (a *App) runWorkers(ctx context.Context, started func(*apptest.Workers)) error {
	if err := a.open(ctx); err != nil {
		return err
	}
	defer a.db.Close()
	if err := a.openMetrics(); err != nil {
		return err
	}
	// The workers run under a context of their own, ended only once they are stopped
	// below, so that the jobs running at the end of a test finish rather than being
	// cancelled with ctx.
	workCtx, endWork := context.WithCancel(context.WithoutCancel(ctx))
	defer endWork()
	if err := a.startEvents(workCtx); err != nil {
		return errors.Join(err, a.stopEvents(workCtx))
	}
	started(&apptest.Workers{AppendEventsTx: a.processor.AppendTx})
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(workCtx, a.cfg.EventShutdownTimeout)
	defer cancel()
	return a.stopEvents(stopCtx)
}
