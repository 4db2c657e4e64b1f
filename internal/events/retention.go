package events

import (
	"context"
	"time"
)

// TombstoneMinimum is how long after its created a pruned event's id stays a
// duplicate whatever the retention: Stripe retries for 3 days and /v1/events, which
// reconciliation reads, goes back 30 days.
const TombstoneMinimum = 30 * 24 * time.Hour

// pruneBatch is the most events one prune transaction deletes, and pruneBatchMin
// the fewest: the batch halves while a batch takes longer than pruneBatchTarget
// (waiting for the write connection included: SQLite has one, so a loaded receiver
// makes the prune smaller) and doubles back while it is quick, so that the webhook
// receiver's commits wait for a prune transaction only briefly.
const (
	pruneBatch       = 500
	pruneBatchMin    = 20
	pruneBatchTarget = 20 * time.Millisecond
)

// pruneEvery is how often the inbox is pruned: a short retention (tests) is followed
// within about a second, a long one costs one cheap query per interval.
func pruneEvery(retention time.Duration) time.Duration {
	return min(max(retention/4, 250*time.Millisecond), time.Minute)
}

// pruneLoop deletes processed and dead events older than the retention, and
// tombstones past TombstoneMinimum (or the retention if longer), until ctx ends.
func (p *Processor) pruneLoop(ctx context.Context) {
	if p.retention <= 0 {
		return
	}
	t := time.NewTicker(pruneEvery(p.retention))
	defer t.Stop()
	for {
		p.pruneOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Processor) pruneOnce(ctx context.Context) {
	now := time.Now()
	before, tombstones := now.Add(-p.retention), now.Add(-max(TombstoneMinimum, p.retention))
	batch := pruneBatch
	for ctx.Err() == nil {
		start := time.Now()
		n, m, err := p.st.PruneEvents(ctx, before, tombstones, batch)
		took := time.Since(start)
		if err != nil {
			if ctx.Err() == nil {
				p.logger.WarnContext(ctx, "prune processed events", "err", err)
			}
			return
		}
		if n > 0 || m > 0 {
			p.logger.DebugContext(ctx, "pruned events", "events", n, "tombstones", m, "batch", batch, "took", took)
		}
		if n < int64(batch) && m < int64(batch) {
			return
		}
		switch {
		case took > pruneBatchTarget:
			batch = max(batch/2, pruneBatchMin)
		case took < pruneBatchTarget/4:
			batch = min(batch*2, pruneBatch)
		}
		// A backlog (the first prune of a large inbox, a burst a retention ago): rest
		// twice as long as the batch took before the next one, so that the prune holds
		// the write lock (and the database's disk) at most a third of the time and the
		// webhook receiver's commits, queued behind it, go first. A backlog is pruned
		// more slowly under load; nothing depends on its being quick.
		pause := min(max(2*took, 5*time.Millisecond), time.Second)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}
