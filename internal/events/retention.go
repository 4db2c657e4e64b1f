package events

import (
	"context"
	"time"
)

// TombstoneMinimum is how long after its created a pruned event's id stays a
// duplicate whatever the retention: Stripe retries for 3 days and /v1/events, which
// reconciliation reads, goes back 30 days.
const TombstoneMinimum = 30 * 24 * time.Hour

// pruneBatch is how many events one prune transaction deletes: small enough that the
// webhook receiver's commits wait for it only briefly.
const pruneBatch = 500

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
	for ctx.Err() == nil {
		n, m, err := p.st.PruneEvents(ctx, before, tombstones, pruneBatch)
		if err != nil {
			if ctx.Err() == nil {
				p.logger.WarnContext(ctx, "prune processed events", "err", err)
			}
			return
		}
		if n > 0 || m > 0 {
			p.logger.DebugContext(ctx, "pruned events", "events", n, "tombstones", m)
		}
		if n < pruneBatch && m < pruneBatch {
			return
		}
	}
}
