package pgtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// A test binary that uses pgtest cannot be relied on to call Stop: an app author's
// tests of appbackendtest have no TestMain of ours, and a binary killed by its
// timeout runs nothing at all. So what a process leaves on a server is handed, as it
// is created, to a watcher: the test binary itself, started again with envWatch set,
// which this package's init turns into a process that waits for its standard input
// to end — when the test process closes the pipe (Stop) or exits, however it exits —
// then cleans up and exits. A watcher is in a process group of its own, so that the
// Ctrl-C that interrupts the tests does not interrupt it too.
const envWatch = "APPBACKEND_PGTEST_WATCH"

// cleanup is what a watcher does once the test process is gone.
type cleanup struct {
	// URL and Token: drop every database on that server (URL names its maintenance
	// database) whose name carries the process's token.
	URL   string `json:",omitempty"`
	Token string `json:",omitempty"`

	// PgCtl, Data and Dir: stop the server of the data directory Data with the pg_ctl
	// at PgCtl, as the user Uid/Gid when they are set, then remove Dir.
	PgCtl    string `json:",omitempty"`
	Data     string `json:",omitempty"`
	Dir      string `json:",omitempty"`
	Uid, Gid int    `json:",omitempty"`
}

func init() {
	spec := os.Getenv(envWatch)
	if spec == "" {
		return
	}
	// Everything before this init (the packages pgtest imports) has run; nothing of
	// the test binary's own code has.
	var c cleanup
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest watcher: %s: %v\n", envWatch, err)
		os.Exit(2)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := c.run(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest watcher: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func (c cleanup) run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	if c.URL != "" && c.Token != "" {
		errs = append(errs, dropDatabases(ctx, c.URL, c.Token))
	}
	if c.Data != "" {
		errs = append(errs, stopServer(ctx, c.PgCtl, c.Data, credential(c.Uid, c.Gid)))
	}
	if c.Dir != "" {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}

// dropDatabases drops the databases of the process whose token is token.
func dropDatabases(ctx context.Context, serverURL, token string) error {
	db, err := sql.Open("pgx", serverURL)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1) OR starts_with(datname, $2)`,
		databasePrefix+token+"_", templatePrefix+token+"_")
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		names = append(names, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			errs = append(errs, fmt.Errorf("drop %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// watcher is a running watcher process, whose standard input this process holds.
type watcher struct {
	stdin *os.File
	cmd   *exec.Cmd
}

// startWatcher starts a watcher that does c once this process is gone or finish is
// called.
func startWatcher(c cleanup) (*watcher, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start the cleanup watcher: %w", err)
	}
	spec, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envWatch+"="+string(spec))
	cmd.Stdin = r
	// Not this process's standard output: `go test` waits for that pipe to close,
	// which would wait for the watcher, which waits for this process.
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start the cleanup watcher: %w", err)
	}
	return &watcher{stdin: w, cmd: cmd}, nil
}

// finish has the watcher clean up now and waits until it has.
func (w *watcher) finish() error {
	w.stdin.Close()
	err := w.cmd.Wait()
	if err != nil {
		return fmt.Errorf("pgtest cleanup (%s): %w", strings.TrimSpace(w.cmd.Path), err)
	}
	return nil
}
