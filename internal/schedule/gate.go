package schedule

import (
	"context"
	"sync"
	"time"
)

// gateRefreshTimeout bounds one read of the earliest run time.
const gateRefreshTimeout = 5 * time.Second

// tickGate decides, each time River's leader would enqueue the periodic tick, whether
// a row can be due: an idle server would otherwise complete a tick job every second,
// 86,400 rows a day written to River's table for nothing. It keeps the earliest
// NextRunAt of the enabled rows, read from the store (a read, no write), and lets a
// tick through only once that time has come.
//
// River's periodic-job constructor must not block, so the gate never reads the store
// in it: each call starts a read in the background (one at a time) and decides on the
// latest answer. The rows change behind the leader's back — another replica installs
// an account, or its start adds unplanned rows — and the read every tick interval
// sees them within one more interval. A tick job enqueued by the gate makes it wait
// for an answer read after that tick ran (the tick worker's own, or a later
// background read): until then the row still looks due, and each interval would add
// a tick that finds nothing.
type tickGate struct {
	s *Scheduler

	mu         sync.Mutex
	known      bool      // next and none hold a read begun after the last enqueue
	none       bool      // no enabled row: nothing can come due until a row is added
	next       time.Time // the earliest NextRunAt (zero: an unplanned row, due at once)
	pending    bool      // a tick was enqueued and no read since has answered
	enqueues   int64     // ticks enqueued; a read begun before the latest is stale
	refreshing bool      // a background read is under way
	considered int64     // calls of allow, for tests that wait for the leader to consider ticks
}

// allow reports whether the tick is worth enqueueing now, and starts a read of the
// earliest run time for the next call. It never blocks.
func (g *tickGate) allow(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.considered++
	if !g.refreshing {
		g.refreshing = true
		go g.refresh(g.enqueues, true)
	}
	if g.pending {
		return false // a tick is on its way; wait for what it leaves behind
	}
	if g.known && (g.none || g.next.After(now)) {
		return false
	}
	g.enqueues++
	g.known, g.pending = false, true
	return true
}

// refresh reads the earliest run time, begun when seq ticks had been enqueued, and
// keeps it unless a tick was enqueued meanwhile. background marks the read allow
// started.
func (g *tickGate) refresh(seq int64, background bool) {
	ctx, cancel := context.WithTimeout(context.Background(), gateRefreshTimeout)
	defer cancel()
	g.learn(ctx, seq)
	if background {
		g.mu.Lock()
		g.refreshing = false
		g.mu.Unlock()
	}
}

// afterTick is called by the tick worker once its tick committed: a read begun now
// sees the plans it advanced.
func (g *tickGate) afterTick(ctx context.Context) {
	g.mu.Lock()
	seq := g.enqueues
	g.mu.Unlock()
	g.learn(ctx, seq)
}

func (g *tickGate) learn(ctx context.Context, seq int64) {
	next, ok, err := g.s.st.NextScheduleRunAt(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	if seq != g.enqueues {
		return // begun before a tick was enqueued: the tick may change the rows
	}
	if err != nil {
		// Let the next tick through: it reads the same table and reports the error
		// as a failed job, where the operator looks.
		g.s.Logger().DebugContext(ctx, "schedule: read the next run time", "err", err)
		g.known, g.pending = false, false
		return
	}
	g.known, g.pending, g.none, g.next = true, false, !ok, next
}
