package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/stretchr/testify/require"
)

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func batchEvent(id string) *store.Event {
	return &store.Event{
		ID: id, Type: "customer.created", AccountID: "acct_1", Livemode: true, Created: base,
		APIVersion: "2023-10-16", Raw: []byte(`{"id":"` + id + `"}`), ReceivedAt: base.Add(time.Second),
	}
}

func inTx(t *testing.T, db *sql.DB, f func(tx *sql.Tx) error) {
	t.Helper()
	tx, err := db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	require.NoError(t, f(tx))
	require.NoError(t, tx.Commit())
}

// A batch stores what InsertEventTx on each event in turn would, and says which
// events were new: an id already stored and a repeat in the batch are duplicates,
// also across the batch's chunks (a statement holds at most 64 rows).
func TestInsertEventsTx(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "appbackend.db"))
	require.NoError(t, err)
	defer s.Close()
	ctx := t.Context()
	existing := batchEvent("evt_existing")
	existing.Type = "invoice.paid"
	inTx(t, s.DB(), func(tx *sql.Tx) error {
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
	inTx(t, s.DB(), func(tx *sql.Tx) (err error) {
		inserted, err = s.InsertEventsTx(ctx, tx, batch)
		return err
	})
	require.True(t, slices.Equal(inserted, want), "inserted = %v, want %v (the existing id and the repeats are duplicates)", inserted, want)

	for _, w := range []*store.Event{batch[0], existing, batch[2], platform, batch[50]} {
		got, err := s.Event(ctx, w.ID)
		require.NoError(t, err)
		e := *w
		e.Status = store.EventPending
		if len(e.Raw) == 0 && len(got.Raw) == 0 {
			e.Raw = got.Raw // SQLite reads an empty BLOB back as nil, as for InsertEventTx's
		}
		if !reflect.DeepEqual(got, e) {
			require.FailNow(t, fmt.Sprintf("Event(%s) =\n%+v\nwant\n%+v", w.ID, got, e))
		}
	}
	if list, err := s.ListEvents(ctx, store.EventFilter{}); err != nil || len(list) != 103 {
		require.FailNow(t, fmt.Sprintf("ListEvents = %d events, %v; want 103", len(list), err))
	}
	inTx(t, s.DB(), func(tx *sql.Tx) error {
		got, err := s.InsertEventsTx(ctx, tx, nil)
		if err != nil || len(got) != 0 {
			return fmt.Errorf("InsertEventsTx(nil) = %v, %v; want nothing", got, err)
		}
		return nil
	})
}
