// Command invoicetagger is a Stripe App backend built on appbackend: Dashboard users
// tag invoices, new invoices get the account's default tag, a nightly schedule sums up
// each account's tags, and a job exports them as CSV. It shows an app's own tables
// (embedded migrations), install hooks, a role-guarded route, an event handler that
// acts once per event, a per-account schedule and a long job the UI polls.
//
// Its binary is appbackend's command line (package cli) with the tagger in it:
// `invoicetagger serve` (or no arguments) serves, `invoicetagger migrate` creates
// appbackend's tables and the tagger's, and doctor, events, jobs, schedules,
// installations, backup and restore work as in the stock binary, with the same flags
// and configuration. serve also reads:
//
//	INVOICETAGGER_DEFAULT_TAG    the tag invoice.finalized adds (default "unreviewed")
//	INVOICETAGGER_SUMMARY_SPEC   when the summary runs (default "0 2 * * *", 02:00 UTC)
//
//	STRIPE_APP_SECRETS=absec_… STRIPE_WEBHOOK_SECRETS=whsec_… STRIPE_TEST_SECRET_KEY=sk_test_… \
//	APPBACKEND_DATABASE=sqlite:tagger.db go run ./examples/invoicetagger serve
package main

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/cli"
)

//go:embed migrations
var migrationFiles embed.FS

// migrations are the app's tables: migrations/NNNN_name.sql, with postgres/ holding
// the one version PostgreSQL writes differently.
var migrations = func() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the folder is embedded above: cannot happen
	}
	return sub
}()

// program is the tagger's command line: its tables are part of the binary (they
// replace APPBACKEND_MIGRATIONS), and it serves when started without arguments, as it
// did before it had the other commands.
var program = cli.App{
	Migrations:  migrations,
	Setup:       setupTagger,
	DefaultArgs: []string{"serve"},
}

func main() { cli.Main(program) }

// setupTagger checks the tagger's own settings and registers it; serve runs it. An
// invalid setting is a configuration error (exit 2), as an invalid appbackend one is.
func setupTagger(app *appbackend.App, getenv func(string) string) error {
	if tag := getenv("INVOICETAGGER_DEFAULT_TAG"); tag != "" {
		if _, err := normalizeTag(tag); err != nil {
			return fmt.Errorf("%w: INVOICETAGGER_DEFAULT_TAG: %v", appbackend.ErrConfig, err)
		}
	}
	if err := appbackend.CheckScheduleSpec(summarySchedule, summarySpec(getenv)); err != nil {
		return err
	}
	register(app, getenv)
	return nil
}

// summarySchedule is the nightly summary's name, summarySpec its spec.
const summarySchedule = "invoicetagger.summary"

func summarySpec(getenv func(string) string) string {
	if spec := getenv("INVOICETAGGER_SUMMARY_SPEC"); spec != "" {
		return spec
	}
	return "0 2 * * *"
}

// tagger is the app: the appbackend.App it runs on and its settings.
type tagger struct {
	app        *appbackend.App
	defaultTag string
}

// register adds the tagger's hooks, handlers, routes, schedule and job to app, and
// returns the tagger so that tests can call its functions directly. The app must run
// with migrations (Config.Migrations).
func register(app *appbackend.App, getenv func(string) string) *tagger {
	tg := &tagger{app: app, defaultTag: "unreviewed"}
	if tag, err := normalizeTag(getenv("INVOICETAGGER_DEFAULT_TAG")); err == nil {
		tg.defaultTag = tag // setupTagger refuses an invalid one before it gets here
	}
	app.OnInstall(tg.installed)
	app.OnUninstall(tg.uninstalled)
	app.OnCleanup(tg.removeAccountData)
	app.OnEvent("invoice.finalized", tg.invoiceFinalized)
	tg.registerRoutes()
	// An invalid spec, or a kind registered twice, panics here: the program (and its
	// first test) cannot start without its schedule or its job. setupTagger checks the
	// operator's spec first, so that a bad one is a configuration error.
	app.EveryAccount(summarySpec(getenv), summarySchedule, tg.summarize)
	appbackend.AddWorker(app, exportWorker{tagger: tg})
	return tg
}
