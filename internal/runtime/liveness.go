package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/internal/store"
)

// newProcessID names this process for River (its client id, recorded in every job it
// attempts) and for the heartbeats: host and pid for the operator, and a random
// suffix so that a restarted process with a reused pid is a new one.
func newProcessID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == '.' || r == ' ' {
			return '_'
		}
		return r
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s_%d_%s", host, os.Getpid(), hex.EncodeToString(b))
}

// liveness keeps this process's heartbeat and hands back to the queue the rerunnable
// jobs nobody is running any more:
//   - those of a process whose heartbeat went stale (it was killed, or lost its
//     database for good): River's rescuer would wait RescueStuckAfter, minutes, since
//     it cannot tell them from long jobs;
//   - this process's own that it does not run, found twice in a row: a fetch whose
//     answer, or a completion that, a database error lost. River keeps them running
//     until its rescuer too.
//
// Only kinds whose work is safe to repeat are handed back: event processing skips
// events already processed, so an orphan that did finish costs one idle run.
type liveness struct {
	st     store.Processes
	id     string
	kinds  []string
	every  time.Duration
	stale  time.Duration
	logger *slog.Logger

	mu        sync.Mutex
	executing map[int64]struct{} // jobs whose Work runs in this process now

	// Owned by run's goroutine.
	suspects     map[int64]bool // own running jobs not executing here at the last sweep
	healthySince time.Time      // since when heartbeats succeed; zero after a failure
	failing      bool           // heartbeats fail (logged once per outage)
}

func newLiveness(st store.Processes, id string, kinds []string, every, stale time.Duration, logger *slog.Logger) *liveness {
	return &liveness{st: st, id: id, kinds: kinds, every: every, stale: stale, logger: logger,
		executing: map[int64]struct{}{}, suspects: map[int64]bool{}}
}

// middleware records which jobs this process is executing.
func (l *liveness) middleware() rivertype.WorkerMiddleware {
	return river.WorkerMiddlewareFunc(func(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
		l.mu.Lock()
		l.executing[job.ID] = struct{}{}
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			delete(l.executing, job.ID)
			l.mu.Unlock()
		}()
		return doInner(ctx)
	})
}

func (l *liveness) isExecuting(id int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.executing[id]
	return ok
}

// start records the first heartbeat and hands back what dead processes left running,
// before this process fetches anything.
func (l *liveness) start(ctx context.Context) error {
	if err := l.st.Heartbeat(ctx, l.id); err != nil {
		return err
	}
	l.healthySince = time.Now()
	// At start no grace is needed: a process silent for StaleAfter is gone, or its
	// jobs are safe to run twice anyway.
	return l.requeueOrphans(ctx)
}

// run heartbeats every l.every and sweeps every other beat, until ctx ends.
func (l *liveness) run(ctx context.Context) {
	ticker := time.NewTicker(l.every)
	defer ticker.Stop()
	for beat := 1; ; beat++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		l.heartbeat(ctx)
		if beat%2 == 0 && !l.healthySince.IsZero() {
			l.sweepOwn(ctx)
			// Others' heartbeats failed while ours did: judge them only once they have
			// had StaleAfter to beat again.
			if time.Since(l.healthySince) >= l.stale {
				if err := l.requeueOrphans(ctx); err != nil && ctx.Err() == nil {
					l.logger.WarnContext(ctx, "hand back orphaned jobs", "err", err)
				}
			}
		}
	}
}

func (l *liveness) heartbeat(ctx context.Context) {
	hctx, cancel := context.WithTimeout(ctx, max(l.every, time.Second))
	defer cancel()
	if err := l.st.Heartbeat(hctx, l.id); err != nil {
		if ctx.Err() != nil {
			return
		}
		l.healthySince = time.Time{}
		if !l.failing {
			l.failing = true
			l.logger.WarnContext(ctx, "heartbeat failed; retrying every beat", "process", l.id, "err", err)
		}
		return
	}
	if l.failing {
		l.failing = false
		l.logger.InfoContext(ctx, "heartbeat recovered", "process", l.id)
	}
	if l.healthySince.IsZero() {
		l.healthySince = time.Now()
	}
}

func (l *liveness) requeueOrphans(ctx context.Context) error {
	n, err := l.st.RequeueOrphanedJobs(ctx, l.id, l.kinds, l.stale)
	if err != nil {
		return err
	}
	if n > 0 {
		l.logger.InfoContext(ctx, "handed back jobs whose process stopped", "jobs", n)
	}
	return nil
}

// sweepOwn hands back this process's running jobs that it is not executing and was
// not executing at the previous sweep either. One sighting is not enough: a job is
// briefly running but not executing between its fetch and its Work, and between its
// Work and River's completion.
func (l *liveness) sweepOwn(ctx context.Context) {
	ids, err := l.st.RunningJobs(ctx, l.id, l.kinds, l.every)
	if err != nil {
		if ctx.Err() == nil {
			l.logger.WarnContext(ctx, "list this process's running jobs", "err", err)
		}
		return
	}
	var orphans []int64
	suspects := map[int64]bool{}
	for _, id := range ids {
		if l.isExecuting(id) {
			continue
		}
		if l.suspects[id] {
			orphans = append(orphans, id)
			continue
		}
		suspects[id] = true
	}
	l.suspects = suspects
	if len(orphans) == 0 {
		return
	}
	n, err := l.st.RequeueJobs(ctx, orphans)
	if err != nil {
		if ctx.Err() == nil {
			l.logger.WarnContext(ctx, "hand back this process's orphaned jobs", "err", err)
		}
		return
	}
	if n > 0 {
		l.logger.InfoContext(ctx, "handed back jobs a database error left running", "jobs", n)
	}
}

// forget removes this process's heartbeat after a clean stop.
func (l *liveness) forget(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := l.st.ForgetProcess(ctx, l.id); err != nil {
		l.logger.WarnContext(ctx, "remove this process's heartbeat", "err", err)
	}
}
