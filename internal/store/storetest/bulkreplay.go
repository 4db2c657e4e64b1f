package storetest

import (
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
)

// testBulkReplay walks ReplayEventsTx through dead events in batches: only the
// filter's events move, oldest first, each once, and events that match again while
// the walk goes on (they died once more) are not taken twice.
func testBulkReplay(t *testing.T, s store.Store) {
	ctx := t.Context()
	var evs []store.Event
	for i := range 7 {
		ev := newEvent(fmt.Sprintf("evt_bulk_%d", i))
		// Received in reverse id order, so that the walk's order is visibly by time.
		ev.ReceivedAt = base.Add(time.Duration(10-i) * time.Minute)
		if i == 5 {
			ev.Type = "invoice.paid"
		}
		if i == 6 {
			ev.AccountID = "acct_other"
		}
		evs = append(evs, ev)
	}
	same := newEvent("evt_bulk_same_b") // same received time as evt_bulk_same_a: id breaks the tie
	same.ReceivedAt = base.Add(time.Hour)
	sameA := same
	sameA.ID, sameA.Raw = "evt_bulk_same_a", []byte(`{}`)
	failed := newEvent("evt_bulk_failed")
	evs = append(evs, same, sameA, failed)
	insertEvents(t, s, evs...)
	inTx(t, s, func(tx *sql.Tx) error {
		for _, ev := range evs {
			status := store.EventDead
			if ev.ID == failed.ID {
				status = store.EventFailed
			}
			if err := s.FinishEventTx(ctx, tx, ev.ID, store.EventOutcome{Status: status, Error: "boom"}); err != nil {
				return err
			}
		}
		return nil
	})

	f := store.EventFilter{Status: store.EventDead, AccountID: "acct_1", Type: "customer.created"}
	n, err := s.CountMatchingEvents(ctx, f)
	require.NoError(t, err, "CountMatchingEvents(%+v) = %d, %v; want 7", f, n, err)
	require.Equal(t, 7, n, "CountMatchingEvents(%+v) = %d, %v; want 7", f, n, err)
	since := f
	since.ReceivedSince = base.Add(7 * time.Minute)
	if n, err := s.CountMatchingEvents(ctx, since); err != nil || n != 6 { // minutes 10, 9, 8, 7 and the two at +1h
		require.FailNow(t, fmt.Sprintf("CountMatchingEvents(since) = %d, %v; want 6", n, err))
	}
	if n, err := s.CountMatchingEvents(ctx, store.EventFilter{Status: store.EventFailed}); err != nil || n != 1 {
		require.FailNow(t, fmt.Sprintf("CountMatchingEvents(failed) = %d, %v; want 1", n, err))
	}

	var (
		walked []string
		cursor store.EventCursor
	)
	for round := 0; ; round++ {
		var ids []string
		inTx(t, s, func(tx *sql.Tx) (err error) {
			ids, cursor, err = s.ReplayEventsTx(ctx, tx, f, cursor, 3)
			if err != nil || round != 0 {
				return err
			}
			// The first batch's events die again at once: the walk must not meet them again.
			for _, id := range ids {
				if err := s.FinishEventTx(ctx, tx, id, store.EventOutcome{Status: store.EventDead, Error: "again"}); err != nil {
					return err
				}
			}
			return nil
		})
		require.LessOrEqual(t, len(ids), 3, "batch of %d, want at most 3", len(ids))
		if len(ids) == 0 {
			break
		}
		walked = append(walked, ids...)
		require.LessOrEqual(t, round, 5, "the walk does not end: %v", walked)
	}
	want := []string{"evt_bulk_4", "evt_bulk_3", "evt_bulk_2", "evt_bulk_1", "evt_bulk_0", "evt_bulk_same_a", "evt_bulk_same_b"}
	require.True(t, slices.Equal(walked, want), "replayed %v, want %v (oldest first, each once)", walked, want)
	for id, status := range map[string]store.EventStatus{
		"evt_bulk_4": store.EventDead, "evt_bulk_1": store.EventPending, "evt_bulk_same_b": store.EventPending,
		"evt_bulk_5": store.EventDead, "evt_bulk_6": store.EventDead, failed.ID: store.EventFailed,
	} {
		ev, err := s.Event(ctx, id)
		require.NoError(t, err, "event %s: status %s, %v; want %s", id, ev.Status, err, status)
		require.Equal(t, status, ev.Status, "event %s: status %s, %v; want %s", id, ev.Status, err, status)
	}
	inTx(t, s, func(tx *sql.Tx) error {
		if _, _, err := s.ReplayEventsTx(ctx, tx, store.EventFilter{}, store.EventCursor{}, 10); err == nil {
			return fmt.Errorf("ReplayEventsTx without a status: no error")
		}
		return nil
	})
}

// testClaimSkipsPausedQueue: a paused queue gives no waiting job to a claim, so that a
// job that was running when processing was paused does not drain the queue.
func testClaimSkipsPausedQueue(t *testing.T, s store.Store) {
	client, err := river.NewClient(s.RiverDriver(), &river.Config{})
	require.NoError(t, err)
	ctx := t.Context()
	if _, err := client.Insert(ctx, sizedArgs{Events: make([]string, 1)}, nil); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	now := time.Now()
	if _, err := s.RiverDriver().GetExecutor().QueueCreateOrSetUpdatedAt(ctx, &riverdriver.QueueCreateOrSetUpdatedAtParams{
		Name: river.QueueDefault, Metadata: []byte("{}"), PausedAt: &now,
	}); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	claim := func() []store.WaitingJob {
		var got []store.WaitingJob
		inTx(t, s, func(tx *sql.Tx) (err error) {
			got, err = s.ClaimWaitingJobsTx(ctx, tx, sizedArgs{}.Kind(), river.QueueDefault, 10, func([]byte) bool { return true })
			return err
		})
		return got
	}
	got := claim()
	require.Empty(t, got, "claimed %d jobs of a paused queue, want none", len(got))
	require.NoError(t, client.QueueResume(ctx, river.QueueDefault, nil))
	got = claim()
	require.Len(t, got, 1, "claimed %d jobs once resumed, want 1", len(got))
}
