package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/setup"
)

const usage = `appbackend — the self-hosted backend for Stripe Apps

Usage:
  appbackend serve [--dev] [flags]       run the server (see 'appbackend serve --help')
  appbackend sign [--secret S [--secret S2]] --user U --account A [--payload JSON] [--role ID]… [--timestamp UNIX]
                                         print a Stripe-Signature header and the exact body to send
  appbackend call METHOD URL [--secret S] --user U --account A [--payload JSON] [--role ID]…
                                         sign and send a request, print the response
  appbackend trigger TYPE --account ACCT [--test] [--data JSON|@FILE] [--url URL] [--secret whsec_…]
                                         post a realistic signed event to a running backend
  appbackend install-link --account ACCT [--oauth] [--test] [--url URL] [--secret absec_…]
                                         run an install link against a running backend
  appbackend rotate-key [--new]          re-encrypt OAuth tokens with the first APPBACKEND_ENCRYPTION_KEY
  appbackend installations [--json]      list installations (per account and mode)
  appbackend installations reauthorize ACCOUNT [--test]
                                         ask Stripe to reauthorize the account's install
  appbackend events [--status S] [--json]
                                         list the inbox's events
  appbackend events replay ID            process an event again
  appbackend events replay --status dead|failed [--type T] [--account A] [--since D] [--dry-run]
                                         process every matching event again, in batches
  appbackend events pause|resume         stop or restart event processing (and delivery) on every replica
  appbackend schedules [--json]          list schedules (per account and mode)
  appbackend jobs [--json] [--state S] [--kind K]
                                         list jobs
  appbackend migrate                     apply pending database migrations
  appbackend backup FILE                 copy the SQLite database to FILE while it serves, and check the copy
  appbackend restore FILE                replace the SQLite database with a backup (the server stopped)
  appbackend doctor [--json]             check the configuration for common oversights
  appbackend healthcheck [--addr HOST:PORT]
                                         exit 0 if the running server's GET /readyz answers 200 (a container's HEALTHCHECK)
  appbackend version                     print the version

Configuration is read from the environment (APPBACKEND_ADDR, APPBACKEND_DATABASE,
STRIPE_APP_SECRETS, STRIPE_WEBHOOK_SECRETS, …) over the TOML file that --config or
APPBACKEND_CONFIG names, by every command alike; every variable is also a serve flag.
The commands that read or act on the database never create or migrate it: run
'appbackend migrate' (or serve) first.
`

// usageError is a mistake in how the command was called: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// subcommands are the commands that take their arguments and environment and write
// to stdout only; serve, trigger, version and help are dispatched by Run itself.
var subcommands = map[string]func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error{
	"sign":          runSign,
	"call":          runCall,
	"install-link":  runInstallLink,
	"rotate-key":    runRotateKey,
	"installations": runInstallations,
	"events":        runEvents,
	"schedules":     runSchedules,
	"jobs":          runJobs,
	"migrate":       runMigrate,
	"backup":        runBackup,
	"restore":       runRestore,
	"doctor":        runDoctor,
	"healthcheck":   runHealthcheck,
}

// run is the stock binary's program, parameterised so tests run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return App{}.Run(ctx, args, getenv, stdout, stderr)
}

// Run is the whole program, Main without the process: it runs the command args names
// (os.Args[1:] under Main) with getenv as its environment, writes to stdout and stderr,
// and returns the exit status. A program's tests call it in-process.
func (a App) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = a.DefaultArgs
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	// The subcommands reach the app through their context, so that each keeps the
	// signature it has in the stock binary.
	ctx = context.WithValue(ctx, appKey{}, a)
	var err error
	var file *appbackend.ConfigFile
	switch args[0] {
	case "version", "--version", "-v", "help", "--help", "-h":
	default:
		if a.Migrations != nil && hasFlag(args[1:], "migrations") {
			return exitCode(usagef("--migrations: this binary applies the migrations embedded in it"), args[0], stderr)
		}
		// Read once, here, so that every subcommand sees the same layers.
		if getenv, file, err = layerConfig(args[1:], getenv); err != nil {
			return exitCode(usageError{err.Error()}, args[0], stderr)
		}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = runServe(ctx, rest, getenv, file, stdout, stderr)
	case "trigger":
		err = runTrigger(ctx, rest, getenv, os.Stdin, stdout)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		if sub, ok := subcommands[cmd]; ok {
			err = sub(ctx, rest, getenv, stdout)
		} else {
			err = usagef("unknown command %q (run 'appbackend help')", cmd)
		}
	}
	return exitCode(err, args[0], stderr)
}

type appKey struct{}

// appOf is the App that Run runs; the zero App (the stock binary) outside Run.
func appOf(ctx context.Context) App {
	a, _ := ctx.Value(appKey{}).(App)
	return a
}

// configure puts what the app brings into the configuration `serve` runs with.
func (a App) configure(cfg *appbackend.Config) {
	if a.Migrations != nil {
		cfg.Migrations = a.Migrations
	}
}

// setup runs the app's Setup on the App `serve` built; serve maps its error as New's.
func (a App) setup(app *appbackend.App, getenv func(string) string) error {
	if a.Setup == nil {
		return nil
	}
	return a.Setup(app, getenv)
}

// hasFlag reports whether args give the flag name (-name, --name, -name=…), before a
// "--" that ends the flags.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && n == name {
			return true
		}
	}
	return false
}

// exitCode prints err as one line and maps it to the contract's exit status.
func exitCode(err error, cmd string, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	// The database's own messages are redacted where it is opened; this catches a
	// password that reached an error some other way.
	msg := setup.RedactDatabase(strings.ReplaceAll(err.Error(), "\n", " "))
	fmt.Fprintf(stderr, "appbackend %s: %s\n", cmd, msg)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// flags is a subcommand's flag set. Errors come back as values, so that a bad flag costs
// one line on stderr; --help prints the synopsis and the flags on stdout.
type flags struct {
	*flag.FlagSet
	synopsis string
	// notes, if any, follow the flags in --help.
	notes  string
	stdout io.Writer
}

func newFlags(name, synopsis string, stdout io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// Read by run (layerConfig) before the subcommand parses its flags.
	fs.String("config", "", configHelp)
	return &flags{FlagSet: fs, synopsis: synopsis, stdout: stdout}
}

// parse parses flags that may come before, between or after positional arguments, as
// in `appbackend call POST URL --secret S`, and returns the positional ones.
func (f *flags) parse(args []string) ([]string, error) {
	var positional []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(f.stdout, "Usage: %s\n\nFlags:\n", f.synopsis)
				f.SetOutput(f.stdout)
				f.PrintDefaults()
				f.SetOutput(io.Discard)
				if f.notes != "" {
					fmt.Fprintf(f.stdout, "\n%s\n", f.notes)
				}
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = f.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
