package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/stretchr/testify/require"
)

// A redelivery that arrives while its event is being pruned is a duplicate: its
// insert's NOT EXISTS (tombstone) cannot see the prune's uncommitted tombstone, and
// ON CONFLICT waits for the prune's delete and then inserts over the deleted row, so
// the insert paths check the tombstones again afterwards. The prune is held open here
// by doing its two statements in a transaction of the test's own, so that the insert
// is certain to run in the middle of it.
func TestRedeliveryDuringPruneIsDuplicate(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	for _, path := range []string{"InsertEventsTx", "InsertEventTx"} {
		t.Run(path, func(t *testing.T) {
			id := "evt_racing_prune_" + path
			inTx(t, s.DB(), func(tx *sql.Tx) error {
				if _, err := s.InsertEventTx(ctx, tx, batchEvent(id)); err != nil {
					return err
				}
				return s.FinishEventTx(ctx, tx, id, store.EventOutcome{Status: store.EventProcessed})
			})

			prune, err := s.DB().BeginTx(ctx, nil)
			require.NoError(t, err)
			defer prune.Rollback()
			if _, err := prune.ExecContext(ctx, `INSERT INTO appbackend_event_tombstones (id, created)
				SELECT id, created FROM appbackend_events WHERE id = $1`, id); err != nil {
				require.FailNow(t, fmt.Sprint(err))
			}
			if _, err := prune.ExecContext(ctx, `DELETE FROM appbackend_events WHERE id = $1`, id); err != nil {
				require.FailNow(t, fmt.Sprint(err))
			}

			type result struct {
				inserted bool
				err      error
			}
			done := make(chan result, 1)
			go func() {
				tx, err := s.DB().BeginTx(ctx, nil)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer tx.Rollback()
				var inserted bool
				if path == "InsertEventsTx" {
					var got []bool
					if got, err = s.InsertEventsTx(ctx, tx, []*store.Event{batchEvent(id)}); err == nil {
						inserted = got[0]
					}
				} else {
					inserted, err = s.InsertEventTx(ctx, tx, batchEvent(id))
				}
				if err == nil {
					err = tx.Commit()
				}
				done <- result{inserted, err}
			}()

			// The insert waits on the prune's row lock: then commit the prune.
			waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			for {
				var waiting int
				require.NoError(t, s.DB().QueryRowContext(waitCtx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting), "the insert never waited for the prune")
				if waiting > 0 {
					break
				}
				select {
				case r := <-done:
					require.FailNow(t, fmt.Sprintf("the insert finished before the prune committed: %+v", r))
				case <-time.After(5 * time.Millisecond): // polling pg_stat_activity
				}
			}
			require.NoError(t, prune.Commit())
			r := <-done
			require.NoError(t, r.err)
			require.False(t, r.inserted, "%s: a redelivery racing its event's prune was inserted as new", path)
			if _, err := s.Event(ctx, id); err == nil {
				require.FailNow(t, fmt.Sprintf("%s: the pruned event is back in the inbox", path))
			}
		})
	}
}
