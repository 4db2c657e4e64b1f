// Command testserver is one appbackend replica as a Go program embeds it, for the
// tests and benchmarks in package replicas: `appbackend serve` plus an event handler
// that records every event it applies in the table replica_effects, with the name of
// the replica that applied it. The table has deliberately no unique constraint: an
// event applied twice shows up as two rows, one that was lost as none.
//
// It reads the same environment as `appbackend serve` (APPBACKEND_ADDR,
// APPBACKEND_DATABASE — a postgres:// URL or sqlite:PATH —, STRIPE_APP_SECRETS,
// STRIPE_WEBHOOK_SECRETS, APPBACKEND_JOB_RESCUE_AFTER, APPBACKEND_LOG_LEVEL) and prints
// the same first line once it listens: "appbackend listening on http://ADDR". Also:
//
//	REPLICA_NAME       the name recorded with each effect (default: the process id)
//	REPLICA_SCHEDULE   a spec such as "@every 1s": registers the platform schedule
//	                   "replicas.tick", whose every run records its slot, the slots
//	                   it folds in (missed) and the replica in replica_slots
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the effect table
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, for the effect table

	"github.com/appbackend/appbackend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := appbackend.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if v := getenv("APPBACKEND_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("APPBACKEND_LOG_LEVEL: %w", err)
		}
	}
	replica := getenv("REPLICA_NAME")
	if replica == "" {
		replica = fmt.Sprint(os.Getpid())
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("replica", replica)
	cfg.Ready = func(addr net.Addr) { fmt.Printf("appbackend listening on http://%s\n", addr) }

	tables, err := createTables(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer tables.db.Close()
	app, err := appbackend.New(cfg)
	if err != nil {
		return err
	}
	if spec := getenv("REPLICA_SCHEDULE"); spec != "" {
		err := app.Every(spec, "replicas.tick", func(ctx context.Context, run appbackend.Run) error {
			_, err := tables.db.ExecContext(ctx, tables.insertSlot, run.Slot.UnixMicro(), run.Missed, replica, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return err
		}
	}
	app.OnEvent("*", func(ctx context.Context, ev appbackend.Event) error {
		tx, ok := appbackend.Tx(ctx)
		if !ok {
			return errors.New("no processing transaction in the handler's context")
		}
		_, err := tx.ExecContext(ctx, tables.insertEffect, ev.ID, replica, time.Now().UnixMicro())
		return err
	})
	return app.Run(ctx)
}

// tables are the test's own tables and the statements that write them, in the
// database's placeholders.
type tables struct {
	db           *sql.DB // the replica's own connection, for the schedule's runs
	insertEffect string  // run in the event's processing transaction
	insertSlot   string
}

// createTables creates replica_effects and replica_slots if they do not exist. Neither
// has a unique constraint: something done twice shows up as two rows.
func createTables(ctx context.Context, database string) (*tables, error) {
	kind, dsn, err := appbackend.ParseDatabase(database)
	if err != nil {
		return nil, err
	}
	driver, placeholders := "pgx", "($1, $2, $3)"
	slotPlaceholders := "($1, $2, $3, $4)"
	if kind == "sqlite" {
		driver, placeholders, slotPlaceholders = "sqlite", "(?, ?, ?)", "(?, ?, ?, ?)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	if err := createTablesIn(ctx, db, kind); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the test tables: %w", err)
	}
	return &tables{
		db:           db,
		insertEffect: `INSERT INTO replica_effects (event_id, replica, applied_at) VALUES ` + placeholders,
		insertSlot:   `INSERT INTO replica_slots (slot, missed, replica, ran_at) VALUES ` + slotPlaceholders,
	}, nil
}

func createTablesIn(ctx context.Context, db *sql.DB, kind string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if kind == "postgres" {
		// Replicas start together; CREATE TABLE IF NOT EXISTS alone can still collide.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7011)`); err != nil {
			return err
		}
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS replica_effects (
			event_id   TEXT NOT NULL,
			replica    TEXT NOT NULL,
			applied_at BIGINT NOT NULL -- microseconds since the Unix epoch
		)`,
		`CREATE TABLE IF NOT EXISTS replica_slots (
			slot    BIGINT NOT NULL,  -- microseconds since the Unix epoch
			missed  INTEGER NOT NULL, -- earlier slots folded into this run
			replica TEXT NOT NULL,
			ran_at  BIGINT NOT NULL
		)`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}
