// Package sqlite is the embedded SQLite adapter of [store.Store], on the pure-Go
// modernc.org/sqlite driver (no cgo).
//
// The database runs in WAL mode with synchronous=FULL, so that a committed
// transaction — an acknowledged webhook — survives a power cut, not only a crash.
// Writes go through one connection whose transactions begin IMMEDIATE: SQLite has one
// writer anyway, and River's SQLite driver asks for a single-connection pool. Listings
// use a separate small pool of read-only connections, which WAL lets run while the
// writer commits.
//
// Open applies appbackend's migrations (embedded in this package) and River's.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite adapter. Its Tx methods take transactions begun on [Store.DB].
type Store struct {
	*sqlstore.Queries

	path   string
	write  *sql.DB
	read   *sql.DB
	logger *slog.Logger
	// appMigrations are the app's own (Config.Migrations), applied after appbackend's.
	appMigrations []store.Migration
}

var _ store.Store = (*Store)(nil)

// readConns is the number of read-only connections listings use beside the one writer.
const readConns = 4

type options struct {
	appMigrations fs.FS
	migrate       bool
	busyTimeout   time.Duration
	logger        *slog.Logger
}

// Option configures [Open].
type Option func(*options)

// WithoutMigrations opens the database as it is, without applying pending migrations
// (for `appbackend doctor`, which reports them instead).
func WithoutMigrations() Option { return func(o *options) { o.migrate = false } }

// WithAppMigrations adds the app's own migrations (see [store.ReadMigrations]), applied
// after appbackend's and recorded apart from them.
func WithAppMigrations(fsys fs.FS) Option { return func(o *options) { o.appMigrations = fsys } }

// WithBusyTimeout sets how long a statement waits for another process's write lock
// before failing with "database is locked" (default 5 s).
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.busyTimeout = d
		}
	}
}

// WithLogger sets the logger for migrations (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// Open opens (creating if needed) the SQLite database file at path and, unless
// [WithoutMigrations] is given, applies pending migrations. Errors are one line that
// names the path.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{migrate: true, busyTimeout: 5 * time.Second, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	appMigrations, err := store.ReadMigrations(o.appMigrations, "sqlite")
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}

	write := sql.OpenDB(connector{dsn: dsn(path, o.busyTimeout, false), drv: registeredDriver()})
	// One connection: SQLite has a single writer, River's SQLite driver requires it, and
	// it keeps the connection (and its pragmas) for the life of the pool.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite database %s: %s", path, cleanError(err))
	}

	read := sql.OpenDB(connector{dsn: dsn(path, o.busyTimeout, true), drv: registeredDriver()})
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)

	s := &Store{
		Queries: sqlstore.New(write, read, sqlstore.SQLite),
		path:    path,
		write:   write,
		read:    read,
		logger:  o.logger,

		appMigrations: appMigrations,
	}
	if o.migrate {
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// checkPath turns the common mistakes into a clear message before SQLite answers
// with "out of memory" or "unable to open database file".
func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("open sqlite database: no path given")
	case path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#"):
		return fmt.Errorf("open sqlite database %q: give a plain file path (no URI, no ? or #)", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("open sqlite database %s: is a directory", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open sqlite database %s: directory %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("open sqlite database %s: %v", path, err)
	case !fi.IsDir():
		return fmt.Errorf("open sqlite database %s: %s is not a directory", path, dir)
	}
	return nil
}

// createPrivate creates the database file, if it does not exist, with mode 0600
// whatever the umask: it holds dev secrets and certificates' private keys. SQLite
// gives the -wal and -shm files it creates beside it the same mode. An existing
// file keeps the mode it has (an operator may have chosen a group).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("open sqlite database %s: %v", path, err)
	}
	return f.Close() // SQLite takes an empty file for a new database
}

// cleanError keeps SQLite's message on one line.
func cleanError(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// dsn builds the modernc.org/sqlite data source name: a file: URI whose _pragma and
// _txlock parameters the driver applies on every new connection.
func dsn(path string, busy time.Duration, readOnly bool) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	params := []string{
		"_pragma=busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(FULL)",
	}
	if readOnly {
		params = append(params, "_pragma=query_only(1)", "_txlock=deferred")
	} else {
		// temp_store=MEMORY keeps statement journals (a multi-row statement's undo log,
		// which River's and the batch insert's statements need) in memory: on a file
		// they spill past 64 KiB into write system calls, 5 % of the CPU under webhook
		// load. Durability is the WAL's, not theirs.
		params = append(params, "_pragma=journal_mode(WAL)", "_pragma=temp_store(MEMORY)", "_txlock=immediate")
	}
	return "file:" + escaped + "?" + strings.Join(params, "&")
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// DB implements [store.Store]: the single-connection write pool.
func (s *Store) DB() *sql.DB { return s.write }

// ReadDB implements [store.Store]: the read-only pool, whose connections read the
// WAL's last commit while the writer holds a transaction.
func (s *Store) ReadDB() *sql.DB { return s.read }

// RiverDriver implements [store.Store].
func (s *Store) RiverDriver() riverdriver.Driver[*sql.Tx] { return riversqlite.New(s.write) }

// Ping implements [store.Store].
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite database %s: %w", s.path, err)
	}
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite database %s: %w", s.path, err)
	}
	return nil
}

// Close implements [store.Store]. It is safe to call more than once.
func (s *Store) Close() error {
	return errors.Join(s.read.Close(), s.write.Close())
}

// Migrations lists appbackend's SQLite migrations in order (River's are applied by
// rivermigrate).
func Migrations() ([]store.Migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return store.ReadMigrations(sub, "sqlite")
}

// PendingMigrations lists appbackend's and the app's migrations not yet applied
// (River's are reported by rivermigrate).
func (s *Store) PendingMigrations(ctx context.Context) ([]store.Migration, error) {
	ours, err := Migrations()
	if err != nil {
		return nil, err
	}
	pending, err := s.Pending(ctx, sqlstore.MigrationsTable, ours)
	if err != nil {
		return nil, err
	}
	theirs, err := s.Pending(ctx, sqlstore.AppMigrationsTable, s.appMigrations)
	return append(pending, theirs...), err
}

// Migrate implements [store.Store]: appbackend's migrations, then River's, then the
// app's, each in its own immediate transaction, which holds the write lock, so two
// processes starting at once apply each migration once.
func (s *Store) Migrate(ctx context.Context) error {
	ours, err := Migrations()
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.path, err)
	}
	if err := s.ApplyMigrations(ctx, sqlstore.MigrationsTable, ours, s.logger); err != nil {
		return fmt.Errorf("migrate %s: %s", s.path, cleanError(err))
	}
	migrator, err := rivermigrate.New(s.RiverDriver(), &rivermigrate.Config{Logger: s.logger})
	if err != nil {
		return fmt.Errorf("migrate %s: river: %w", s.path, err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate %s: river: %s", s.path, cleanError(err))
	}
	if err := s.ApplyMigrations(ctx, sqlstore.AppMigrationsTable, s.appMigrations, s.logger); err != nil {
		return fmt.Errorf("migrate %s: the app's migration %s", s.path, cleanError(err))
	}
	return nil
}
