package events

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
)

// TestDeliverFirstAccountsConcurrentlyEachInOrder: a job's events of different
// accounts are delivered at the same time, while one account's events go one after the
// other in the job's order; a processed or unknown event is not delivered but left to
// the transaction, and a failed delivery is recorded on its event alone. On the old
// code (one event at a time) acct_a's first delivery waits in vain for acct_b's.
func TestDeliverFirstAccountsConcurrentlyEachInOrder(t *testing.T) {
	t.Parallel()
	st := dbtest.SQLite(t)
	ctx := t.Context()
	mk := func(id, account string) *store.Event {
		return &store.Event{ID: id, Type: "customer.created", AccountID: account, Livemode: true,
			Created: time.Unix(1700000000, 0).UTC(), APIVersion: "2023-10-16", Raw: []byte(`{"id":"` + id + `"}`),
			ReceivedAt: time.Unix(1700000001, 0).UTC()}
	}
	// Job order differs from id order, which the store reads in.
	evs := []*store.Event{mk("evt_5", "acct_a"), mk("evt_4", "acct_b"), mk("evt_3", "acct_a"),
		mk("evt_2", "acct_b"), mk("evt_1", "acct_a"), mk("evt_0", "acct_c")}
	require.NoError(t, store.InTx(ctx, st.DB(), func(tx *sql.Tx) error {
		for _, ev := range evs {
			if _, err := st.InsertEventTx(ctx, tx, ev); err != nil {
				return err
			}
		}
		return st.FinishEventTx(ctx, tx, "evt_0", store.EventOutcome{Status: store.EventProcessed})
	}))

	var (
		mu       sync.Mutex
		order    = map[string][]string{}
		inFlight = map[string]int{}
		overlap  []string
	)
	bStarted := make(chan struct{})
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	deliver := func(ctx context.Context, ev *store.Event) error {
		mu.Lock()
		order[ev.AccountID] = append(order[ev.AccountID], ev.ID)
		if inFlight[ev.AccountID]++; inFlight[ev.AccountID] > 1 {
			overlap = append(overlap, ev.ID)
		}
		mu.Unlock()
		defer func() { mu.Lock(); inFlight[ev.AccountID]--; mu.Unlock() }()
		switch ev.ID {
		case "evt_4":
			close(bStarted)
		case "evt_5":
			select {
			case <-bStarted:
			case <-waitCtx.Done():
				return errors.New("acct_b's delivery never started while acct_a's was under way")
			}
		case "evt_2":
			return errors.New("upstream answered 500")
		}
		return nil
	}
	p, err := New(openRuntime(st, runtime.Config{}), Config{Deliver: deliver})
	require.NoError(t, err)
	ids := []string{"evt_5", "evt_4", "evt_3", "evt_missing", "evt_2", "evt_1", "evt_0"}
	job := &river.Job[ProcessEventsArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 5}, Args: ProcessEventsArgs{EventIDs: ids}}
	ready, _, failures := p.deliverFirst(ctx, job, store.EventFailed)

	require.Empty(t, overlap, "an account's deliveries overlapped")
	require.Equal(t, []string{"evt_5", "evt_3", "evt_1"}, order["acct_a"], "acct_a in the job's order")
	require.Equal(t, []string{"evt_4", "evt_2"}, order["acct_b"], "acct_b in the job's order")
	require.NotContains(t, order, "acct_c", "a processed event is not delivered again")
	require.Equal(t, []string{"evt_5", "evt_4", "evt_3", "evt_missing", "evt_1", "evt_0"}, ready, "all but the failed one, in the job's order")
	require.Len(t, failures, 1)
	require.ErrorContains(t, failures[0], "event evt_2: upstream answered 500")
	failed, err := st.Event(ctx, "evt_2")
	require.NoError(t, err)
	require.Equal(t, store.EventFailed, failed.Status)
	require.Equal(t, "upstream answered 500", failed.LastError)
}
