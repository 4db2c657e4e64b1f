package e2e

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/e2etest"
)

// ackLedger records when each event was acknowledged (answered 2xx).
type ackLedger struct {
	mu    sync.Mutex
	acked map[string]time.Time
}

func (l *ackLedger) before(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, at := range l.acked {
		if at.Before(t) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (l *ackLedger) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// sendLoad posts events from a few senders until stop is closed.
func sendLoad(s *e2etest.Server, senders int, ledger *ackLedger, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ev := e2etest.NewSignedEvent("customer.created")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				d, err := ev.Post(ctx, s)
				cancel()
				if err == nil {
					if ok, _ := d.Received(); ok {
						ledger.mu.Lock()
						ledger.acked[ev.ID] = time.Now()
						ledger.mu.Unlock()
					}
				}
			}
		})
	}
	return &wg
}

// eventIDs reads the inbox of a SQLite file.
func eventIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT id FROM appbackend_events`)
	require.NoError(t, err)
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids[id] = true
	}
	require.NoError(t, rows.Err())
	return ids
}

func requireAll(t *testing.T, have map[string]bool, want []string, what string) {
	t.Helper()
	var missing []string
	for _, id := range want {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	require.Empty(t, missing, "%s: %d of %d acknowledged events missing", what, len(missing), len(want))
}

// TestBackupUnderLoadKillAndRestore: `appbackend backup` copies the database while
// webhooks pour in; the server is killed with -9 while a scheduled backup is being
// written; `restore` refuses while a server holds the database, then puts the last
// good scheduled backup back, and every event acknowledged before that backup
// started is in it.
func TestBackupUnderLoadKillAndRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	backups := filepath.Join(dir, "backups")
	dbPath := filepath.Join(dir, "app.db")
	s := e2etest.Start(t, e2etest.Options{
		Program:  e2etest.Serve,
		Database: "sqlite:" + dbPath,
		LogLevel: "warn",
		Env: map[string]string{
			"APPBACKEND_BACKUP_DIR":   backups,
			"APPBACKEND_BACKUP_EVERY": "250ms",
			"APPBACKEND_BACKUP_KEEP":  "1000",
		},
	})
	ledger := &ackLedger{acked: map[string]time.Time{}}
	stop := make(chan struct{})
	var stopOnce sync.Once
	stopLoad := func() { stopOnce.Do(func() { close(stop) }) }
	defer stopLoad()
	senders := sendLoad(s, 6, ledger, stop)
	require.True(t, e2etest.WaitFor(time.Minute, func() bool { return ledger.len() >= 200 }), "no load: %d acked", ledger.len())

	// An on-demand backup under load.
	manual := filepath.Join(dir, "manual.db")
	started := time.Now()
	res := s.CLI("backup", manual)
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stdout, "integrity ok")
	require.Contains(t, res.Stdout, "the newest is evt_")
	requireAll(t, eventIDs(t, manual), ledger.before(started), "manual backup")

	// doctor finds a recent scheduled backup.
	require.True(t, e2etest.WaitFor(30*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(backups, "appbackend-*.db"))
		return len(files) > 0
	}))
	res = s.CLI("doctor", "--json")
	require.NotContains(t, res.Stdout, "backup_stale", res.Stdout)

	// restore refuses while the server runs.
	res = s.CLI("restore", manual)
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "a server is using the database")

	// A scheduled backup completed under load, so that the last good one holds events
	// (the first is written at start, before any).
	require.True(t, e2etest.WaitFor(60*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(backups, "appbackend-*.db"))
		for _, f := range files {
			if at, ok := backup.FileTime(f); ok && at.After(started) {
				return true
			}
		}
		return false
	}), "no scheduled backup completed under load")

	// Kill -9 while a scheduled backup is being written (bounded wait for one).
	var caught atomic.Bool
	e2etest.WaitFor(30*time.Second, func() bool {
		partial, _ := filepath.Glob(filepath.Join(backups, "*.partial"))
		if len(partial) > 0 {
			s.Kill()
			caught.Store(true)
			return true
		}
		return false
	})
	if !caught.Load() {
		t.Log("no backup was caught in the middle; killing between two backups")
		s.Kill()
	}
	stopLoad()
	senders.Wait()

	// The last good backup: the newest complete file.
	files, err := filepath.Glob(filepath.Join(backups, "appbackend-*.db"))
	require.NoError(t, err)
	slices.Sort(files)
	require.NotEmpty(t, files)
	last := files[len(files)-1]
	lastStart, ok := backup.FileTime(last)
	require.True(t, ok, last)

	// The killed server's heartbeat goes stale within seconds; until then restore
	// refuses, afterwards it restores.
	var out e2etest.CLIResult
	require.True(t, e2etest.WaitFor(60*time.Second, func() bool {
		out = s.CLI("restore", last)
		return out.Code == 0
	}), "restore: exit %d, %s", out.Code, out.Stderr)
	require.Contains(t, out.Stdout, "restored")
	require.Contains(t, out.Stdout, "before-restore")
	for _, side := range []string{"-wal", "-shm"} {
		_, err := os.Stat(dbPath + side)
		require.True(t, os.IsNotExist(err), "stale %s beside the restored database", side)
	}
	want := ledger.before(lastStart)
	require.NotEmpty(t, want, "the last good backup %s started before any event was acknowledged", last)
	requireAll(t, eventIDs(t, dbPath), want, "restored database")

	// The restored database serves.
	s.Restart()
	res = s.CLI("events", "--json", "--limit", "1")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.True(t, strings.HasPrefix(strings.TrimSpace(res.Stdout), "["))
}

func TestBackupOfPostgresExplainsPgDump(t *testing.T) {
	t.Parallel()
	env := append(os.Environ(), "APPBACKEND_DATABASE=postgres://u@127.0.0.1:1/db")
	for _, cmd := range []string{"backup", "restore"} {
		res := e2etest.RunCLI(t, env, cmd, filepath.Join(t.TempDir(), "x.db"))
		require.Equal(t, 2, res.Code, cmd)
		require.Contains(t, res.Stderr, "pg_")
	}
}
