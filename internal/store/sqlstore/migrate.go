package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/appbackend/appbackend/internal/store"
)

// Migration tables: appbackend's own schema, and the app's (Config.Migrations), each
// numbered on its own.
const (
	MigrationsTable    = "appbackend_migrations"
	AppMigrationsTable = "appbackend_app_migrations"
)

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// AppliedVersions reads which versions a migration table records, none if the table
// does not exist yet.
func (q *Queries) AppliedVersions(ctx context.Context, db querier, table string) (map[int]bool, error) {
	applied := map[int]bool{}
	rows, err := db.QueryContext(ctx, q.rebind(q.d.TableExists), table)
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	exists := rows.Next()
	rows.Close()
	if !exists {
		return applied, nil
	}
	rows, err = db.QueryContext(ctx, `SELECT version FROM `+table)
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// Pending lists the migrations of list that table does not record.
func (q *Queries) Pending(ctx context.Context, table string, list []store.Migration) ([]store.Migration, error) {
	applied, err := q.AppliedVersions(ctx, q.read, table)
	if err != nil {
		return nil, err
	}
	var pending []store.Migration
	for _, m := range list {
		if !applied[m.Version] {
			pending = append(pending, m)
		}
	}
	return pending, nil
}

// ApplyMigrations applies the migrations of list that table does not record, in order,
// each in its own transaction with its record. The caller holds the database's
// migration lock (on SQLite the immediate transaction is the lock), so concurrent
// processes apply each once. It returns the migration that failed with the error.
func (q *Queries) ApplyMigrations(ctx context.Context, table string, list []store.Migration, logger *slog.Logger) error {
	if _, err := q.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	for _, m := range list {
		if err := q.applyMigration(ctx, table, m, logger); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}

func (q *Queries) applyMigration(ctx context.Context, table string, m store.Migration, logger *slog.Logger) error {
	tx, err := q.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var done int
	err = tx.QueryRowContext(ctx, q.rebind(`SELECT COUNT(*) FROM `+table+` WHERE version = ?`), m.Version).Scan(&done)
	if err != nil || done > 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, q.rebind(`INSERT INTO `+table+` (version, name, applied_at) VALUES (?, ?, ?)`),
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	logger.InfoContext(ctx, "applied migration", "table", table, "version", m.Version, "name", m.Name)
	return nil
}
