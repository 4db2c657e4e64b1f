// Package postgres is the PostgreSQL adapter of [store.Store], for several appbackend
// replicas on one database. It speaks pgx/v5 through database/sql, so that the
// transaction type is *sql.Tx on both databases and the flows built on the store
// (webhook, events, install) are the same code on SQLite and PostgreSQL.
//
// River runs on the same database through riverdatabasesql with a pgx listener: jobs
// and the app's tables share one *sql.Tx, and River learns of new jobs by
// LISTEN/NOTIFY instead of waiting for its next poll. River's leader election, unique
// jobs and row locks are what let several replicas share the queue.
//
// # Configuration
//
// [Open] takes a postgres:// URL as libpq and pgx read it (host, port, user, password,
// database, sslmode, connect_timeout, …) and, in its query string:
//
//   - pool_max_conns: the most connections the replica opens for its work (default
//     [DefaultPoolSize]); River's listener holds one more;
//   - statement_timeout: PostgreSQL's own setting, sent when each connection starts
//     (milliseconds, or a value with a unit such as 30s); none by default.
//
// [WithPoolSize] and [WithStatementTimeout] override the URL. A URL without
// connect_timeout waits at most [DefaultConnectTimeout] for a connection, so that an
// unreachable server is reported rather than waited for.
//
// The URL's password is never logged nor put in an error: errors name the URL with
// the password replaced by "xxxxx".
//
// Open applies appbackend's migrations (embedded in this package, the same versions
// as SQLite's) and River's, under an advisory lock so that replicas starting together
// apply each migration once.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Defaults of [Open].
const (
	// DefaultPoolSize is the connection pool's size when neither the URL
	// (pool_max_conns) nor [WithPoolSize] sets it. Two replicas with the default use
	// about 45 of PostgreSQL's default 100 connections.
	DefaultPoolSize = 20
	// DefaultConnectTimeout bounds a new connection when the URL has no
	// connect_timeout.
	DefaultConnectTimeout = 5 * time.Second
	// PingTimeout bounds [Store.Ping] when its context has no earlier deadline, so
	// that a health check answers even while the server does not.
	PingTimeout = 5 * time.Second
)

// migrationLockKey is the pg_advisory_lock key held while migrating ("appbmigr").
const migrationLockKey int64 = 0x617070626d696772

// Store is the PostgreSQL adapter. Its Tx methods take transactions begun on
// [Store.DB].
type Store struct {
	*sqlstore.Queries

	db *sql.DB
	// listener lends River the connection it LISTENs on; it is otherwise unused.
	listener *pgxpool.Pool
	connCfg  *pgx.ConnConfig
	display  string // the URL without its password, for messages
	logger   *slog.Logger
	// appMigrations are the app's own (Config.Migrations), applied after appbackend's.
	appMigrations []store.Migration
}

var _ store.Store = (*Store)(nil)

type options struct {
	appMigrations    fs.FS
	migrate          bool
	poolSize         int
	statementTimeout time.Duration
	statementSet     bool
	logger           *slog.Logger
}

// Option configures [Open].
type Option func(*options)

// WithoutMigrations opens the database as it is, without applying pending migrations
// (for readers such as the CLI's listings and `appbackend doctor`).
func WithoutMigrations() Option { return func(o *options) { o.migrate = false } }

// WithAppMigrations adds the app's own migrations (see [store.ReadMigrations]), applied
// after appbackend's, under the same lock, and recorded apart from them.
func WithAppMigrations(fsys fs.FS) Option { return func(o *options) { o.appMigrations = fsys } }

// WithPoolSize sets the most connections the store opens (default: the URL's
// pool_max_conns, else DefaultPoolSize). Values below 1 are ignored.
func WithPoolSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.poolSize = n
		}
	}
}

// WithStatementTimeout sets PostgreSQL's statement_timeout for every connection: a
// statement running longer is cancelled with an error. Zero disables it. It
// overrides the URL's statement_timeout.
func WithStatementTimeout(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.statementTimeout, o.statementSet = d, true
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

// Open connects to the PostgreSQL database at rawURL (postgres:// or postgresql://)
// and, unless [WithoutMigrations] is given, applies pending migrations. Errors are one
// line that names the URL without its password.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	o := options{migrate: true, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	connCfg, poolSize, display, err := parseURL(rawURL, o)
	if err != nil {
		return nil, err
	}
	appMigrations, err := store.ReadMigrations(o.appMigrations, "postgres")
	if err != nil {
		return nil, fmt.Errorf("open postgres database %s: %w", display, err)
	}
	fail := func(err error) error {
		return fmt.Errorf("open postgres database %s: %s", display, cleanError(err, connCfg.Password))
	}

	db := stdlib.OpenDB(*connCfg)
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize)
	// Connections are renewed now and then, so that a replica follows a failover or a
	// restarted server without keeping broken ones for long.
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fail(err)
	}

	// River takes (and keeps) one connection from this pool to LISTEN on; it must be
	// configured like the main pool's, hence the same ConnConfig.
	poolCfg, err := pgxpool.ParseConfig("")
	if err != nil {
		db.Close()
		return nil, fail(err)
	}
	poolCfg.ConnConfig = connCfg.Copy()
	poolCfg.MaxConns, poolCfg.MinConns = 1, 0
	listener, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		db.Close()
		return nil, fail(err)
	}

	s := &Store{
		Queries:  sqlstore.New(db, db, sqlstore.PostgreSQL),
		db:       db,
		listener: listener,
		connCfg:  connCfg,
		display:  display,
		logger:   o.logger,

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

// parseURL reads the URL and the options into a pgx configuration, the pool size and
// the URL to show in messages.
func parseURL(rawURL string, o options) (cfg *pgx.ConnConfig, poolSize int, display string, err error) {
	const what = "open postgres database"
	if !strings.HasPrefix(rawURL, "postgres://") && !strings.HasPrefix(rawURL, "postgresql://") {
		return nil, 0, "", fmt.Errorf("%s: want a postgres:// URL", what)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, "", fmt.Errorf("%s: malformed URL: %v", what, err)
	}
	display = u.Redacted()
	password, _ := u.User.Password()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s %s: %s", what, display, fmt.Sprintf(format, args...))
	}
	if u.Host == "" {
		return nil, 0, "", bad("no host")
	}

	query := u.Query()
	poolSize = DefaultPoolSize
	if v := query.Get("pool_max_conns"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, 0, "", bad("pool_max_conns %q is not a positive number", v)
		}
		poolSize = n
	}
	if o.poolSize > 0 {
		poolSize = o.poolSize
	}
	// pgx would send our own parameter to the server, which rejects it.
	query.Del("pool_max_conns")
	u.RawQuery = query.Encode()

	cfg, err = pgx.ParseConfig(u.String())
	if err != nil {
		return nil, 0, "", bad("%s", cleanError(err, password))
	}
	if !query.Has("connect_timeout") {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if o.statementSet {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.statementTimeout.Milliseconds(), 10)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "appbackend"
	}
	return cfg, poolSize, display, nil
}

// cleanError keeps a driver's message on one line, without the lines it repeats (pgx
// reports each connection attempt, and sslmode=prefer makes two alike) and without the
// password (pgx already redacts it; this holds for any message that might quote the
// URL).
func cleanError(err error, password string) string {
	var parts []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.Join(strings.Fields(line), " "); line != "" && !slices.Contains(parts, line) {
			parts = append(parts, line)
		}
	}
	msg := strings.Join(parts, " ")
	if len(password) >= 3 {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
	}
	return msg
}

// URL returns the database's URL without its password.
func (s *Store) URL() string { return s.display }

// DB implements [store.Store]: the connection pool, for reads and writes alike.
func (s *Store) DB() *sql.DB { return s.db }

// ReadDB implements [store.Store]: DB, whose pool has connections for reads beside
// a held transaction.
func (s *Store) ReadDB() *sql.DB { return s.db }

// RiverDriver implements [store.Store]: riverdatabasesql over DB, listening for new
// jobs on a connection of its own.
func (s *Store) RiverDriver() riverdriver.Driver[*sql.Tx] {
	return riverdatabasesql.NewWithPgxListener(s.db, s.listener)
}

// Ping implements [store.Store]. It gives up after PingTimeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping postgres database %s: %s", s.display, cleanError(err, s.connCfg.Password))
	}
	return nil
}

// Close implements [store.Store]. It is safe to call more than once.
func (s *Store) Close() error {
	s.listener.Close()
	return s.db.Close()
}

// Migrations lists appbackend's PostgreSQL migrations in order (River's are applied
// by rivermigrate).
func Migrations() ([]store.Migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return store.ReadMigrations(sub, "postgres")
}

// PendingMigrations lists appbackend's and the app's migrations not yet applied.
func (s *Store) PendingMigrations(ctx context.Context) ([]store.Migration, error) {
	ours, err := Migrations()
	if err != nil {
		return nil, err
	}
	pending, err := s.Pending(ctx, sqlstore.MigrationsTable, ours)
	if err == nil {
		var theirs []store.Migration
		theirs, err = s.Pending(ctx, sqlstore.AppMigrationsTable, s.appMigrations)
		pending = append(pending, theirs...)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres database %s: %s", s.display, cleanError(err, s.connCfg.Password))
	}
	return pending, nil
}

// Migrate implements [store.Store]: appbackend's migrations, River's, then the app's,
// each of appbackend's and the app's in its own transaction, all under an advisory
// lock so that replicas starting together take turns.
func (s *Store) Migrate(ctx context.Context) error {
	fail := func(step string, err error) error {
		return fmt.Errorf("migrate %s: %s%s", s.display, step, cleanError(err, s.connCfg.Password))
	}
	ours, err := Migrations()
	if err != nil {
		return fail("", err)
	}
	// The lock lives on a connection of its own, outside the pool, so that a pool of
	// one connection can still migrate; closing it releases the lock, also when this
	// process dies mid-way.
	lockCfg := s.connCfg.Copy()
	lockCfg.RuntimeParams["statement_timeout"] = "0" // waiting for another replica's migration is not an error
	lock, err := pgx.ConnectConfig(ctx, lockCfg)
	if err != nil {
		return fail("", err)
	}
	defer lock.Close(context.WithoutCancel(ctx))
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fail("lock: ", err)
	}
	if err := s.ApplyMigrations(ctx, sqlstore.MigrationsTable, ours, s.logger); err != nil {
		return fail("", err)
	}
	migrator, err := rivermigrate.New(riverdatabasesql.New(s.db), &rivermigrate.Config{Logger: s.logger})
	if err != nil {
		return fail("river: ", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fail("river: ", err)
	}
	if err := s.ApplyMigrations(ctx, sqlstore.AppMigrationsTable, s.appMigrations, s.logger); err != nil {
		return fail("the app's migration ", err)
	}
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrationLockKey); err != nil {
		return fail("unlock: ", err)
	}
	return nil
}
