package events

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
)

func TestIsThin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want bool
	}{
		{`{"id":"evt_1","object":"v2.core.event","type":"v1.billing.meter.no_meter_found"}`, true},
		{`{"object" : "v2.core.event", "id":"evt_1"}`, true},
		{`{"id":"evt_1","object":"event","type":"customer.updated","data":{"object":{"object":"customer","metadata":{"note":"v2.core.event"}}}}`, false},
		{`{"id":"evt_1","object":"event"}`, false},
		{`not json "v2.core.event"`, false},
	} {
		require.Equal(t, tc.want, IsThin([]byte(tc.body)), "IsThin(%s)", tc.body)
	}
}

// thinBundle is a processor with one worker whose FetchThin serves fetched events from
// a map (an error for the others) and whose handler records the Raw it was given.
type thinBundle struct {
	st store.Store
	p  *Processor
	mu sync.Mutex
	// full is what FetchThin answers per id; fetched counts its calls.
	full    map[string]string
	fetched map[string]int
	seen    map[string]string
}

func startThinProcessor(t *testing.T, st store.Store) *thinBundle {
	t.Helper()
	b := &thinBundle{st: st, full: map[string]string{}, fetched: map[string]int{}, seen: map[string]string{}}
	b.p = buildProcessor(t, st, runtime.Config{PollInterval: 20 * time.Millisecond, RetryPolicy: fixedRetryPolicy{}}, Config{Workers: 1,
		FetchThin: func(ctx context.Context, ev *store.Event) ([]byte, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.fetched[ev.ID]++
			full, ok := b.full[ev.ID]
			if !ok {
				return nil, errors.New("stripe: no such event")
			}
			return []byte(full), nil
		}})
	b.p.On("*", func(ctx context.Context, ev store.Event) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.seen[ev.ID] = string(ev.Raw)
		return nil
	})
	return b
}

func (b *thinBundle) append(t *testing.T, id, raw string) {
	t.Helper()
	ev := &store.Event{ID: id, Type: "v1.billing.meter.no_meter_found", Created: time.Now(), Raw: []byte(raw), ReceivedAt: time.Now()}
	err := store.InTx(t.Context(), b.st.DB(), func(tx *sql.Tx) error {
		_, err := b.p.AppendTx(t.Context(), tx, []*store.Event{ev})
		return err
	})
	require.NoError(t, err)
}

func (b *thinBundle) waitSeen(t *testing.T, id string) string {
	t.Helper()
	var raw string
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		var ok bool
		raw, ok = b.seen[id]
		return ok
	}, 10*time.Second, 10*time.Millisecond, "event %s was not handled", id)
	return raw
}

type fixedRetryPolicy struct{}

func (fixedRetryPolicy) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(20 * time.Millisecond)
}

// A snapshot event's job that takes over waiting jobs leaves a thin event's job to
// itself, so that the thin event is fetched before its transaction; the handler gets
// the fetched event, and a failed fetch is retried.
func TestThinJobFetchedNotAbsorbed(t *testing.T) {
	t.Parallel()
	for name, open := range dbtest.Stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := startThinProcessor(t, open(t))
			// Stored before the processor starts: the snapshot job is the oldest, so the
			// one worker runs it first, and it would absorb the thin job behind it.
			b.append(t, "evt_snapshot", `{"id":"evt_snapshot","object":"event","type":"v1.billing.meter.no_meter_found"}`)
			notification := `{"id":"evt_thin","object":"v2.core.event","type":"v1.billing.meter.no_meter_found","context":"acct_1"}`
			b.append(t, "evt_thin", notification)
			full := `{"id":"evt_thin","object":"v2.core.event","data":{"meter":"mtr_1"}}`
			b.mu.Lock()
			b.full["evt_thin"] = full
			b.mu.Unlock()
			startProcessor(t, b.p)
			require.Equal(t, full, b.waitSeen(t, "evt_thin"), "the handler sees the fetched event")
			b.waitSeen(t, "evt_snapshot")
			b.mu.Lock()
			defer b.mu.Unlock()
			require.Equal(t, map[string]int{"evt_thin": 1}, b.fetched, "one fetch of evt_thin, none of the snapshot event")
		})
	}
}
