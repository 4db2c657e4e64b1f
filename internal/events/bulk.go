package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/internal/store"
)

// ReplayBatch is how many events one transaction of a bulk replay moves back to
// pending and enqueues: small enough that SQLite's write lock is held for
// milliseconds, so webhooks keep being acknowledged while 20,000 events are replayed.
const ReplayBatch = 500

// ReplayableStatus reports whether a bulk replay may select events of status s: the
// failed and the dead, which wait for a fix. Pending events are on their way, and
// processed ones are replayed one at a time, on purpose ([Processor.Replay]).
func ReplayableStatus(s store.EventStatus) bool {
	return s == store.EventDead || s == store.EventFailed
}

// ReplayMatching replays every event that matches f (whose Status must be failed or
// dead), oldest first, in transactions of ReplayBatch events, each one moving its
// events back to pending and enqueuing them with it: an interruption leaves every
// event either replayed or as it was, never pending without a job. progress, if set,
// is called after each batch with the running total. It returns how many events it
// replayed.
func (p *Processor) ReplayMatching(ctx context.Context, f store.EventFilter, progress func(done int)) (int, error) {
	if !ReplayableStatus(f.Status) {
		return 0, fmt.Errorf("replay: status %q: want failed or dead", f.Status)
	}
	f.Limit = 0
	var (
		cursor store.EventCursor
		done   int
	)
	for {
		var ids []string
		err := store.InTx(ctx, p.st.DB(), func(tx *sql.Tx) (err error) {
			if ids, cursor, err = p.st.ReplayEventsTx(ctx, tx, f, cursor, ReplayBatch); err != nil {
				return err
			}
			return p.EnqueueTx(ctx, tx, ids...)
		})
		if err != nil {
			return done, fmt.Errorf("replay: %w", err)
		}
		if len(ids) == 0 {
			return done, nil
		}
		done += len(ids)
		if progress != nil {
			progress(done)
		}
	}
}

// Pause stops the processing of events, and with it their delivery to the upstream
// in gateway mode, on every process that shares the database: it pauses the events'
// River queue (river_queue.paused_at), which each River client reads, this one at
// once and the others at their next poll of the queue's settings (every 2 s).
// Webhooks are still acknowledged and stored; their jobs wait, in order, until
// [Processor.Resume]. Jobs running when it is paused finish. Pausing a paused queue
// changes nothing.
func (p *Processor) Pause(ctx context.Context) error {
	client := p.client()
	if client == nil {
		return errors.New("events: pause before the runtime was built")
	}
	// River keeps a queue's row from the first start of a client that works it; a
	// database no server ran on yet has none, and a pause must hold from that start.
	now := time.Now().UTC()
	if _, err := p.st.RiverDriver().GetExecutor().QueueCreateOrSetUpdatedAt(ctx, &riverdriver.QueueCreateOrSetUpdatedAtParams{
		Name: Queue, Metadata: []byte("{}"), PausedAt: &now,
	}); err != nil {
		return fmt.Errorf("events: pause: %w", err)
	}
	if err := client.QueuePause(ctx, Queue, nil); err != nil {
		return fmt.Errorf("events: pause: %w", err)
	}
	p.logger.InfoContext(ctx, "event processing paused")
	return nil
}

// Resume undoes [Processor.Pause]: the events that waited are processed, oldest first.
func (p *Processor) Resume(ctx context.Context) error {
	client := p.client()
	if client == nil {
		return errors.New("events: resume before the runtime was built")
	}
	if err := client.QueueResume(ctx, Queue, nil); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("events: resume: %w", err)
	}
	p.logger.InfoContext(ctx, "event processing resumed")
	return nil
}

// PauseState says whether event processing is paused in st's database, and since
// when. It reads River's table only, so the CLI and doctor need no running client.
func PauseState(ctx context.Context, st store.Store) (pausedAt time.Time, paused bool, err error) {
	q, err := st.RiverDriver().GetExecutor().QueueGet(ctx, &riverdriver.QueueGetParams{Name: Queue})
	switch {
	case errors.Is(err, rivertype.ErrNotFound):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("events: read the pause: %w", err)
	case q.PausedAt == nil:
		return time.Time{}, false, nil
	}
	return q.PausedAt.UTC(), true, nil
}

// PausedHere reports whether this process's River client has applied a pause of the
// events' queue (and no resume since): it fetches no event jobs. It lags the
// database's flag ([PauseState]) by up to River's poll of the queue's settings.
func (p *Processor) PausedHere() bool { return p.pausedHere.Load() }

// PauseState is [PauseState] on the processor's database.
func (p *Processor) PauseState(ctx context.Context) (pausedAt time.Time, paused bool, err error) {
	return PauseState(ctx, p.st)
}

// logPauses logs each pause and resume of the events' queue as this process applies
// it (at once for its own, within River's poll of the queue's settings for another
// process's), until ctx ends.
func (p *Processor) logPauses(ctx context.Context, events <-chan *river.Event, unsubscribe func()) {
	defer unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Queue == nil || ev.Queue.Name != Queue {
				continue
			}
			p.pausedHere.Store(ev.Kind == river.EventKindQueuePaused)
			if ev.Kind == river.EventKindQueuePaused {
				p.logger.InfoContext(ctx, "event processing paused on this process: it takes no new events until resumed", "process_id", p.rt.ProcessID())
			} else {
				p.logger.InfoContext(ctx, "event processing resumed on this process", "process_id", p.rt.ProcessID())
			}
		}
	}
}
