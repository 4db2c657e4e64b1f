package webhook_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/webhook"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// fillDisk makes the database refuse new events the way a full disk does, and
// returns the function that makes room again. SQLite: max_page_count at the current
// size (SQLITE_FULL, as from a full disk; the pragma holds on the store's one write
// connection). PostgreSQL: a trigger that raises disk_full (SQLSTATE 53100), the
// error a full data directory gives.
func fillDisk(t *testing.T, kind string, st store.Store) (makeRoom func()) {
	t.Helper()
	db := st.DB()
	exec := func(q string) {
		t.Helper()
		_, err := db.ExecContext(t.Context(), q)
		require.NoError(t, err, "%s", q)
	}
	if kind == "sqlite" {
		var pages int
		require.NoError(t, db.QueryRowContext(t.Context(), `PRAGMA page_count`).Scan(&pages))
		var got int
		require.NoError(t, db.QueryRowContext(t.Context(), `PRAGMA max_page_count = `+strconv.Itoa(pages)).Scan(&got))
		return func() { exec(`PRAGMA max_page_count = 4294967294`) }
	}
	exec(`CREATE OR REPLACE FUNCTION test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$`)
	exec(`CREATE TRIGGER test_disk_full BEFORE INSERT ON appbackend_events FOR EACH ROW EXECUTE FUNCTION test_disk_full()`)
	return func() { exec(`DROP TRIGGER test_disk_full ON appbackend_events`) }
}

// TestDiskFullMakesTheInboxUnready: once a batch fails because the database has no
// room, WriteErr (GET /readyz) says so until a write succeeds again, a batch or,
// while no webhook comes, its own probe every ProbeEvery; on both databases.
func TestDiskFullMakesTheInboxUnready(t *testing.T) {
	t.Parallel()
	for name, open := range databases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var offset atomic.Int64
			now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			logs := &lockedBuffer{}
			in := newInbox(t, open(t), webhook.Config{Archetype: &baseservice.Archetype{Now: now, Logger: slog.New(slog.NewTextHandler(logs, nil))}})
			if err := in.rcv.WriteErr(t.Context()); err != nil {
				require.FailNow(t, fmt.Sprintf("WriteErr before = %v, want nil", err))
			}
			makeRoom := fillDisk(t, name, in.st)
			big := webhooktest.Event("customer.updated", webhooktest.Fields(map[string]any{"metadata": map[string]any{"blob": strings.Repeat("x", 200_000)}}))
			r := in.b.post(t, big)
			require.Equal(t, http.StatusServiceUnavailable, r.status, "POST with the disk full = %d %s, want 503", r.status, r.raw)
			err := in.rcv.WriteErr(t.Context())
			var full *webhook.DiskFullError
			require.ErrorAs(t, err, &full, "WriteErr with the disk full = %v, want a DiskFullError", err)
			require.Contains(t, err.Error(), "no room", "WriteErr with the disk full = %v, want a DiskFullError", err)

			// Stripe retries at once and often: the failed batches are not one
			// error line each.
			start := time.Now()
			for range 30 {
				r := in.b.post(t, big)
				require.Equal(t, http.StatusServiceUnavailable, r.status, "POST with the disk full = %d %s, want 503", r.status, r.raw)
			}
			seconds := int(time.Since(start)/time.Second) + 2
			if n := strings.Count(logs.String(), "webhook batch not stored"); n < 1 || n > seconds {
				require.FailNow(t, fmt.Sprintf("31 failed batches in under %d s logged %d lines, want 1 to %d:\n%s", seconds, n, seconds, logs.String()))
			}

			// Room again: the next batch clears it.
			makeRoom()
			in.b.postOK(t, big)
			if err := in.rcv.WriteErr(t.Context()); err != nil {
				require.FailNow(t, fmt.Sprintf("WriteErr after a stored batch = %v, want nil", err))
			}

			// Full again, then room again without any webhook: the probe finds out,
			// but not before ProbeEvery has passed since the failed batch.
			makeRoom = fillDisk(t, name, in.st)
			r = in.b.post(t, webhooktest.Event("customer.updated", webhooktest.Fields(map[string]any{"metadata": map[string]any{"blob": strings.Repeat("y", 200_000)}})))
			require.Equal(t, http.StatusServiceUnavailable, r.status, "POST with the disk full again = %d %s, want 503", r.status, r.raw)
			makeRoom()
			if err := in.rcv.WriteErr(t.Context()); err == nil {
				require.FailNow(t, "WriteErr right after the failed batch = nil, want the disk-full error (no probe yet)")
			}
			offset.Add(int64(webhook.ProbeEvery))
			if err := in.rcv.WriteErr(t.Context()); err != nil {
				require.FailNow(t, fmt.Sprintf("WriteErr after ProbeEvery with room = %v, want nil (the probe wrote)", err))
			}
		})
	}
}

// lockedBuffer is a log sink the receiver writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
