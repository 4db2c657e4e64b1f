package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

// Marking events processed (and failed, and dead) is a HOT update of the inbox row:
// no index of appbackend_events covers the state (migration 0013), so PostgreSQL
// rewrites neither the wide row elsewhere nor any of its index entries.
func TestFinishingEventsIsHOT(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	var batch []*store.Event
	for i := range 4 {
		batch = append(batch, batchEvent(fmt.Sprintf("evt_hot_%d", i)))
	}
	require.NoError(t, store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		_, err := s.InsertEventsTx(ctx, tx, batch)
		return err
	}))
	require.NoError(t, store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		done := []store.ProcessedEvent{{ID: "evt_hot_0"}, {ID: "evt_hot_1", NotInstalled: true}}
		require.NoError(t, s.FinishProcessedTx(ctx, tx, done))
		require.NoError(t, s.FinishEventTx(ctx, tx, "evt_hot_2", store.EventOutcome{Status: store.EventFailed, Error: "boom"}))
		require.NoError(t, s.FinishEventTx(ctx, tx, "evt_hot_3", store.EventOutcome{Status: store.EventDead, Error: "boom"}))
		// This transaction's own counts, which the statistics collector has no delay for.
		var upd, hot int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables
			WHERE relname = 'appbackend_events'`).Scan(&upd, &hot))
		require.Equal(t, 4, upd, "updates of appbackend_events")
		require.Equal(t, upd, hot, "HOT updates of appbackend_events")
		return nil
	}))
	counts, err := s.CountEvents(ctx)
	require.NoError(t, err)
	require.Equal(t, map[store.EventStatus]int{store.EventProcessed: 2, store.EventFailed: 1, store.EventDead: 1}, counts)
}

// appbackend_event_states follows the inbox through every kind of write, the store's
// and anyone else's (the triggers of migration 0013): inserts (duplicates and
// tombstoned ids left out), processing, failures, replays, prunes, an account's
// deletion, plain SQL and TRUNCATE.
func TestEventStatesFollowInbox(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	requireInStep := func(t *testing.T, wantRows int) {
		t.Helper()
		const q = `SELECT id, status, received_at, processed_at, dead_at FROM %s ORDER BY id`
		inbox, states := rowsOf(t, s, fmt.Sprintf(q, "appbackend_events")), rowsOf(t, s, fmt.Sprintf(q, "appbackend_event_states"))
		require.Len(t, inbox, wantRows)
		require.Equal(t, inbox, states)
	}
	var batch []*store.Event
	for i := range 6 {
		ev := batchEvent(fmt.Sprintf("evt_st_%d", i))
		if i >= 4 {
			ev.AccountID = "acct_gone"
		}
		batch = append(batch, ev)
	}
	batch = append(batch, batchEvent("evt_st_0")) // a duplicate in the batch
	_, err := s.DB().ExecContext(ctx, `INSERT INTO appbackend_event_tombstones (id, created) VALUES ('evt_st_pruned', 1)`)
	require.NoError(t, err)
	batch = append(batch, batchEvent("evt_st_pruned"))
	require.NoError(t, store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		_, err := s.InsertEventsTx(ctx, tx, batch)
		return err
	}))
	requireInStep(t, 6)

	old := time.Now().Add(-time.Hour)
	require.NoError(t, store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		if err := s.FinishProcessedTx(ctx, tx, []store.ProcessedEvent{{ID: "evt_st_0"}, {ID: "evt_st_1"}}); err != nil {
			return err
		}
		if err := s.FinishEventTx(ctx, tx, "evt_st_2", store.EventOutcome{Status: store.EventDead, Error: "x", At: old}); err != nil {
			return err
		}
		return s.FinishEventTx(ctx, tx, "evt_st_3", store.EventOutcome{Status: store.EventFailed, Error: "x"})
	}))
	requireInStep(t, 6)
	dead, err := s.CountMatchingEvents(ctx, store.EventFilter{Status: store.EventDead})
	require.NoError(t, err)
	require.Equal(t, 1, dead)
	listed, err := s.ListEvents(ctx, store.EventFilter{Status: store.EventFailed})
	require.NoError(t, err)
	require.Len(t, listed, 1)
	require.Equal(t, "evt_st_3", listed[0].ID)

	require.NoError(t, store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		return s.ReplayEventTx(ctx, tx, "evt_st_1")
	}))
	requireInStep(t, 6)
	// The dead event died an hour ago; the processed one is younger than the cutoff.
	pruned, _, err := s.PruneEvents(ctx, time.Now().Add(-time.Minute), time.Unix(0, 0), 10)
	require.NoError(t, err)
	require.EqualValues(t, 1, pruned)
	requireInStep(t, 5)

	require.NoError(t, store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		_, err := s.DeleteAccountEventsTx(ctx, tx, "acct_gone", true, time.Now())
		return err
	}))
	requireInStep(t, 3)
	_, err = s.DB().ExecContext(ctx, `UPDATE appbackend_events SET status = 'dead', dead_at = 7 WHERE id = 'evt_st_3'`)
	require.NoError(t, err)
	requireInStep(t, 3)
	_, err = s.DB().ExecContext(ctx, `TRUNCATE appbackend_events`)
	require.NoError(t, err)
	requireInStep(t, 0)
}

func rowsOf(t *testing.T, s *postgres.Store, query string) [][]any {
	t.Helper()
	rows, err := s.DB().QueryContext(context.Background(), query)
	require.NoError(t, err)
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		var (
			id, status        string
			received          int64
			processed, deadAt sql.NullInt64
		)
		require.NoError(t, rows.Scan(&id, &status, &received, &processed, &deadAt))
		out = append(out, []any{id, status, received, processed, deadAt})
	}
	require.NoError(t, rows.Err())
	return out
}
