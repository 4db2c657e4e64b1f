// Package backup copies a running appbackend's SQLite database to a file, checks the
// copy, keeps a rotation of scheduled copies, and swaps a copy back in.
//
// A copy is made with VACUUM INTO on a connection of its own: SQLite reads one
// snapshot of the database (a read transaction in WAL mode, which never blocks the
// server's writer) and writes it compacted to a new file. The file is written under a
// temporary name, checked with PRAGMA integrity_check, synced, and only then renamed
// into place, so a crash in the middle (kill -9, power cut) leaves at worst a
// temporary file that the next run removes, never a half-written backup under a
// backup's name. The writer holds a lock on its temporary file (see partial.go), so
// that the clean-up never removes one a live run is writing.
//
// Every file written here is created 0600 whatever the umask: a copy holds what the
// database holds (dev secrets, certificates' private keys).
//
// PostgreSQL is backed up with its own tools (pg_dump, or the provider's snapshots);
// [ErrPostgres] says so.
package backup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/appbackend/appbackend/internal/store/sqlstore"
)

// ErrPostgres is returned for a PostgreSQL database: appbackend does not copy one.
var ErrPostgres = errors.New("the database is PostgreSQL: back it up with pg_dump (for example `pg_dump --format=custom --file=appbackend.dump \"$APPBACKEND_DATABASE\"`, restored with pg_restore) or your provider's snapshots; `appbackend backup` copies SQLite databases only")

// ErrServerRunning is returned by [Restore] while a server uses the database.
var ErrServerRunning = errors.New("a server is using the database")

// ErrCorrupt is returned when a copy fails PRAGMA integrity_check.
var ErrCorrupt = errors.New("integrity check failed")

// Info describes one backup file.
type Info struct {
	Path string `json:"path"`
	// Size is the file's size in bytes.
	Size int64 `json:"size"`
	// Events counts the inbox's events in the copy.
	Events int64 `json:"events"`
	// NewestEventID and NewestEventAt are the newest event the copy holds (by received
	// time); empty and zero if it holds none.
	NewestEventID string    `json:"newest_event_id,omitempty"`
	NewestEventAt time.Time `json:"newest_event_at,omitzero"`
	// StartedAt is when the copy's snapshot was taken (at the latest); every event
	// acknowledged before it is in the copy.
	StartedAt time.Time `json:"started_at"`
	// Took is how long writing and checking the copy took.
	Took time.Duration `json:"took"`
}

// partialSuffix marks a copy being written; such files are never a backup.
const partialSuffix = ".partial"

// sourceDSN opens the database for a copy: a long busy timeout (the server may hold
// the write lock while the read snapshot starts) and no write of its own.
func sourceDSN(path string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + escaped + "?_pragma=busy_timeout(30000)&_pragma=query_only(0)"
}

// Copy writes a consistent copy of the SQLite database at dbPath to dest, checks it,
// and returns what it holds. dest must not exist. The server may keep running: the
// copy is one snapshot, and the server's writes go on meanwhile.
func Copy(ctx context.Context, dbPath, dest string) (Info, error) {
	if _, err := os.Stat(dest); err == nil {
		return Info{}, fmt.Errorf("%s already exists: give a new file name", dest)
	} else if !errors.Is(err, os.ErrNotExist) {
		return Info{}, err
	}
	if _, err := os.Stat(dbPath); err != nil {
		return Info{}, fmt.Errorf("database %s: %w", dbPath, err)
	}
	begin := time.Now()
	removeLeftovers(filepath.Dir(dest))
	// VACUUM INTO writes into an empty file that exists: created here 0600, so the
	// copy (and the -journal SQLite gives it the same mode) is never readable by
	// others, and locked for as long as this run writes it.
	p, err := createPartial(dest)
	if err != nil {
		return Info{}, err
	}
	defer p.discard() // after a success it was renamed away
	tmp := p.path
	db, err := sql.Open("sqlite", sourceDSN(dbPath))
	if err != nil {
		return Info{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	started := time.Now()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return Info{}, fmt.Errorf("copy %s: %w", dbPath, err)
	}
	_ = db.Close()
	info, err := Verify(ctx, tmp)
	if err != nil {
		return Info{}, err
	}
	if err := p.f.Sync(); err != nil {
		return Info{}, err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return Info{}, err
	}
	if err := syncDir(filepath.Dir(dest)); err != nil {
		return Info{}, err
	}
	info.Path = dest
	info.StartedAt = started
	info.Took = time.Since(begin)
	return info, nil
}

// Verify runs PRAGMA integrity_check on the SQLite file at path and reads its newest
// event. The file is opened read-only and left unchanged.
func Verify(ctx context.Context, path string) (Info, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Info{}, err
	}
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+escaped+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return Info{}, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return Info{}, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return Info{}, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	rows.Close()
	if len(problems) > 0 {
		return Info{}, fmt.Errorf("%s: %w: %s", path, ErrCorrupt, strings.Join(problems, "; "))
	}
	info := Info{Path: path, Size: fi.Size()}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM appbackend_events`).Scan(&info.Events); err != nil {
		return Info{}, fmt.Errorf("%s is not an appbackend database: %v", path, err)
	}
	var micros int64
	err = db.QueryRowContext(ctx, `SELECT id, received_at FROM appbackend_events ORDER BY received_at DESC, id DESC LIMIT 1`).Scan(&info.NewestEventID, &micros)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Info{}, fmt.Errorf("%s: read newest event: %v", path, err)
	default:
		info.NewestEventAt = time.UnixMicro(micros).UTC()
	}
	return info, nil
}

// freshHeartbeat is how recent a process's heartbeat must be for Restore to take the
// database as in use: a few of the server's one-second heartbeats. A server killed
// with -9 keeps its row; the restore works once this much time has passed.
const freshHeartbeat = 5 * time.Second

// InUse reports whether a server heartbeats on the SQLite database at dbPath.
func InUse(ctx context.Context, dbPath string) (bool, error) {
	db, err := sql.Open("sqlite", sourceDSN(dbPath))
	if err != nil {
		return false, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM appbackend_processes
		WHERE heartbeat_at > CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) - ?`,
		freshHeartbeat.Microseconds()).Scan(&n)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return false, nil // an older or empty database: no server has run on it
		}
		return false, fmt.Errorf("read the processes of %s: %w", dbPath, err)
	}
	return n > 0, nil
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Info
	// Previous is where the database that was replaced now is; empty if there was none.
	Previous string
	// PreviousUnreadable is why the replaced database could not be read (it is
	// corrupt, or not a database); empty if it could. It is kept aside all the same.
	PreviousUnreadable string
}

// Restore replaces the SQLite database at dbPath with the backup file from, after
// checking the backup: it must pass the integrity check and be an appbackend database
// of a schema version this binary knows. It refuses (ErrServerRunning) while a server
// heartbeats on the database. The database it replaces is kept beside it, as
// PATH.before-restore-TIMESTAMP (with -2, -3, … when that name is taken, never
// overwriting an earlier kept copy), with its -wal file if it had one, so a mistaken
// restore can be undone; stale -wal and -shm files never meet the restored file. A
// corrupt database is replaced too: that is when a restore is needed most.
func Restore(ctx context.Context, dbPath, from string) (RestoreResult, error) {
	info, err := Verify(ctx, from)
	if err != nil {
		return RestoreResult{}, err
	}
	if err := checkSchema(ctx, from); err != nil {
		return RestoreResult{}, err
	}
	res := RestoreResult{Info: info}
	exists := false
	if _, err := os.Stat(dbPath); err == nil {
		exists = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	readable := exists
	if exists {
		busy, err := InUse(ctx, dbPath)
		switch {
		case isCorrupt(err):
			// No heartbeat can be read from a corrupt file; a process that still has
			// it open (a server that started before the damage) shows in its -shm locks.
			readable = false
			res.PreviousUnreadable = cleanError(err)
			if open, lerr := walOpenElsewhere(dbPath); lerr == nil && open {
				return res, fmt.Errorf("%w (%s is corrupt, and another process has it open): stop it first (systemctl stop appbackend), then restore", ErrServerRunning, dbPath)
			}
		case err != nil:
			return res, err
		case busy:
			return res, fmt.Errorf("%w (%s): stop it first (systemctl stop appbackend), then restore", ErrServerRunning, dbPath)
		}
	}
	dir := filepath.Dir(dbPath)
	removeLeftovers(dir)
	// The copy goes beside the database first, so the final step is one rename on one
	// file system.
	p, err := createPartial(dbPath)
	if err != nil {
		return res, err
	}
	defer p.discard()
	if err := copyInto(from, p.f); err != nil {
		return res, err
	}
	if readable {
		// Fold the old database's WAL into it, so that the file kept aside is whole.
		if err := checkpoint(ctx, dbPath); err != nil {
			if !isCorrupt(err) {
				return res, err
			}
			res.PreviousUnreadable = cleanError(err) // its -wal goes aside with it
		}
	}
	if exists {
		prev, err := keepAside(dbPath)
		if err != nil {
			return res, err
		}
		res.Previous = prev
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		side := dbPath + suffix
		if _, err := os.Stat(side); err != nil {
			continue
		}
		if suffix == "-wal" && res.Previous != "" {
			if err := renameNoReplace(side, res.Previous+suffix); err != nil {
				return res, err
			}
			continue
		}
		if err := os.Remove(side); err != nil {
			return res, err
		}
	}
	if err := os.Rename(p.path, dbPath); err != nil {
		return res, err
	}
	if err := syncDir(dir); err != nil {
		return res, err
	}
	res.Path = dbPath
	return res, nil
}

// keepAside renames the database at dbPath to a new PATH.before-restore-TIMESTAMP
// name and returns it. The timestamp has one-second precision for people to read;
// two restores within a second take -2, -3, …: a kept copy is never overwritten.
func keepAside(dbPath string) (string, error) {
	base := dbPath + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	for n := 1; n <= 1000; n++ {
		name := base
		if n > 1 {
			name += "-" + strconv.Itoa(n)
		}
		// A name is free only if neither it nor its -wal exists (they travel together).
		if _, err := os.Lstat(name + "-wal"); err == nil {
			continue
		}
		err := renameNoReplace(dbPath, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, err
	}
	return "", fmt.Errorf("keep %s aside: every name %s[-N] is taken", dbPath, base)
}

// renameNoReplace renames from to to, failing with fs.ErrExist if to exists. The name
// is claimed first with an exclusive create, so that two restores racing for it
// cannot both take it; the rename then replaces only that empty claim.
func renameNoReplace(from, to string) error {
	f, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	if err := os.Rename(from, to); err != nil {
		os.Remove(to)
		return err
	}
	return nil
}

// isCorrupt reports whether err is SQLite's SQLITE_CORRUPT or SQLITE_NOTADB (any
// extended code of either): the file is damaged or is not a database.
func isCorrupt(err error) bool {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return false
	}
	const sqliteCorrupt, sqliteNotADB = 11, 26
	c := coded.Code() & 0xff
	return c == sqliteCorrupt || c == sqliteNotADB
}

// checkSchema refuses a file that is not an appbackend database whose schema this
// binary can run: one with appbackend's migration table, recording only versions
// this binary knows (an older schema is fine: serve migrates it).
func checkSchema(ctx context.Context, path string) error {
	ours, err := sqlite.Migrations()
	if err != nil {
		return err
	}
	known := map[int]bool{}
	newest := 0
	for _, m := range ours {
		known[m.Version] = true
		newest = max(newest, m.Version)
	}
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+escaped+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT version FROM `+sqlstore.MigrationsTable+` ORDER BY version`)
	if err != nil {
		return fmt.Errorf("%s is not an appbackend database (no %s table): refusing to restore it", path, sqlstore.MigrationsTable)
	}
	defer rows.Close()
	var versions []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("%s: read %s: %v", path, sqlstore.MigrationsTable, err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: read %s: %v", path, sqlstore.MigrationsTable, err)
	}
	if len(versions) == 0 || versions[0] != 1 {
		return fmt.Errorf("%s is not an appbackend database (%s does not record the first migration): refusing to restore it", path, sqlstore.MigrationsTable)
	}
	for _, v := range versions {
		if !known[v] {
			return fmt.Errorf("%s has schema version %d, newer than this appbackend knows (%d): restore it with the appbackend that wrote it", path, v, newest)
		}
	}
	return nil
}

// cleanError keeps SQLite's message on one line.
func cleanError(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// checkpoint copies the WAL of the database at path into it and truncates the WAL.
func checkpoint(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", sourceDSN(path))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return db.Close()
}

// copyInto copies the file at from into dst (a fresh partial) and syncs it.
func copyInto(from string, dst *os.File) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	return dst.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // not every file system syncs a directory; the rename is done anyway
	return nil
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// FormatSize writes n bytes as a short human size ("12.3 MB").
func FormatSize(n int64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
