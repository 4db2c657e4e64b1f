// Command ackcheck is the database side of the webhook-acknowledgement benchmark
// (bench/acks.sh): it creates and drops the fresh PostgreSQL databases of the runs, and
// after a run counts what the server stored and how fast appbackend's processing drained.
//
//	ackcheck createdb -url postgres://…/appbackend_test -name acks_r1_appbackend
//	    creates the database NAME on that server and prints its URL
//	ackcheck dropdb -url postgres://…/appbackend_test -name acks_r1_appbackend
//	    drops it (and ends its remaining connections)
//	ackcheck version -db postgres://…
//	    prints the server's version (SHOW server_version)
//	ackcheck pgpid -db postgres://…
//	    prints the process id of the server's postmaster (the parent of this
//	    connection's backend, from /proc): the CPU time of that server alone is its
//	    processes', where other PostgreSQL servers may run on the same machine
//	ackcheck count -db sqlite:PATH|postgres://… -table appbackend_events -prefix evt_M
//	    prints "rows=N distinct=N": the rows of TABLE whose id starts with PREFIX, and
//	    their distinct ids
//	ackcheck drain -db … [-since UNIX_MICROS] [-timeout 2m]
//	    waits until no event of appbackend_events is pending or failed (every 10 ms), then
//	    prints "backlog=N drain_us=N since_us=N": the events processed after SINCE (the
//	    load's end; by default the last event's received_at, i.e. the last arrival), and
//	    the time from SINCE to the last processed_at. It fails if an event is dead, or on
//	    timeout.
//
// A SQLite database is opened read-only beside the running server (WAL, busy timeout).
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "ackcheck: %v\n", err)
		os.Exit(1)
	}
}

var (
	identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)
	idPrefix   = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: ackcheck createdb|dropdb|version|pgpid|count|drain [flags]")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("ackcheck "+cmd, flag.ContinueOnError)
	adminURL := fs.String("url", "", "createdb, dropdb: a postgres:// URL of the server")
	name := fs.String("name", "", "createdb, dropdb: the database's name")
	dbSpec := fs.String("db", "", "count, drain: sqlite:PATH or a postgres:// URL")
	table := fs.String("table", "appbackend_events", "count: the table (schema.table allowed)")
	prefix := fs.String("prefix", "", "count: count only ids that start with this")
	since := fs.Int64("since", 0, "drain: the load's end, microseconds since the Unix epoch (default: the last received_at)")
	timeout := fs.Duration("timeout", 2*time.Minute, "drain: how long to wait")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	limit := 30 * time.Second
	if cmd == "drain" {
		limit += *timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	switch cmd {
	case "createdb", "dropdb":
		if !identifier.MatchString(*name) || strings.Contains(*name, ".") {
			return fmt.Errorf("-name %q: want a lower-case identifier", *name)
		}
		db, err := sql.Open("pgx", *adminURL)
		if err != nil {
			return err
		}
		defer db.Close()
		if cmd == "dropdb" {
			_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+*name+" WITH (FORCE)")
			return err
		}
		if _, err := db.ExecContext(ctx, "CREATE DATABASE "+*name); err != nil {
			return err
		}
		u, err := url.Parse(*adminURL)
		if err != nil {
			return err
		}
		u.Path = "/" + *name
		fmt.Fprintln(stdout, u.String())
		return nil
	case "count":
		if !identifier.MatchString(*table) {
			return fmt.Errorf("-table %q: want [schema.]table", *table)
		}
		if *prefix != "" && !idPrefix.MatchString(*prefix) {
			return fmt.Errorf("-prefix %q: want letters, digits and _", *prefix)
		}
		db, err := open(*dbSpec)
		if err != nil {
			return err
		}
		defer db.Close()
		var rows, distinct int64
		err = db.QueryRowContext(ctx,
			"SELECT count(*), count(DISTINCT id) FROM "+*table+" WHERE id LIKE '"+*prefix+"%'").Scan(&rows, &distinct)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rows=%d distinct=%d\n", rows, distinct)
		return nil
	case "version":
		db, err := open(*dbSpec)
		if err != nil {
			return err
		}
		defer db.Close()
		var v string
		if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
			return err
		}
		fmt.Fprintln(stdout, strings.Fields(v)[0])
		return nil
	case "pgpid":
		db, err := open(*dbSpec)
		if err != nil {
			return err
		}
		defer db.Close()
		var backend int
		if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
			return err
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", backend))
		if err != nil {
			return fmt.Errorf("the server's backend %d is not a process here (PostgreSQL on another machine?): %w", backend, err)
		}
		for line := range strings.SplitSeq(string(status), "\n") {
			if ppid, ok := strings.CutPrefix(line, "PPid:"); ok {
				fmt.Fprintln(stdout, strings.TrimSpace(ppid))
				return nil
			}
		}
		return fmt.Errorf("/proc/%d/status has no PPid", backend)
	case "drain":
		db, err := open(*dbSpec)
		if err != nil {
			return err
		}
		defer db.Close()
		return drain(ctx, db, *since, *timeout, stdout)
	}
	return fmt.Errorf("unknown command %q: want createdb, dropdb, version, pgpid, count or drain", cmd)
}

// open opens sqlite:PATH (read-only, as a second process beside the server) or a
// postgres:// URL.
func open(spec string) (*sql.DB, error) {
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok {
		escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
		return sql.Open("sqlite", "file:"+escaped+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	}
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return sql.Open("pgx", spec)
	}
	return nil, fmt.Errorf("-db %q: want sqlite:PATH or a postgres:// URL", spec)
}

func drain(ctx context.Context, db *sql.DB, since int64, timeout time.Duration, stdout io.Writer) error {
	deadline := time.Now().Add(timeout)
	for {
		var open, dead int64
		err := db.QueryRowContext(ctx, `SELECT
			count(CASE WHEN status IN ('pending', 'failed') THEN 1 END),
			count(CASE WHEN status = 'dead' THEN 1 END)
			FROM appbackend_events`).Scan(&open, &dead)
		if err != nil {
			return err
		}
		if dead > 0 {
			return fmt.Errorf("%d events are dead (their processing failed for good)", dead)
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d events still pending or failed after %s", open, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if since <= 0 {
		var lastReceived sql.NullInt64
		if err := db.QueryRowContext(ctx, "SELECT max(received_at) FROM appbackend_events").Scan(&lastReceived); err != nil {
			return err
		}
		if !lastReceived.Valid {
			return errors.New("appbackend_events is empty")
		}
		since = lastReceived.Int64
	}
	var backlog int64
	var last sql.NullInt64
	err := db.QueryRowContext(ctx,
		"SELECT count(*), max(processed_at) FROM appbackend_events WHERE processed_at > "+fmt.Sprint(since)).Scan(&backlog, &last)
	if err != nil {
		return err
	}
	drainUS := int64(0)
	if last.Valid {
		drainUS = last.Int64 - since
	}
	fmt.Fprintf(stdout, "backlog=%d drain_us=%d since_us=%d\n", backlog, drainUS, since)
	return nil
}
