package appbackend

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/appbackend/appbackend/store"
	"github.com/appbackend/appbackend/store/postgres"
	"github.com/appbackend/appbackend/store/sqlite"
)

// StoreOptions adjust OpenStore.
type StoreOptions struct {
	// SkipMigrations opens the database as it is; readers such as the CLI's listings
	// use it so that only `serve` and `migrate` change the schema.
	SkipMigrations bool
	Logger         *slog.Logger
	// PoolSize caps a PostgreSQL database's connection pool (APPBACKEND_DB_POOL);
	// zero leaves the URL's pool_max_conns or the adapter's default. SQLite ignores it.
	PoolSize int
	// StatementTimeout is PostgreSQL's statement_timeout for every connection
	// (APPBACKEND_DB_STATEMENT_TIMEOUT); zero leaves the URL's or none. SQLite ignores it.
	StatementTimeout time.Duration
	// Migrations are the app's own (Config.Migrations).
	Migrations fs.FS
}

// OpenStore opens the database a setting names ("sqlite:PATH" or a postgres:// URL),
// applying pending migrations unless told not to.
func OpenStore(ctx context.Context, database string, opts StoreOptions) (store.Store, error) {
	kind, dsn, err := ParseDatabase(database)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "sqlite":
		o := []sqlite.Option{sqlite.WithAppMigrations(opts.Migrations)}
		if opts.SkipMigrations {
			o = append(o, sqlite.WithoutMigrations())
		}
		if opts.Logger != nil {
			o = append(o, sqlite.WithLogger(opts.Logger))
		}
		return sqlite.Open(ctx, dsn, o...)
	case "postgres":
		o := []postgres.Option{postgres.WithAppMigrations(opts.Migrations)}
		if opts.SkipMigrations {
			o = append(o, postgres.WithoutMigrations())
		}
		if opts.Logger != nil {
			o = append(o, postgres.WithLogger(opts.Logger))
		}
		if opts.PoolSize > 0 {
			o = append(o, postgres.WithPoolSize(opts.PoolSize))
		}
		if opts.StatementTimeout > 0 {
			o = append(o, postgres.WithStatementTimeout(opts.StatementTimeout))
		}
		return postgres.Open(ctx, dsn, o...)
	default:
		return nil, fmt.Errorf("%w: unknown database kind %q", ErrConfig, kind)
	}
}
