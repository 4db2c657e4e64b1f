package storetest

import (
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
)

// testInsertEventsTx: a batch stores what InsertEventTx on each event in turn would,
// and says which events were new: an id already stored and a repeat in the batch are
// duplicates, also across SQLite's chunks (a statement holds at most 64 rows; the
// PostgreSQL adapter inserts the batch in one statement).
func testInsertEventsTx(t *testing.T, s store.Store) {
	bi, ok := s.(batchInserterCtx)
	if !ok {
		t.Skip("the store has no InsertEventsTx")
	}
	ctx := t.Context()
	batchEvent := func(id string) *store.Event {
		ev := newEvent(id)
		return &ev
	}
	existing := batchEvent("evt_existing")
	existing.Type = "invoice.paid"
	inTx(t, s, func(tx *sql.Tx) error {
		_, err := s.InsertEventTx(ctx, tx, existing)
		return err
	})

	platform := batchEvent("evt_platform")
	platform.AccountID, platform.Livemode, platform.APIVersion, platform.Raw = "", false, "", nil
	batch := []*store.Event{batchEvent("evt_b"), batchEvent("evt_existing"), batchEvent("evt_a"), batchEvent("evt_b"), platform}
	want := []bool{true, false, true, false, true}
	// 100 more: chunks of 64, 32, 8 and 1 after the first 5 (64 + 32 + 8 + 1 = 105),
	// with evt_a repeated in the last chunk.
	for i := range 99 {
		batch = append(batch, batchEvent(fmt.Sprintf("evt_n%03d", i)))
		want = append(want, true)
	}
	batch = append(batch, batchEvent("evt_a"))
	want = append(want, false)
	var inserted []bool
	inTx(t, s, func(tx *sql.Tx) (err error) {
		inserted, err = bi.InsertEventsTx(ctx, tx, batch)
		return err
	})
	require.Equal(t, want, inserted, "the existing id and the repeats are duplicates")

	for _, w := range []*store.Event{batch[0], existing, batch[2], platform, batch[50]} {
		got, err := s.Event(ctx, w.ID)
		require.NoError(t, err)
		e := *w
		e.Status = store.EventPending
		if len(e.Raw) == 0 && len(got.Raw) == 0 {
			e.Raw = got.Raw // an empty BLOB reads back as nil on SQLite, as []byte{} on PostgreSQL
		}
		require.Equal(t, e, got, "Event(%s)", w.ID)
	}
	list, err := s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Len(t, list, 103)
	inTx(t, s, func(tx *sql.Tx) error {
		got, err := bi.InsertEventsTx(ctx, tx, nil)
		require.NoError(t, err)
		require.Empty(t, got, "InsertEventsTx(nil)")
		return nil
	})
}
