package storetest

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/stretchr/testify/require"
)

// batchInserterCtx is the PostgreSQL adapter's one-statement insert, which the
// webhook receiver uses there instead of InsertEventTx; it must honour tombstones too.
type batchInserterCtx interface {
	InsertEventsTx(ctx context.Context, tx *sql.Tx, evs []*store.Event) ([]bool, error)
}

// testPruneEvents: processed events past the cutoff and dead ones received before it
// are deleted in batches of the limit, pending and failed ones never; a pruned id
// stays a duplicate until its tombstone is pruned.
func testPruneEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	ids := []string{"evt_old_processed", "evt_new_processed", "evt_failed", "evt_pending", "evt_dead", "evt_dead_late"}
	var evs []store.Event
	for _, id := range ids {
		evs = append(evs, newEvent(id))
	}
	insertEvents(t, s, evs...)
	inTx(t, s, func(tx *sql.Tx) error {
		outs := map[string]store.EventOutcome{
			"evt_old_processed": {Status: store.EventProcessed, At: base.Add(time.Minute)},
			"evt_new_processed": {Status: store.EventProcessed, At: base.Add(10 * time.Minute)},
			"evt_failed":        {Status: store.EventFailed, Error: "boom"},
			"evt_dead":          {Status: store.EventDead, Error: "boom", At: base.Add(time.Minute)},
			// Arrived long before the cutoff but died after it: a dead event is kept
			// for the retention after it died, so that it can still be replayed.
			"evt_dead_late": {Status: store.EventDead, Error: "boom", At: base.Add(10 * time.Minute)},
		}
		for id, out := range outs {
			if err := s.FinishEventTx(ctx, tx, id, out); err != nil {
				return err
			}
		}
		return nil
	})
	cutoff, keepTombstones := base.Add(5*time.Minute), base.Add(-time.Hour)
	var total int64
	for batches := 0; ; batches++ {
		require.LessOrEqual(t, batches, 5, "prune does not finish")
		n, _, err := s.PruneEvents(ctx, cutoff, keepTombstones, 1)
		require.NoError(t, err)
		require.True(t, n <= 1, "one batch of limit 1 deleted %d events", n)
		total += n
		if n == 0 {
			break
		}
	}
	require.EqualValues(t, 2, total, "pruned %d events, want 2 (the old processed one and the dead one)", total)
	for _, id := range []string{"evt_new_processed", "evt_failed", "evt_pending", "evt_dead_late"} {
		_, err := s.Event(ctx, id)
		require.NoError(t, err, "%s: %v, want it kept", id, err)
	}
	for _, id := range []string{"evt_old_processed", "evt_dead"} {
		_, err := s.Event(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, "%s: err = %v, want it pruned", id, err)
	}

	// A redelivery of a pruned event is a duplicate, on every insert path.
	again := newEvent("evt_old_processed")
	inTx(t, s, func(tx *sql.Tx) error {
		inserted, err := s.InsertEventTx(ctx, tx, &again)
		if err != nil {
			return err
		}
		require.False(t, inserted, "a pruned event's id was inserted again")
		return nil
	})
	if bi, ok := s.(batchInserterCtx); ok {
		inTx(t, s, func(tx *sql.Tx) error {
			e1, e2 := newEvent("evt_dead"), newEvent("evt_batch_new")
			got, err := bi.InsertEventsTx(ctx, tx, []*store.Event{&e1, &e2})
			if err != nil {
				return err
			}
			require.False(t, got[0], "batch insert of a pruned and a new id: inserted = %v, want [false true]", got)
			require.True(t, got[1], "batch insert of a pruned and a new id: inserted = %v, want [false true]", got)
			return nil
		})
	}

	// Tombstones go once their created is before the second cutoff; the id is then new.
	_, n, err := s.PruneEvents(ctx, cutoff, base.Add(time.Second), 100)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "pruned %d tombstones, want 2", n)
	again = newEvent("evt_old_processed")
	inTx(t, s, func(tx *sql.Tx) error {
		inserted, err := s.InsertEventTx(ctx, tx, &again)
		require.False(t, err == nil && !inserted, "an id whose tombstone was pruned is still a duplicate")
		return err
	})
}

// testPruneKeepsUnfinished: however old, an event that is pending (perhaps running
// now) or failed (to be retried) is never pruned, nor one replayed after it died.
func testPruneKeepsUnfinished(t *testing.T, s store.Store) {
	ctx := t.Context()
	insertEvents(t, s, newEvent("evt_pending_old"), newEvent("evt_failed_old"), newEvent("evt_replayed"))
	inTx(t, s, func(tx *sql.Tx) error {
		if err := s.FinishEventTx(ctx, tx, "evt_failed_old", store.EventOutcome{Status: store.EventFailed, Error: "x", At: base}); err != nil {
			return err
		}
		if err := s.FinishEventTx(ctx, tx, "evt_replayed", store.EventOutcome{Status: store.EventDead, Error: "x", At: base}); err != nil {
			return err
		}
		return s.ReplayEventTx(ctx, tx, "evt_replayed")
	})
	far := time.Now().Add(365 * 24 * time.Hour)
	n, _, err := s.PruneEvents(ctx, far, base.Add(-time.Hour), 100)
	require.NoError(t, err)
	require.EqualValues(t, 0, n, "pruned %d unfinished events, want none", n)
}

// testDeleteAccountEventsTombstones: an uninstalled account's events deleted after
// APPBACKEND_EVENT_RETENTION stay duplicates, like pruned ones.
func testDeleteAccountEventsTombstones(t *testing.T, s store.Store) {
	ctx := t.Context()
	ev := newEvent("evt_uninstalled")
	ev.AccountID = "acct_uninstalled"
	insertEvents(t, s, ev)
	inTx(t, s, func(tx *sql.Tx) error {
		n, err := s.DeleteAccountEventsTx(ctx, tx, "acct_uninstalled", true, base.Add(time.Hour))
		require.False(t, err == nil && n != 1, "deleted %d events, want 1", n)
		return err
	})
	again := newEvent("evt_uninstalled")
	inTx(t, s, func(tx *sql.Tx) error {
		inserted, err := s.InsertEventTx(ctx, tx, &again)
		require.False(t, err == nil && inserted, "a retry of a purged event of an uninstalled account was stored as new")
		return err
	})
}
