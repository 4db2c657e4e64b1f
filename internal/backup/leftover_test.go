package backup_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

// TestHelperCopy is not a test: TestKilledCopyLeavesNothing runs the test binary
// with it as the child process that copies (what `appbackend backup` does).
func TestHelperCopy(t *testing.T) {
	src, dest := os.Getenv("BACKUP_HELPER_SRC"), os.Getenv("BACKUP_HELPER_DEST")
	if src == "" {
		t.Skip("helper process only")
	}
	_, err := backup.Copy(context.Background(), src, dest)
	require.NoError(t, err)
}

func startCopy(t *testing.T, src, dest string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCopy$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BACKUP_HELPER_SRC="+src, "BACKUP_HELPER_DEST="+dest)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, &out
}

// partials lists the partials (and journals) in dir that belong to dest.
func partials(dir, dest string) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(dest)+".") && strings.Contains(e.Name(), ".partial") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// TestKilledCopyLeavesNothing: a copy killed with -9 leaves its partial; the next copy
// into the directory removes it (and an orphaned -journal of one), but never the
// partial of a copy that is still running. The copies are held mid-way by an
// exclusive lock on the source (a rollback-journal database), so that the kill lands
// while the partial is being written, with no timing involved.
func TestKilledCopyLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db, err := sql.Open("sqlite", src)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE appbackend_events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL);
		INSERT INTO appbackend_events VALUES ('evt_1', 1)`)
	require.NoError(t, err)
	hold, err := db.Conn(t.Context())
	require.NoError(t, err)
	defer hold.Close()
	_, err = hold.ExecContext(t.Context(), `BEGIN EXCLUSIVE`)
	require.NoError(t, err)
	_, err = hold.ExecContext(t.Context(), `INSERT INTO appbackend_events VALUES ('evt_2', 2)`)
	require.NoError(t, err)

	out := filepath.Join(dir, "backups", "out.db")
	require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o700))
	bdir := filepath.Dir(out)
	orphan := filepath.Join(bdir, "out.db.0badc0de.partial-journal") // its partial is gone
	require.NoError(t, os.WriteFile(orphan, []byte("journal"), 0o600))

	// A starts, writes its partial, waits for the source; kill -9.
	a, _ := startCopy(t, src, out)
	var leftover string
	require.Eventually(t, func() bool {
		for _, p := range partials(bdir, out) {
			if p != orphan {
				leftover = p
				return true
			}
		}
		return false
	}, time.Minute, 5*time.Millisecond, "the first copy's partial")
	require.NoError(t, a.Process.Kill())
	_ = a.Wait()
	_, err = os.Stat(leftover)
	require.NoError(t, err, "kill -9 leaves the partial")

	// B, the next run, removes A's leftover and the orphaned journal, then waits too.
	b, bOut := startCopy(t, src, out)
	var live string
	require.Eventually(t, func() bool {
		ps := partials(bdir, out)
		if len(ps) != 1 || ps[0] == leftover || ps[0] == orphan {
			return false
		}
		live = ps[0]
		return true
	}, time.Minute, 5*time.Millisecond, "the leftovers removed and the second copy's partial written")

	// C, into the same directory while B runs, leaves B's partial alone.
	out2 := filepath.Join(bdir, "out2.db")
	c, cOut := startCopy(t, src, out2)
	require.Eventually(t, func() bool { return len(partials(bdir, out2)) == 1 }, time.Minute, 5*time.Millisecond)
	_, err = os.Stat(live)
	require.NoError(t, err, "the partial of a live copy is kept")

	// Let B and C finish: two whole backups, nothing else.
	_, err = hold.ExecContext(t.Context(), `COMMIT`)
	require.NoError(t, err)
	require.NoError(t, b.Wait(), bOut.String())
	require.NoError(t, c.Wait(), cOut.String())
	entries, err := os.ReadDir(bdir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"out.db", "out2.db"}, names)
	for _, p := range []string{out, out2} {
		info, err := backup.Verify(t.Context(), p)
		require.NoError(t, err)
		require.EqualValues(t, 2, info.Events)
	}
}

// TestCopyRemovesLeftovers: the partials and journals that killed `appbackend backup`
// runs and scheduled backups left in the directory go at the next copy; other files
// stay.
func TestCopyRemovesLeftovers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := filepath.Join(b.dir, "backups")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	leftovers := []string{
		"nightly.db.1f2e3d4c.partial",
		"nightly.db.9a8b7c6d.partial",
		"appbackend-20260101T000000.000Z.db.0badc0de.partial",
		"appbackend-20260101T000000.000Z.db.0badc0de.partial-journal",
		"appbackend-20260102T000000.000Z.db.12345678.partial-journal", // its partial already gone
	}
	for _, name := range leftovers {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("half"), 0o600))
	}
	keep := []string{"notes.partial", "data.db", "x.db.notahex!.partial"}
	for _, name := range keep {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("mine"), 0o600))
	}
	_, err := backup.Copy(t.Context(), b.dbPath, filepath.Join(dir, "nightly.db"))
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, append(keep, "nightly.db"), names)
}

// TestHelperHoldOpen is not a test: TestRestoreRefusesCorruptDatabaseInUse runs the
// test binary with it as a process that has the database open.
func TestHelperHoldOpen(t *testing.T) {
	path := os.Getenv("BACKUP_HELPER_HOLD")
	if path == "" {
		t.Skip("helper process only")
	}
	st, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	defer st.Close()
	// Everything into the main file, so that damage to it is what a reader sees.
	if _, err := st.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	os.Stdout.WriteString("ready\n")
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
}

// TestRestoreRefusesCorruptDatabaseInUse: over a corrupt database no heartbeat can be
// read, but a process that has it open still shows (in its -shm locks): the restore
// refuses rather than swap the file under it.
func TestRestoreRefusesCorruptDatabaseInUse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	require.NoError(t, insertEvent(ctx, b.st, "evt_saved"))
	saved := filepath.Join(b.dir, "saved.db")
	_, err := backup.Copy(ctx, b.dbPath, saved)
	require.NoError(t, err)
	require.NoError(t, b.st.Close())

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldOpen$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BACKUP_HELPER_HOLD="+b.dbPath)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	data, err := os.ReadFile(b.dbPath)
	require.NoError(t, err)
	for i := 4096; i < len(data); i++ {
		data[i] = 0xA5
	}
	require.NoError(t, os.WriteFile(b.dbPath, data, 0o600))
	_, err = backup.Restore(ctx, b.dbPath, saved)
	require.ErrorIs(t, err, backup.ErrServerRunning)
	require.ErrorContains(t, err, "another process has it open")

	// Once it has closed the database, the restore goes through.
	stdin.Close()
	require.NoError(t, cmd.Wait())
	res, err := backup.Restore(ctx, b.dbPath, saved)
	require.NoError(t, err)
	require.NotEmpty(t, res.PreviousUnreadable)
}
