// Command invoicetagger is a Stripe App backend built on appbackend: Dashboard users
// tag invoices, new invoices get the account's default tag, a nightly schedule sums up
// each account's tags, and a job exports them as CSV. It shows an app's own tables
// (Config.Migrations), install hooks, a role-guarded route, an event handler that acts
// once per event, a per-account schedule and a long job the UI polls. It reads the
// same configuration as `appbackend serve`, plus:
//
//	INVOICETAGGER_DEFAULT_TAG    the tag invoice.finalized adds (default "unreviewed")
//	INVOICETAGGER_SUMMARY_SPEC   when the summary runs (default "0 2 * * *", 02:00 UTC)
//
//	STRIPE_APP_SECRETS=absec_… STRIPE_WEBHOOK_SECRETS=whsec_… STRIPE_TEST_SECRET_KEY=sk_test_… \
//	APPBACKEND_DATABASE=sqlite:tagger.db go run ./examples/invoicetagger
package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/appbackend/appbackend"
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "invoicetagger:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := appbackend.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	// The tables are part of the program: its embedded migrations, whatever
	// APPBACKEND_MIGRATIONS (which ConfigFromEnv reads for `appbackend serve`) says.
	cfg.Migrations = migrations
	if tag := getenv("INVOICETAGGER_DEFAULT_TAG"); tag != "" {
		if _, err := normalizeTag(tag); err != nil {
			return fmt.Errorf("%w: INVOICETAGGER_DEFAULT_TAG: %v", appbackend.ErrConfig, err)
		}
	}
	app, err := appbackend.New(cfg)
	if err != nil {
		return err
	}
	register(app, getenv)
	return app.Run(ctx)
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
		tg.defaultTag = tag // run refuses an invalid one before it gets here
	}
	spec := getenv("INVOICETAGGER_SUMMARY_SPEC")
	if spec == "" {
		spec = "0 2 * * *"
	}

	app.OnInstall(tg.installed)
	app.OnUninstall(tg.uninstalled)
	app.OnCleanup(tg.removeAccountData)
	app.OnEvent("invoice.finalized", tg.invoiceFinalized)
	tg.registerRoutes()
	// An invalid spec, or a kind registered twice, panics here: the program (and its
	// first test) cannot start without its schedule or its job.
	app.EveryAccount(spec, "invoicetagger.summary", tg.summarize)
	appbackend.AddWorker(app, exportWorker{tagger: tg})
	return tg
}
