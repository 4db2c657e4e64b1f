// Package cli is appbackend's command line: `serve` and every operator command
// (migrate, doctor, events, jobs, schedules, installations, backup, restore, …), as a
// library. The stock binary, cmd/appbackend, is
//
//	func main() { cli.Main(cli.App{}) }
//
// and an app built on appbackend gets the same binary with its own tables and
// registrations:
//
//	//go:embed migrations
//	var migrations embed.FS
//
//	func main() {
//		sub, _ := fs.Sub(migrations, "migrations")
//		cli.Main(cli.App{
//			Migrations: sub,
//			Setup: func(app *appbackend.App, getenv func(string) string) error {
//				app.Handle("POST /api/notes", notes)
//				app.OnEvent("invoice.paid", onInvoicePaid)
//				return nil
//			},
//		})
//	}
//
// Its `migrate` creates the app's tables after appbackend's, `doctor` counts the app's
// pending migrations, and the commands that need an up-to-date schema refuse a
// database that lacks one of them, so an operator never needs the stock binary
// beside it. The flags, help, messages and exit statuses are the stock binary's.
//
// Only `serve` runs Setup. Every other command acts on the database as stored and
// needs none of the app's registrations: `events replay` enqueues appbackend's own
// event-processing job, whose worker (in the running server, which did run Setup)
// looks up the app's handlers when the job runs; `events pause|resume` write a
// setting every replica reads; `jobs`, `schedules`, `events` and `installations`
// list rows by the kind, name and status stored with them; `migrate` and `doctor`
// need the migrations, which are data, not registrations; `backup` and `restore`
// copy the file. So
// an operator command never needs the app's own settings (its INVOICETAGGER_*-style
// variables) to be valid, nor a server's secrets.
package cli

import (
	"context"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/appbackend/appbackend"
)

// App is an app built on appbackend as its command line sees it. The zero App is the
// stock binary: no tables of its own (the folder --migrations or APPBACKEND_MIGRATIONS
// names, if any) and nothing registered.
type App struct {
	// Migrations are the app's own schema migrations, as Config.Migrations (numbered
	// NNNN_name.sql files, optional sqlite/ and postgres/ folders), typically an
	// embed.FS: they are part of the program. `migrate` and `serve` apply them after
	// appbackend's; `doctor` and the commands that require an up-to-date schema check
	// them. They replace APPBACKEND_MIGRATIONS, which such a binary ignores (so one
	// environment serves the stock binary and the app's), and a --migrations flag is
	// refused (exit 2): a binary cannot apply a folder's migrations over its own.
	Migrations fs.FS

	// Setup registers the app on the App that `serve` built from the configuration,
	// before it runs: routes, event handlers, install hooks, workers, schedules. getenv
	// is the command's environment (os.Getenv under Main), for the app's own settings.
	// An error wrapping appbackend.ErrConfig is a usage error (exit 2), like an invalid
	// appbackend setting; any other error exits 1. Only `serve` runs it (see the
	// package documentation for why no other command needs it).
	Setup func(app *appbackend.App, getenv func(string) string) error

	// DefaultArgs are the arguments a run without any stands for. Nil, as in the
	// stock binary, prints the usage and exits 2; a program that served when started
	// bare before it used this package keeps doing so with []string{"serve"}.
	DefaultArgs []string
}

// Main runs the command line of app on the process's arguments and environment, and
// exits with its status: 0 on success, 1 when the command failed, 2 when it was called
// wrongly. SIGINT and SIGTERM stop a running server gracefully.
func Main(app App) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
