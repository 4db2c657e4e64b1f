package storetest

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
)

// testEventsByIDs: Events reads many events in one call, outside a transaction, as
// Event reads each one (status and raw bytes included), in id order whatever the
// order asked, leaving out unknown ids.
func testEventsByIDs(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b, c := newEvent("evt_list_a"), newEvent("evt_list_b"), newEvent("evt_list_c")
	b.Type = "invoice.paid"
	insertEvents(t, s, a, b, c)
	inTx(t, s, func(tx *sql.Tx) error {
		return s.FinishEventTx(ctx, tx, b.ID, store.EventOutcome{Status: store.EventProcessed})
	})

	got, err := s.Events(ctx, []string{c.ID, "evt_list_missing", a.ID, b.ID})
	require.NoError(t, err)
	require.Len(t, got, 3, "the unknown id is left out")
	for i, id := range []string{a.ID, b.ID, c.ID} {
		one, err := s.Event(ctx, id)
		require.NoError(t, err)
		require.Equal(t, one, got[i], "Events()[%d] is Event(%s)", i, id)
	}
	require.Equal(t, store.EventProcessed, got[1].Status)
	require.JSONEq(t, `{"id":"evt_list_a"}`, string(got[0].Raw))

	none, err := s.Events(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, none, "Events(nil)")
}
