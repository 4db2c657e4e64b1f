package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/setup"
)

// sqliteFileCommand is backup's and restore's command line: one FILE and the SQLite
// database (--database or APPBACKEND_DATABASE).
type sqliteFileCommand struct {
	name, usage, notes string
	// missing is the usage error without one FILE; postgres the one for a PostgreSQL
	// database, which says what to use instead.
	missing, postgres string
}

// parse returns the FILE and the path of the SQLite database; a bad database setting
// or a PostgreSQL one is a usage error (exit 2).
func (c sqliteFileCommand) parse(args []string, getenv func(string) string, stdout io.Writer) (file, path string, err error) {
	f := newFlags(c.name, c.usage, stdout)
	f.notes = c.notes
	var d dbFlags
	d.register(f, getenv)
	rest, err := f.parse(args)
	if err != nil {
		return "", "", err
	}
	if len(rest) != 1 {
		return "", "", usagef("%s", c.missing)
	}
	kind, path, err := setup.ParseDatabase(d.database)
	if err != nil {
		return "", "", usageError{err.Error()}
	}
	if kind != "sqlite" {
		return "", "", usageError{c.postgres}
	}
	return rest[0], path, nil
}

func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	file, path, err := sqliteFileCommand{
		name: "backup", usage: "appbackend backup FILE [--database sqlite:PATH]",
		notes:   "Writes a consistent copy of the SQLite database to FILE while the server may keep running\n(VACUUM INTO), checks it with PRAGMA integrity_check, and prints its size and the newest event it holds.\nFor PostgreSQL use pg_dump.",
		missing: "want one FILE to write the backup to", postgres: backup.ErrPostgres.Error(),
	}.parse(args, getenv, stdout)
	if err != nil {
		return err
	}
	info, err := backup.Copy(ctx, path, file)
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
	file, path, err := sqliteFileCommand{
		name: "restore", usage: "appbackend restore FILE [--database sqlite:PATH]",
		notes:    "Replaces the SQLite database with the backup FILE after checking it (integrity, and an appbackend\nschema this binary knows). Stop the server first: the restore refuses while one is running on the\ndatabase. A corrupt database is replaced too. The replaced database is kept beside it as\nPATH.before-restore-TIMESTAMP (-2, -3, … if that name is taken; a kept copy is never overwritten).",
		missing:  "want the backup FILE to restore",
		postgres: "the database is PostgreSQL: restore a pg_dump with pg_restore; `appbackend restore` restores SQLite backups only",
	}.parse(args, getenv, stdout)
	if err != nil {
		return err
	}
	res, err := backup.Restore(ctx, path, file)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s (%s, integrity ok)\n", file, res.Path, backup.FormatSize(res.Size))
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
