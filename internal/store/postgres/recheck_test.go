package postgres_test

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

// The insert's tombstone recheck (DropTombstonedTx, run on every webhook batch) reads
// the inbox only for ids that have a tombstone, whatever plan PostgreSQL picks for
// its prepared statement: forced to its generic plan, the earlier statement walked
// appbackend_events_status over every pending entry, the dead ones included.
func TestTombstoneRecheckReadsTheInboxOnlyForTombstones(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	require.NoError(t, store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		_, err := s.InsertEventsTx(ctx, tx, []*store.Event{batchEvent("evt_rc_0"), batchEvent("evt_rc_1"), batchEvent("evt_rc_2")})
		return err
	}))
	// evt_rc_2 is the redelivery that raced its event's prune.
	_, err := s.DB().ExecContext(ctx, `INSERT INTO appbackend_event_tombstones (id, created) VALUES ('evt_rc_2', 1)`)
	require.NoError(t, err)

	inboxScans := func(tx *sql.Tx) int {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables
			WHERE relname = 'appbackend_events'`).Scan(&n))
		return n
	}
	require.NoError(t, store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`)
		require.NoError(t, err)
		// The counts include the connection's earlier transactions not yet reported.
		before := inboxScans(tx)
		gone, err := s.DropTombstonedTx(ctx, tx, []string{"evt_rc_0", "evt_rc_1"})
		require.NoError(t, err)
		require.Empty(t, gone)
		require.Equal(t, before, inboxScans(tx), "scans of appbackend_events for ids without a tombstone")

		gone, err = s.DropTombstonedTx(ctx, tx, []string{"evt_rc_0", "evt_rc_1", "evt_rc_2"})
		require.NoError(t, err)
		require.Equal(t, []string{"evt_rc_2"}, gone)
		return nil
	}))
	evs, err := s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Len(t, evs, 2)
}
