// Command testserver is appbackend as a Go program embeds it, with one event handler
// that records every event it applies in the table e2e_effects, for the end-to-end
// tests in package e2e. The table has deliberately no unique constraint: an event
// applied twice shows up as two rows, one that was lost as none.
//
// It reads the same environment as `appbackend serve` (APPBACKEND_ADDR,
// APPBACKEND_DATABASE, STRIPE_APP_SECRETS, STRIPE_WEBHOOK_SECRETS, APPBACKEND_MAX_BODY,
// APPBACKEND_LOG_LEVEL) and prints the same first line once it listens:
// "appbackend listening on http://ADDR". The tests also set:
//
//	E2E_MAX_ATTEMPTS   attempts before an event is dead (default: appbackend's)
//	E2E_RETRY_DELAY    fixed delay before a retry, such as 50ms (default 50ms)
//	E2E_FAIL_TYPE      events of this type (or pattern such as "invoice.*") fail…
//	E2E_FAIL_TIMES     …on their first N attempts, or "always" (default always)
//	E2E_FAIL_SWITCH    …and only while this file exists, when set
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

	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // the database/sql driver appbackend's SQLite store uses

	"github.com/appbackend/appbackend"
)

// createEffects is the effect table. No unique constraint, on purpose.
const createEffects = `CREATE TABLE IF NOT EXISTS e2e_effects (
	event_id   TEXT NOT NULL,
	event_type TEXT NOT NULL,
	applied_at INTEGER NOT NULL -- microseconds since the Unix epoch
)`

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
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
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

	if err := createEffectsTable(ctx, cfg.Database); err != nil {
		return err
	}
	app, err := appbackend.New(cfg)
	if err != nil {
		return err
	}
	app.OnEvent("*", func(ctx context.Context, ev appbackend.Event) error {
		tx, ok := appbackend.Tx(ctx)
		if !ok {
			return errors.New("no processing transaction in the handler's context")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO e2e_effects (event_id, event_type, applied_at) VALUES (?, ?, ?)`,
			ev.ID, ev.Type, time.Now().UnixMicro()); err != nil {
			return err
		}
		return failure.check(ev)
	})
	return app.Run(ctx)
}

// createEffectsTable creates e2e_effects in the server's SQLite file before the
// server opens it; the façade keeps its database to itself.
func createEffectsTable(ctx context.Context, database string) error {
	kind, path, err := appbackend.ParseDatabase(database)
	if err != nil {
		return err
	}
	if kind != "sqlite" {
		return fmt.Errorf("testserver needs sqlite:PATH, got %s", kind)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, stmt := range []string{"PRAGMA busy_timeout = 5000", createEffects} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create e2e_effects in %s: %w", path, err)
		}
	}
	return nil
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
	if f.pattern == "" || !matches(f.pattern, ev.Type) {
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

func matches(pattern, eventType string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(eventType, prefix)
	}
	return pattern == eventType
}

func envOr(getenv func(string) string, key, fallback string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return fallback
}
