package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/appbackend/appbackend/internal/store"
)

// insertEventsSQL inserts a batch from arrays in one statement. The rows go in by id,
// so that two replicas inserting overlapping batches lock the ids in the same order
// and never deadlock; RETURNING names the ids actually inserted.
const insertEventsSQL = `
	INSERT INTO appbackend_events
		(id, type, account_id, livemode, created, api_version, payload, status, attempts, not_installed, received_at)
	SELECT id, type, account_id, livemode, created, api_version, payload, 'pending', 0, FALSE, received_at
	FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::bigint[], $6::text[], $7::bytea[], $8::bigint[])
		AS batch(id, type, account_id, livemode, created, api_version, payload, received_at)
	-- A pruned event's id is still a duplicate (APPBACKEND_PROCESSED_RETENTION).
	WHERE NOT EXISTS (SELECT 1 FROM appbackend_event_tombstones t WHERE t.id = batch.id)
	ORDER BY id
	ON CONFLICT (id) DO NOTHING
	RETURNING id`

// InsertEventsTx inserts a batch of events in one statement, each as pending unless an
// event with its id exists, and reports for each whether it was inserted — as
// [store.Inbox.InsertEventTx] on each in turn would, an id repeated in the batch being
// inserted at its first occurrence. One round trip instead of one per event is what
// a webhook commit costs on PostgreSQL, where every statement crosses the network.
func (s *Store) InsertEventsTx(ctx context.Context, tx *sql.Tx, evs []*store.Event) ([]bool, error) {
	n := len(evs)
	if n == 0 {
		return nil, nil
	}
	var (
		ids, types, accounts, versions = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		live                           = make([]bool, n)
		created, received              = make([]int64, n), make([]int64, n)
		payloads                       = make([][]byte, n)
	)
	for i, ev := range evs {
		if ev.ReceivedAt.IsZero() {
			ev.ReceivedAt = time.Now()
		}
		ev.ReceivedAt = ev.ReceivedAt.Truncate(time.Microsecond).UTC()
		ev.Status = store.EventPending
		ids[i], types[i], accounts[i], versions[i] = ev.ID, ev.Type, ev.AccountID, ev.APIVersion
		live[i], created[i], received[i] = ev.Livemode, ev.Created.Unix(), ev.ReceivedAt.UnixMicro()
		payloads[i] = ev.Raw
		if payloads[i] == nil {
			payloads[i] = []byte{}
		}
	}
	rows, err := tx.QueryContext(ctx, insertEventsSQL, ids, types, accounts, live, created, versions, payloads, received)
	if err != nil {
		return nil, fmt.Errorf("insert %d events: %w", n, err)
	}
	defer rows.Close()
	insertedIDs := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("insert %d events: %w", n, err)
		}
		insertedIDs[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert %d events: %w", n, err)
	}
	rows.Close()
	if len(insertedIDs) > 0 {
		// A redelivery racing its event's prune (see sqlstore's DropTombstonedTx).
		fresh := make([]string, 0, len(insertedIDs))
		for id := range insertedIDs {
			fresh = append(fresh, id)
		}
		gone, err := s.DropTombstonedTx(ctx, tx, fresh)
		if err != nil {
			return nil, fmt.Errorf("insert %d events: %w", n, err)
		}
		for _, id := range gone {
			delete(insertedIDs, id)
		}
	}
	inserted := make([]bool, n)
	for i, id := range ids {
		if insertedIDs[id] {
			inserted[i] = true
			delete(insertedIDs, id) // a repeat later in the batch is a duplicate
		}
	}
	return inserted, nil
}
