package postgres_test

import (
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func batchEvent(id string) *store.Event {
	return &store.Event{
		ID: id, Type: "customer.created", AccountID: "acct_1", Livemode: true, Created: base,
		APIVersion: "2023-10-16", Raw: []byte(`{"id":"` + id + `"}`), ReceivedAt: base.Add(time.Second),
	}
}

// A batch stores what InsertEventTx on each event in turn would, and says which
// events were new.
func TestInsertEventsTx(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t))
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
	var inserted []bool
	inTx(t, s.DB(), func(tx *sql.Tx) (err error) {
		inserted, err = s.InsertEventsTx(ctx, tx, batch)
		return err
	})
	want := []bool{true, false, true, false, true}
	require.True(t, slices.Equal(inserted, want), "inserted = %v, want %v (the existing id and the repeat are duplicates)", inserted, want)

	for _, want := range []*store.Event{batch[0], existing, batch[2], platform} {
		got, err := s.Event(ctx, want.ID)
		require.NoError(t, err)
		w := *want
		w.Status = store.EventPending
		if w.Raw == nil {
			w.Raw = []byte{}
		}
		if !reflect.DeepEqual(got, w) {
			require.FailNow(t, fmt.Sprintf("Event(%s) =\n%+v\nwant\n%+v", want.ID, got, w))
		}
	}
	list, err := s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err, "ListEvents = %d events, %v; want 4", len(list), err)
	require.Len(t, list, 4, "ListEvents = %d events, %v; want 4", len(list), err)
	inTx(t, s.DB(), func(tx *sql.Tx) error {
		got, err := s.InsertEventsTx(ctx, tx, nil)
		if err != nil || len(got) != 0 {
			return fmt.Errorf("InsertEventsTx(nil) = %v, %v; want nothing", got, err)
		}
		return nil
	})
}

// Replicas committing overlapping batches in opposite orders at once: one statement
// per batch locks the ids in the same order, so neither deadlocks and each id is
// inserted once.
func TestInsertEventsTxConcurrentBatches(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	const rounds, size = 20, 50
	for round := range rounds {
		var ids []string
		for i := range size {
			ids = append(ids, fmt.Sprintf("evt_%02d_%03d", round, i))
		}
		reversed := slices.Clone(ids)
		slices.Reverse(reversed)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			inserted int
		)
		for _, order := range [][]string{ids, reversed} {
			wg.Go(func() {
				var batch []*store.Event
				for _, id := range order {
					batch = append(batch, batchEvent(id))
				}
				tx, err := s.DB().BeginTx(ctx, nil)
				if err != nil {
					assert.Fail(t, fmt.Sprint(err))
					return
				}
				defer tx.Rollback()
				got, err := s.InsertEventsTx(ctx, tx, batch)
				if err != nil {
					assert.Fail(t, fmt.Sprintf("round %d: %v", round, err))
					return
				}
				// Hold the locks a moment, as a batch's River insert and commit do.
				time.Sleep(5 * time.Millisecond)
				if err := tx.Commit(); err != nil {
					assert.Fail(t, fmt.Sprintf("round %d: commit: %v", round, err))
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, ok := range got {
					if ok {
						inserted++
					}
				}
			})
		}
		wg.Wait()
		require.Equal(t, size, inserted, "round %d: %d inserted by the two batches, want %d (each id once)", round, inserted, size)
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
