package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
)

// dbFlags are the flags of the commands that act on the configured database.
type dbFlags struct {
	database string
	// migrations is the folder of the app's own migrations, for `migrate` and
	// `doctor` (APPBACKEND_MIGRATIONS).
	migrations string
	getenv     func(string) string
}

func (d *dbFlags) register(f *flags, getenv func(string) string) {
	d.getenv = getenv
	def := getenv("APPBACKEND_DATABASE")
	if def == "" {
		def = appbackend.DefaultDatabase
	}
	f.StringVar(&d.database, "database", def, "sqlite:PATH or a postgres:// URL (APPBACKEND_DATABASE)")
}

// open opens the configured database. Only `migrate` (create) may create it or change
// its schema, as `serve` does; every other command (existing) opens it as it is and
// refuses, in one line that says to run `appbackend migrate`, a database that does not
// exist or is older than this binary: a listing never creates or migrates one.
func (d *dbFlags) open(ctx context.Context, mayCreate bool) (store.Store, error) {
	cfg, err := loadConfig(d.getenv, nil)
	if err != nil {
		return nil, err
	}
	opts := setup.StoreOptions{
		SkipMigrations:   true,
		RequireSchema:    !mayCreate,
		PoolSize:         cfg.DBPoolSize,
		StatementTimeout: cfg.DBStatementTimeout,
		Migrations:       cfg.Migrations,
	}
	if d.migrations != "" {
		opts.Migrations = os.DirFS(d.migrations)
	}
	if m := appOf(ctx).Migrations; m != nil {
		opts.Migrations = m // an app binary's own, whatever APPBACKEND_MIGRATIONS says
	}
	st, err := setup.OpenStore(ctx, d.database, opts)
	if errors.Is(err, appbackend.ErrConfig) {
		return nil, usageError{err.Error()}
	}
	return st, err
}

// The two ways dbFlags.open opens the database.
const (
	existing = false
	create   = true
)

// listing is what the listing commands share: the database, --json and --limit.
type listing struct {
	dbFlags
	asJSON bool
	limit  int
}

func (l *listing) register(f *flags, getenv func(string) string, jsonHelp, limitHelp string) {
	l.dbFlags.register(f, getenv)
	f.BoolVar(&l.asJSON, "json", false, jsonHelp)
	f.IntVar(&l.limit, "limit", 0, limitHelp)
}

// parse parses a listing's arguments, which are flags only.
func (l *listing) parse(f *flags, args []string) error {
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if l.limit < 0 {
		return usagef("--limit must not be negative")
	}
	return nil
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("migrate", "appbackend migrate [--database URL] [--migrations DIR]", stdout)
	var d dbFlags
	d.register(f, getenv)
	f.StringVar(&d.migrations, "migrations", getenv("APPBACKEND_MIGRATIONS"), "folder of the app's own migrations NNNN_name.sql, applied after appbackend's (APPBACKEND_MIGRATIONS)")
	if rest, err := f.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	st, err := d.open(ctx, create)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return setup.RedactDatabaseError(err, d.database)
	}
	fmt.Fprintln(stdout, "database is up to date")
	return nil
}

func runInstallations(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "reauthorize" {
		return runReauthorize(ctx, args[1:], getenv, stdout)
	}
	f := newFlags("installations", "appbackend installations [--json] [--limit N] [--account acct_…] | appbackend installations reauthorize ACCOUNT [--test]", stdout)
	var l listing
	l.register(f, getenv, "print a JSON array", "print at most N installations (default all)")
	account := f.String("account", "", "only this account")
	if err := l.parse(f, args); err != nil {
		return err
	}
	return printListing(ctx, &l, stdout, func(st store.Store) ([]store.Installation, error) {
		return st.ListInstallations(ctx, store.InstallationFilter{AccountID: *account, Limit: l.limit})
	}, "ACCOUNT\tMODE\tSTATUS\tINSTALLED AT\tUNINSTALLED AT\tPENDING PERMISSIONS", func(in store.Installation) []string {
		pending := "-"
		if len(in.PermissionsPending) > 0 {
			pending = strings.Join(in.PermissionsPending, ",")
		}
		return []string{in.AccountID, mode(in.Livemode), string(in.Status), timeOrDash(in.InstalledAt), timeOrDash(in.UninstalledAt), pending}
	})
}

func runEvents(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "replay":
			return runReplay(ctx, args[1:], getenv, stdout)
		case "pause", "resume":
			return runPause(ctx, args[0], args[1:], getenv, stdout)
		}
	}
	f := newFlags("events", "appbackend events [--status S] [--type T] [--account acct_…] [--json] [--limit N] | appbackend events replay ID | appbackend events replay --status dead|failed [--type T] [--account A] [--since D] [--dry-run] | appbackend events pause|resume", stdout)
	var l listing
	l.register(f, getenv, "print a JSON array", "print at most N events, newest first (default all)")
	status := f.String("status", "", "only events with this status: pending, processed, failed or dead")
	eventType := f.String("type", "", "only events of this type")
	account := f.String("account", "", "only events of this account")
	if err := l.parse(f, args); err != nil {
		return err
	}
	if *status != "" && !store.EventStatus(*status).Valid() {
		return usagef("--status %q: want pending, processed, failed or dead", *status)
	}
	return printListing(ctx, &l, stdout, func(st store.Store) ([]store.Event, error) {
		return st.ListEvents(ctx, store.EventFilter{Status: store.EventStatus(*status), Type: *eventType, AccountID: *account, Limit: l.limit})
	}, "ID\tTYPE\tACCOUNT\tMODE\tSTATUS\tATTEMPTS\tRECEIVED AT\tLAST ERROR", func(ev store.Event) []string {
		return []string{ev.ID, ev.Type, orDash(ev.AccountID), mode(ev.Livemode), string(ev.Status), strconv.Itoa(ev.Attempts), timeOrDash(ev.ReceivedAt), orDash(ev.LastError)}
	})
}

// printListing lists what list reads from the configured database (opened as the
// listing's flags say) and prints it: a JSON array with --json, else a table of header
// and one row of cells per item.
func printListing[T any](ctx context.Context, l *listing, stdout io.Writer, list func(store.Store) ([]T, error), header string, row func(T) []string) error {
	st, err := l.open(ctx, existing)
	if err != nil {
		return err
	}
	defer st.Close()
	items, err := list(st)
	if err != nil {
		return err
	}
	if l.asJSON {
		return writeJSONArray(stdout, items)
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, strings.Join(row(it), "\t"))
	}
	return tw.Flush()
}

// writeJSONArray prints list as a JSON array, [] when empty.
func writeJSONArray[T any](w io.Writer, list []T) error {
	if list == nil {
		list = []T{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
