// Command testserver is appbackend as a Go program embeds it, for the end-to-end tests
// (package e2e) and the replica tests (package replicas): `appbackend serve` plus an
// event handler that records every event it applies in the table e2e_effects, with
// the name of the process that applied it, and every OnInstall and OnUninstall hook
// call in e2e_hooks. The tables have deliberately no unique constraint: an event
// applied twice shows up as two rows, one that was lost as none.
// It runs on SQLite and on PostgreSQL, whichever APPBACKEND_DATABASE names.
//
// It reads the same environment as `appbackend serve` (APPBACKEND_ADDR,
// APPBACKEND_DATABASE, STRIPE_APP_SECRETS, STRIPE_WEBHOOK_SECRETS, APPBACKEND_MAX_BODY,
// APPBACKEND_JOB_RESCUE_AFTER, APPBACKEND_DB_POOL, APPBACKEND_LOG_LEVEL, …) and prints
// the same first line once it listens: "appbackend listening on http://ADDR". The
// tests also set:
//
//	E2E_REPLICA        the name recorded with each effect (default: the process id)
//	E2E_MAX_ATTEMPTS   attempts before an event is dead (default: appbackend's)
//	E2E_RETRY_DELAY    fixed delay before a retry, such as 50ms (default 50ms)
//	E2E_FAIL_TYPE      events of this type (or pattern such as "invoice.*") fail…
//	E2E_FAIL_TIMES     …on their first N attempts, or "always" (default always)
//	E2E_FAIL_SWITCH    …and only while this file exists, when set
//	E2E_SCHEDULE       a spec such as "@every 1s": registers the platform schedule
//	                   "e2e.tick", whose every run records its slot, the slots it
//	                   folds in (missed) and the replica in e2e_slots
//
// A failing attempt inserts its effect row first and then returns an error, so the
// tests also see that a failed attempt's writes are rolled back.
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
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the test's tables
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for the test's tables

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/setup"
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
	var level slog.Level
	if err := level.UnmarshalText([]byte(envOr(getenv, "APPBACKEND_LOG_LEVEL", "warn"))); err != nil {
		return fmt.Errorf("APPBACKEND_LOG_LEVEL: %w", err)
	}
	replica := envOr(getenv, "E2E_REPLICA", strconv.Itoa(os.Getpid()))
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("replica", replica)
	if v := getenv("E2E_MAX_ATTEMPTS"); v != "" {
		if cfg.EventMaxAttempts, err = strconv.Atoi(v); err != nil || cfg.EventMaxAttempts <= 0 {
			return fmt.Errorf("E2E_MAX_ATTEMPTS %q is not a positive number", v)
		}
	}
	delay, err := time.ParseDuration(envOr(getenv, "E2E_RETRY_DELAY", "50ms"))
	if err != nil {
		return fmt.Errorf("E2E_RETRY_DELAY: %w", err)
	}
	cfg.EventRetryPolicy = fixedRetry{delay}
	cfg.Ready = func(addr net.Addr) { fmt.Printf("appbackend listening on http://%s\n", addr) }
	failure, err := failureFromEnv(getenv)
	if err != nil {
		return err
	}

	tables, err := createTables(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer tables.db.Close()
	app, err := appbackend.New(cfg)
	if err != nil {
		return err
	}
	if spec := getenv("E2E_SCHEDULE"); spec != "" {
		app.Every(spec, "e2e.tick", func(ctx context.Context, run appbackend.Run) error {
			_, err := tables.db.ExecContext(ctx, tables.insertSlot, run.Slot.UnixMicro(), run.Missed, replica, time.Now().UnixMicro())
			return err
		})
	}
	hook := func(ctx context.Context, in appbackend.Installation) error {
		tx, ok := appbackend.Tx(ctx)
		if !ok {
			return errors.New("no processing transaction in the hook's context")
		}
		_, err := tx.ExecContext(ctx, tables.insertHook, in.AccountID, in.Livemode, string(in.Status), in.LastEventID, replica)
		return err
	}
	app.OnInstall(hook)
	app.OnUninstall(hook)
	app.OnEvent("*", func(ctx context.Context, ev appbackend.Event) error {
		tx, ok := appbackend.Tx(ctx)
		if !ok {
			return errors.New("no processing transaction in the handler's context")
		}
		if _, err := tx.ExecContext(ctx, tables.insertEffect, ev.ID, ev.Type, replica, time.Now().UnixMicro()); err != nil {
			return err
		}
		return failure.check(ev)
	})
	return app.Run(ctx)
}

// tables are the test's own tables and the statements that write them, in the
// database's placeholders.
type tables struct {
	db           *sql.DB // the server's own connection, for the schedule's runs
	insertEffect string  // run in the event's processing transaction
	insertSlot   string
	insertHook   string // run in the lifecycle event's transaction
}

// createTables creates e2e_effects and e2e_slots, if they do not exist, before the
// server opens the database (the façade keeps its database to itself). Neither has a
// unique constraint: something done twice shows up as two rows.
func createTables(ctx context.Context, database string) (*tables, error) {
	kind, dsn, err := setup.ParseDatabase(database)
	if err != nil {
		return nil, err
	}
	driver, effectValues, slotValues, hookValues := "pgx", "($1, $2, $3, $4)", "($1, $2, $3, $4)", "($1, $2, $3, $4, $5)"
	if kind == "sqlite" {
		hookValues = "(?, ?, ?, ?, ?)"
		// The schedule's runs write from this connection while the server holds the
		// write lock now and then: wait for it rather than fail with SQLITE_BUSY.
		driver, effectValues, slotValues = "sqlite", "(?, ?, ?, ?)", "(?, ?, ?, ?)"
		dsn = "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(dsn) + "?_pragma=busy_timeout(10000)"
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
		insertEffect: `INSERT INTO e2e_effects (event_id, event_type, replica, applied_at) VALUES ` + effectValues,
		insertSlot:   `INSERT INTO e2e_slots (slot, missed, replica, ran_at) VALUES ` + slotValues,
		insertHook:   `INSERT INTO e2e_hooks (account_id, livemode, status, event_id, replica) VALUES ` + hookValues,
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
		`CREATE TABLE IF NOT EXISTS e2e_effects (
			event_id   TEXT NOT NULL,
			event_type TEXT NOT NULL,
			replica    TEXT NOT NULL,
			applied_at BIGINT NOT NULL -- microseconds since the Unix epoch
		)`,
		`CREATE TABLE IF NOT EXISTS e2e_hooks (
			account_id TEXT NOT NULL,
			livemode   BOOLEAN NOT NULL,
			status     TEXT NOT NULL, -- the status the OnInstall or OnUninstall hook saw
			event_id   TEXT NOT NULL,
			replica    TEXT NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS e2e_slots (
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

// fixedRetry retries a failed event after a fixed delay, so that the retry tests take
// milliseconds instead of River's exponential seconds.
type fixedRetry struct{ delay time.Duration }

func (r fixedRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(r.delay) }

// injectedFailure makes the handler fail for some events.
type injectedFailure struct {
	pattern   string // "" fails nothing
	times     int    // fail while the event has had fewer attempts; <0: always
	onlyWhile string // fail only while this file exists, when not ""
}

func failureFromEnv(getenv func(string) string) (injectedFailure, error) {
	f := injectedFailure{pattern: getenv("E2E_FAIL_TYPE"), times: -1, onlyWhile: getenv("E2E_FAIL_SWITCH")}
	if v := getenv("E2E_FAIL_TIMES"); v != "" && v != "always" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, fmt.Errorf("E2E_FAIL_TIMES %q: want a number or always", v)
		}
		f.times = n
	}
	return f, nil
}

func (f injectedFailure) check(ev appbackend.Event) error {
	if f.pattern == "" || !events.Matches(f.pattern, ev.Type) {
		return nil
	}
	if f.times >= 0 && ev.Attempts >= f.times {
		return nil
	}
	if f.onlyWhile != "" {
		if _, err := os.Stat(f.onlyWhile); err != nil {
			return nil
		}
	}
	return fmt.Errorf("e2e injected failure for %s on attempt %d", ev.Type, ev.Attempts+1)
}

func envOr(getenv func(string) string, key, fallback string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return fallback
}
