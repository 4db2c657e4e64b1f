package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/appbackend/appbackend/internal/store"
)

// maxBatchRows is the largest statement of InsertEventsTx: a batch goes in chunks of
// 64, 32, …, 1 rows, so that at most 7 statement texts exist and each stays prepared
// in the connection's statement cache (a text per batch size would cycle through it).
const maxBatchRows = 64

var batchSQL [7]string // 2^0 … 2^6 rows
var batchSQLOnce sync.Once

// insertEventsSQL is the INSERT of n = 2^k rows: every row as pending, unless an
// event with its id exists or was pruned (a tombstone, APPBACKEND_PROCESSED_RETENTION);
// RETURNING names the ids actually inserted.
func insertEventsSQL(n int) string {
	batchSQLOnce.Do(func() {
		for k := range batchSQL {
			var b strings.Builder
			b.WriteString(`INSERT INTO appbackend_events
		(id, type, account_id, livemode, created, api_version, payload, status, attempts, not_installed, received_at)
	SELECT column1, column2, column3, column4, column5, column6, column7, 'pending', 0, FALSE, column8
	FROM (VALUES `)
			for i := range 1 << k {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("(?,?,?,?,?,?,?,?)")
			}
			b.WriteString(`) AS batch
	WHERE NOT EXISTS (SELECT 1 FROM appbackend_event_tombstones t WHERE t.id = batch.column1)
	ON CONFLICT (id) DO NOTHING
	RETURNING id`)
			batchSQL[k] = b.String()
		}
	})
	return batchSQL[bits.Len(uint(n))-1]
}

// InsertEventsTx inserts a batch of events, each as pending unless an event with its
// id exists, and reports for each whether it was inserted — as
// [store.Inbox.InsertEventTx] on each in turn would, an id repeated in the batch being
// inserted at its first occurrence (a later row of the same statement conflicts with
// it). A statement per up to 64 events instead of one per event is a fifth of a webhook
// commit's CPU time on SQLite, where every statement is a trip through the driver.
func (s *Store) InsertEventsTx(ctx context.Context, tx *sql.Tx, evs []*store.Event) ([]bool, error) {
	n := len(evs)
	if n == 0 {
		return nil, nil
	}
	insertedIDs := make(map[string]bool, n)
	args := make([]any, 0, 8*min(n, maxBatchRows))
	for rest := evs; len(rest) > 0; {
		size := min(1<<(bits.Len(uint(len(rest)))-1), maxBatchRows)
		chunk := rest[:size]
		rest = rest[size:]
		args = args[:0]
		for _, ev := range chunk {
			if ev.ReceivedAt.IsZero() {
				ev.ReceivedAt = time.Now()
			}
			ev.ReceivedAt = ev.ReceivedAt.Truncate(time.Microsecond).UTC()
			ev.Status = store.EventPending
			raw := ev.Raw
			if raw == nil {
				raw = []byte{}
			}
			args = append(args, ev.ID, ev.Type, ev.AccountID, ev.Livemode, ev.Created.Unix(), ev.APIVersion, raw, ev.ReceivedAt.UnixMicro())
		}
		if err := s.insertChunk(ctx, tx, insertEventsSQL(size), args, insertedIDs); err != nil {
			return nil, fmt.Errorf("insert %d events: %w", n, err)
		}
	}
	inserted := make([]bool, n)
	for i, ev := range evs {
		if insertedIDs[ev.ID] {
			inserted[i] = true
			delete(insertedIDs, ev.ID) // a repeat later in the batch is a duplicate
		}
	}
	return inserted, nil
}

func (s *Store) insertChunk(ctx context.Context, tx *sql.Tx, query string, args []any, insertedIDs map[string]bool) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		insertedIDs[id] = true
	}
	return rows.Err()
}
