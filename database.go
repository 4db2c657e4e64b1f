package appbackend

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/appbackend/appbackend/store"
	"github.com/appbackend/appbackend/store/sqlite"
)

// StoreOptions adjust OpenStore.
type StoreOptions struct {
	// SkipMigrations opens the database as it is; readers such as the CLI's listings
	// use it so that only `serve` and `migrate` change the schema.
	SkipMigrations bool
	Logger         *slog.Logger
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
		var o []sqlite.Option
		if opts.SkipMigrations {
			o = append(o, sqlite.WithoutMigrations())
		}
		if opts.Logger != nil {
			o = append(o, sqlite.WithLogger(opts.Logger))
		}
		return sqlite.Open(ctx, dsn, o...)
	default:
		return nil, fmt.Errorf("%w: PostgreSQL is not supported by this build yet; use sqlite:PATH", ErrConfig)
	}
}
