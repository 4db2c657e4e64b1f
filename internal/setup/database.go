// Package setup is what the server and the CLI share to read the configuration and
// open the database it names, and to keep the database's password out of every
// message.
package setup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river/rivermigrate"

	"github.com/appbackend/appbackend/outbound"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

// ErrConfig marks an invalid configuration: the server did not start. The root
// package's ErrConfig is this one.
var ErrConfig = errors.New("invalid configuration")

// SplitList splits a comma-separated list, dropping blanks around and between entries.
func SplitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// ParseByteSize parses a positive number of bytes.
func ParseByteSize(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive number of bytes", s)
	}
	return n, nil
}

// ParseDatabase splits a database setting into its kind ("sqlite" or "postgres") and
// the path or URL the driver takes.
func ParseDatabase(s string) (kind, dsn string, err error) {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if path == "" {
			return "", "", fmt.Errorf("%w: APPBACKEND_DATABASE %q has no path (want sqlite:PATH)", ErrConfig, s)
		}
		return "sqlite", path, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return "postgres", s, nil
	default:
		return "", "", fmt.Errorf("%w: APPBACKEND_DATABASE must be sqlite:PATH or a postgres:// URL", ErrConfig)
	}
}

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
	// RequireSchema opens an existing database as it is (SkipMigrations) and refuses,
	// with ErrNoSchema, one that does not exist (a SQLite file is not created) or that
	// lacks a migration of this binary's (appbackend's, River's or the app's): the
	// CLI's readers and one-off writers use it, so that only `serve` and `migrate`
	// create or change a schema.
	RequireSchema bool
}

// ErrNoSchema marks a database that is missing, or older than this binary's schema;
// its message tells the user to run `appbackend migrate`.
var ErrNoSchema = errors.New("the database is not ready")

// OpenStore opens the database a setting names ("sqlite:PATH" or a postgres:// URL),
// applying pending migrations unless told not to.
func OpenStore(ctx context.Context, database string, opts StoreOptions) (store.Store, error) {
	st, err := openStore(ctx, database, opts)
	if err != nil {
		return nil, RedactDatabaseError(err, database)
	}
	return st, nil
}

func openStore(ctx context.Context, database string, opts StoreOptions) (store.Store, error) {
	kind, dsn, err := ParseDatabase(database)
	if err != nil {
		return nil, err
	}
	if opts.RequireSchema {
		opts.SkipMigrations = true
		if kind == "sqlite" {
			if _, err := os.Stat(dsn); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w: there is no database at %s: run `appbackend migrate` to create it, or check APPBACKEND_DATABASE", ErrNoSchema, dsn)
			}
		}
	}
	var st store.Store
	switch kind {
	case "sqlite":
		o := []sqlite.Option{sqlite.WithAppMigrations(opts.Migrations)}
		if opts.SkipMigrations {
			o = append(o, sqlite.WithoutMigrations())
		}
		if opts.Logger != nil {
			o = append(o, sqlite.WithLogger(opts.Logger))
		}
		st, err = sqlite.Open(ctx, dsn, o...)
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
		st, err = postgres.Open(ctx, dsn, o...)
	default:
		return nil, fmt.Errorf("%w: unknown database kind %q", ErrConfig, kind)
	}
	if err != nil || !opts.RequireSchema {
		return st, err
	}
	if err := checkSchema(ctx, st, RedactDatabase(database)); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// checkSchema returns ErrNoSchema unless every migration this binary knows (its own,
// River's and the app's) is applied; it only reads.
func checkSchema(ctx context.Context, st store.Store, shown string) error {
	lister, ok := st.(interface {
		PendingMigrations(context.Context) ([]store.Migration, error)
	})
	if !ok {
		return nil
	}
	pending, err := lister.PendingMigrations(ctx)
	if err != nil {
		return err
	}
	ours, err := ownMigrations(st)
	if err != nil {
		return err
	}
	// The store lists its own pending migrations first, then the app's.
	if len(ours) > 0 && len(pending) >= len(ours) && slices.EqualFunc(pending[:len(ours)], ours, func(a, b store.Migration) bool { return a.Name == b.Name }) {
		return fmt.Errorf("%w: %s has no appbackend schema yet: run `appbackend migrate` first", ErrNoSchema, shown)
	}
	migrator, err := rivermigrate.New(st.RiverDriver(), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	res, err := migrator.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("read River's migrations: %w", err)
	}
	if !res.OK {
		pending = append(pending, store.Migration{Name: "River's migrations"})
	}
	if len(pending) > 0 {
		names := make([]string, len(pending))
		for i, m := range pending {
			names[i] = m.Name
		}
		return fmt.Errorf("%w: %s is older than this appbackend (not applied: %s): run `appbackend migrate` first", ErrNoSchema, shown, strings.Join(names, ", "))
	}
	return nil
}

// ownMigrations lists appbackend's migrations for the store's database.
func ownMigrations(st store.Store) ([]store.Migration, error) {
	switch st.(type) {
	case *sqlite.Store:
		return sqlite.Migrations()
	case *postgres.Store:
		return postgres.Migrations()
	}
	return nil, nil
}

// RedactDatabase returns a database setting fit for a log line or a message: the
// password of a postgres:// URL (user:PASSWORD@, ?password=, ?sslpassword=) and any
// key=value password=… it carries are replaced by REDACTED. Every message that names
// the configured database goes through it or through RedactDatabaseError.
func RedactDatabase(setting string) string {
	if u, err := url.Parse(setting); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), outbound.Redacted)
		}
		setting = outbound.RedactURL(u)
	}
	return redactPasswords(setting)
}

// RedactDatabaseError returns err with every password of the database setting (and
// PGPASSWORD, which the PostgreSQL driver reads on its own) removed from its message,
// whatever quoted it: the adapter, the driver or a wrapping caller. errors.Is and
// errors.As still see err.
func RedactDatabaseError(err error, setting string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, setting, RedactDatabase(setting))
	for _, p := range databasePasswords(setting) {
		clean = strings.ReplaceAll(clean, p, outbound.Redacted)
	}
	clean = redactPasswords(clean)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// passwordPattern finds password=VALUE in a key=value DSN, a query string or a message
// that quotes one; the value may be single-quoted as libpq allows. urlPasswordPattern
// finds the password of scheme://user:PASSWORD@host.
var (
	passwordPattern    = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'"]+)`)
	urlPasswordPattern = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]*@`)
)

func redactPasswords(s string) string {
	s = passwordPattern.ReplaceAllStringFunc(s, func(m string) string {
		sub := passwordPattern.FindStringSubmatch(m)
		if strings.HasPrefix(sub[2], outbound.Redacted) {
			return m // a known password already replaced; keep what follows it
		}
		return sub[1] + outbound.Redacted
	})
	return urlPasswordPattern.ReplaceAllString(s, "${1}"+outbound.Redacted+"@")
}

// databasePasswords lists the secrets a setting carries, as written and decoded, plus
// PGPASSWORD; values too short to search for safely are left to the patterns.
func databasePasswords(setting string) []string {
	var out []string
	add := func(p string) {
		if len(p) >= 3 && p != outbound.Redacted && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	add(os.Getenv("PGPASSWORD"))
	for _, s := range []string{setting, unescapeLoosely(setting)} {
		for _, m := range passwordPattern.FindAllStringSubmatch(s, -1) {
			add(m[2])
			add(strings.Trim(m[2], "'"))
			add(unescapeLoosely(m[2]))
		}
		for _, m := range urlPasswordPattern.FindAllString(s, -1) {
			p := m[strings.LastIndexByte(m[:len(m)-1], ':')+1 : len(m)-1]
			add(p)
			add(unescapeLoosely(p))
		}
	}
	if u, err := url.Parse(setting); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
	}
	return out
}

// unescapeLoosely decodes %XX and + as a query does, leaving what does not decode.
func unescapeLoosely(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
