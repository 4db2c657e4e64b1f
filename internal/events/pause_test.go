package events

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

// recorder is a started processor whose handler records the order it applied events.
type recorder struct {
	p    *Processor
	mu   sync.Mutex
	seen []string
}

func (r *recorder) applied() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func startRecorder(t *testing.T, st store.Store) *recorder {
	t.Helper()
	r := &recorder{}
	rt := openRuntime(st, runtime.Config{PollInterval: 50 * time.Millisecond})
	// One worker: the order of processing is the queue's own, not a race of workers.
	p, err := New(rt, Config{Workers: 1})
	require.NoError(t, err)
	require.NoError(t, rt.Build())
	p.On("*", func(ctx context.Context, ev store.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.seen = append(r.seen, ev.ID)
		return nil
	})
	require.NoError(t, rt.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Stop(ctx)
	})
	r.p = p
	return r
}

// cliProcessor is a processor that is never started, as `appbackend events pause`
// builds one: its pause reaches the running processors through the database only.
func cliProcessor(t *testing.T, st store.Store) *Processor {
	t.Helper()
	rt := openRuntime(st, runtime.Config{})
	p, err := New(rt, Config{})
	require.NoError(t, err)
	require.NoError(t, rt.Build())
	return p
}

// waitUntil polls cond every 20 ms for up to 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 30*time.Second, 20*time.Millisecond, what)
}

// appendEvents stores n events, each in its own transaction with its own job (one
// webhook each), received in id order.
func appendEvents(t *testing.T, st store.Store, p *Processor, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("evt_%s_%03d", prefix, i)
		ev := &store.Event{ID: id, Type: "customer.created", AccountID: "acct_1", Livemode: true,
			Created: time.Now(), Raw: []byte(`{"id":"` + id + `"}`), ReceivedAt: time.Now()}
		err := store.InTx(t.Context(), st.DB(), func(tx *sql.Tx) error {
			_, err := p.AppendTx(t.Context(), tx, []*store.Event{ev})
			return err
		})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	return ids
}

// TestPauseHoldsEventsAndResumeCatchesUpInOrder pauses processing from another
// (never started) processor, as the CLI does: the running processors apply it from
// the database, events appended meanwhile are stored but not processed, and a resume
// processes them oldest first. On PostgreSQL two replicas share the database and both
// stop.
func TestPauseHoldsEventsAndResumeCatchesUpInOrder(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stores []store.Store
			if name == "sqlite" {
				st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "appbackend.db"))
				require.NoError(t, err)
				stores = append(stores, st)
			} else {
				// Two replicas: each its own pools on one database.
				url := pgtest.NewDatabase(t)
				for range 2 {
					st, err := postgres.Open(t.Context(), url)
					require.NoError(t, err)
					stores = append(stores, st)
				}
			}
			for _, st := range stores {
				t.Cleanup(func() { st.Close() })
			}
			st := stores[0]
			var replicas []*recorder
			for _, s := range stores {
				replicas = append(replicas, startRecorder(t, s))
			}
			cli := cliProcessor(t, st)

			// Processing works before the pause.
			before := appendEvents(t, st, replicas[0].p, "before", 3)
			waitUntil(t, "events before the pause processed", func() bool { return len(allApplied(replicas)) == len(before) })

			require.NoError(t, cli.Pause(t.Context()))
			_, paused, err := PauseState(t.Context(), st)
			require.NoError(t, err)
			require.True(t, paused, "PauseState after Pause")
			for _, r := range replicas {
				waitUntil(t, "a replica applies the pause", r.p.PausedHere)
			}
			held := appendEvents(t, st, replicas[len(replicas)-1].p, "held", 30)
			// An observation window, not a synchronisation: a correct pause passes
			// whatever its length; a broken one is caught once a poll (50 ms) passes.
			for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				got := allApplied(replicas)
				require.Len(t, got, len(before), "while paused, processed %v", got[len(before):])
			}
			counts, err := st.CountEvents(t.Context())
			require.NoError(t, err)
			require.Equal(t, len(held), counts[store.EventPending], "while paused, the stored events are pending: %v", counts)

			require.NoError(t, cli.Resume(t.Context()))
			waitUntil(t, "the held events processed after resume", func() bool { return len(allApplied(replicas)) == len(before)+len(held) })
			for _, r := range replicas {
				require.False(t, r.p.PausedHere(), "a replica still reports paused after the resume")
			}
			if len(replicas) == 1 {
				require.Equal(t, held, replicas[0].applied()[len(before):], "after resume, the held events oldest first")
			} else {
				got := allApplied(replicas)
				slices.Sort(got)
				want := append(slices.Clone(before), held...)
				slices.Sort(want)
				require.Equal(t, want, got, "each event processed once")
			}
		})
	}
}

func allApplied(rs []*recorder) []string {
	var all []string
	for _, r := range rs {
		all = append(all, r.applied()...)
	}
	return all
}
