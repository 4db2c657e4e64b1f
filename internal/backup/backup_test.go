package backup_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

type testBundle struct {
	dir    string
	dbPath string
	st     *sqlite.Store
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	st, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return &testBundle{dir: dir, dbPath: path, st: st}
}

func insertEvent(ctx context.Context, st store.Store, id string) error {
	return store.InTx(ctx, st.DB(), func(tx *sql.Tx) error {
		_, err := st.InsertEventTx(ctx, tx, &store.Event{
			ID: id, Type: "customer.created", AccountID: "acct_1", Created: time.Now().Truncate(time.Second),
			Raw: []byte(`{"id":"` + id + `"}`), ReceivedAt: time.Now(),
		})
		return err
	})
}

// TestCopyUnderLoad copies while writers insert events: the copy is whole, and holds
// every event committed before it started.
func TestCopyUnderLoad(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	for i := range 200 {
		require.NoError(t, insertEvent(ctx, b.st, fmt.Sprintf("evt_pre_%03d", i)))
	}
	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		committed = map[string]time.Time{}
	)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && i < 5000; i++ {
				id := fmt.Sprintf("evt_w%d_%05d", w, i)
				if err := insertEvent(ctx, b.st, id); err != nil {
					assert.Fail(t, fmt.Sprintf("insert %s: %v", id, err))
					return
				}
				mu.Lock()
				committed[id] = time.Now()
				mu.Unlock()
			}
		}()
	}
	// Let the writers get going, then copy twice while they write.
	for n := 0; ; n++ {
		mu.Lock()
		got := len(committed)
		mu.Unlock()
		if got >= 20 || n > 2000 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var infos []backup.Info
	for i := range 2 {
		info, err := backup.Copy(ctx, b.dbPath, filepath.Join(b.dir, fmt.Sprintf("copy%d.db", i)))
		require.NoError(t, err)
		infos = append(infos, info)
	}
	stop.Store(true)
	wg.Wait()
	for _, info := range infos {
		require.Positive(t, info.Size)
		require.NotEmpty(t, info.NewestEventID)
		copyDB, err := sql.Open("sqlite", "file:"+info.Path+"?mode=ro")
		require.NoError(t, err)
		have := map[string]bool{}
		rows, err := copyDB.Query(`SELECT id FROM appbackend_events`)
		require.NoError(t, err)
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			have[id] = true
		}
		require.NoError(t, rows.Err())
		copyDB.Close()
		require.Len(t, have, int(info.Events))
		mu.Lock()
		for id, at := range committed {
			if at.Before(info.StartedAt) {
				require.True(t, have[id], "event %s committed before the copy started is missing", id)
			}
		}
		mu.Unlock()
		for i := range 200 {
			require.True(t, have[fmt.Sprintf("evt_pre_%03d", i)])
		}
	}
}

func TestCopyRefusesExistingFile(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dest := filepath.Join(b.dir, "exists.db")
	require.NoError(t, os.WriteFile(dest, []byte("x"), 0o600))
	_, err := backup.Copy(t.Context(), b.dbPath, dest)
	require.ErrorContains(t, err, "already exists")
}

func TestVerifyCorrupt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, insertEvent(t.Context(), b.st, "evt_1"))
	dest := filepath.Join(b.dir, "copy.db")
	_, err := backup.Copy(t.Context(), b.dbPath, dest)
	require.NoError(t, err)
	data, err := os.ReadFile(dest)
	require.NoError(t, err)
	// Overwrite the middle pages with garbage: the header still opens.
	for i := 4096; i < len(data) && i < 4096*6; i++ {
		data[i] = 0xA5
	}
	bad := filepath.Join(b.dir, "bad.db")
	require.NoError(t, os.WriteFile(bad, data, 0o600))
	_, err = backup.Verify(t.Context(), bad)
	require.Error(t, err)
}

func TestRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	require.NoError(t, insertEvent(ctx, b.st, "evt_before"))
	saved := filepath.Join(b.dir, "saved.db")
	_, err := backup.Copy(ctx, b.dbPath, saved)
	require.NoError(t, err)
	require.NoError(t, insertEvent(ctx, b.st, "evt_after"))

	// A server heartbeats: refused.
	require.NoError(t, b.st.Heartbeat(ctx, "proc_1"))
	_, err = backup.Restore(ctx, b.dbPath, saved)
	require.ErrorIs(t, err, backup.ErrServerRunning)

	// It stopped cleanly: the restore goes through and keeps the old file aside.
	require.NoError(t, b.st.ForgetProcess(ctx, "proc_1"))
	require.NoError(t, b.st.Close())
	res, err := backup.Restore(ctx, b.dbPath, saved)
	require.NoError(t, err)
	require.NotEmpty(t, res.Previous)
	_, err = os.Stat(b.dbPath + "-wal")
	require.True(t, errors.Is(err, os.ErrNotExist), "a stale -wal must not sit beside the restored file")

	st, err := sqlite.Open(ctx, b.dbPath)
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Event(ctx, "evt_before")
	require.NoError(t, err)
	_, err = st.Event(ctx, "evt_after")
	require.ErrorIs(t, err, store.ErrNotFound)

	old, err := sqlite.Open(ctx, res.Previous, sqlite.WithoutMigrations())
	require.NoError(t, err)
	defer old.Close()
	_, err = old.Event(ctx, "evt_after")
	require.NoError(t, err, "the replaced database is kept whole")
}

func TestSchedulerKeepsNewest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	require.NoError(t, insertEvent(ctx, b.st, "evt_1"))
	dir := filepath.Join(b.dir, "backups")
	s := &backup.Scheduler{DBPath: b.dbPath, Dir: dir, Keep: 2, Settings: b.st}
	var names []string
	for range 4 {
		info, err := s.Once(ctx)
		require.NoError(t, err)
		names = append(names, filepath.Base(info.Path))
		time.Sleep(2 * time.Millisecond) // distinct names (millisecond precision)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	require.Equal(t, names[2:], got)
	last, ok, err := backup.Last(ctx, b.st.Setting)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, names[3], filepath.Base(last.Path))
	require.Equal(t, "evt_1", last.NewestEventID)
}

func TestPartialCopiesRemoved(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := filepath.Join(b.dir, "backups")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	partial := filepath.Join(dir, "appbackend-20260101T000000.000Z.db.abcd.partial")
	require.NoError(t, os.WriteFile(partial, []byte("half"), 0o600))
	ctx, cancel := context.WithCancel(t.Context())
	s := &backup.Scheduler{DBPath: b.dbPath, Dir: dir, Every: time.Hour}
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "appbackend-*.db"))
		return len(files) == 1
	}, time.Minute, 10*time.Millisecond)
	cancel()
	<-done
	_, err := os.Stat(partial)
	require.True(t, errors.Is(err, os.ErrNotExist))
}
