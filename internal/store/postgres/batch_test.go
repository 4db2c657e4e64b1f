package postgres_test

import (
	"database/sql"
	"fmt"
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
