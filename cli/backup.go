package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/setup"
)

// sqlitePath is the file of the configured SQLite database; for PostgreSQL it explains
// what to use instead, as a usage error (exit 2).
func sqlitePath(database string) (string, error) {
	kind, path, err := setup.ParseDatabase(database)
	if err != nil {
		return "", usageError{err.Error()}
	}
	if kind != "sqlite" {
		return "", usageError{backup.ErrPostgres.Error()}
	}
	return path, nil
}

func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("backup", "appbackend backup FILE [--database sqlite:PATH]", stdout)
	f.notes = "Writes a consistent copy of the SQLite database to FILE while the server may keep running\n(VACUUM INTO), checks it with PRAGMA integrity_check, and prints its size and the newest event it holds.\nFor PostgreSQL use pg_dump."
	var d dbFlags
	d.register(f, getenv)
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want one FILE to write the backup to")
	}
	path, err := sqlitePath(d.database)
	if err != nil {
		return err
	}
	info, err := backup.Copy(ctx, path, rest[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s (%s, integrity ok) in %s\n", info.Path, backup.FormatSize(info.Size), info.Took.Round(time.Millisecond))
	printNewest(stdout, info)
	return nil
}

func printNewest(w io.Writer, info backup.Info) {
	if info.NewestEventID == "" {
		fmt.Fprintln(w, "it holds no event")
		return
	}
	fmt.Fprintf(w, "it holds %d events; the newest is %s, received %s\n", info.Events, info.NewestEventID, info.NewestEventAt.Format(time.RFC3339))
}

func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("restore", "appbackend restore FILE [--database sqlite:PATH]", stdout)
	f.notes = "Replaces the SQLite database with the backup FILE after checking it (integrity, and an appbackend\nschema this binary knows). Stop the server first: the restore refuses while one is running on the\ndatabase. A corrupt database is replaced too. The replaced database is kept beside it as\nPATH.before-restore-TIMESTAMP (-2, -3, … if that name is taken; a kept copy is never overwritten)."
	var d dbFlags
	d.register(f, getenv)
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want the backup FILE to restore")
	}
	path, err := sqlitePath(d.database)
	if err != nil {
		if errors.As(err, new(usageError)) && err.Error() == backup.ErrPostgres.Error() {
			return usageError{"the database is PostgreSQL: restore a pg_dump with pg_restore; `appbackend restore` restores SQLite backups only"}
		}
		return err
	}
	res, err := backup.Restore(ctx, path, rest[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s (%s, integrity ok)\n", rest[0], res.Path, backup.FormatSize(res.Size))
	if res.Previous != "" {
		if res.PreviousUnreadable != "" {
			fmt.Fprintf(stdout, "the replaced database could not be read (%s); it is kept as %s\n", res.PreviousUnreadable, res.Previous)
		} else {
			fmt.Fprintf(stdout, "the replaced database is kept as %s\n", res.Previous)
		}
	}
	printNewest(stdout, res.Info)
	return nil
}
