package appbackend_test

// Runnable examples of each registration method of App. Each registers what an app's
// main would and drives it with appbackendtest, as a test of the app would, so that
// its output is checked.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/exampletb"
)

// HandleFunc registers a signed route under /api/: it runs only for a request the
// Dashboard signed, with the verified caller in its context.
func ExampleApp_HandleFunc() {
	t := exampletb.New()
	defer t.End()

	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.HandleFunc("POST /api/hello", func(w http.ResponseWriter, r *http.Request) {
			id, _ := appbackend.IdentityFrom(r.Context())
			appbackend.WriteJSON(w, http.StatusOK, map[string]string{"hello": id.UserID})
		})
	})
	res := app.As("usr_1", "acct_1").Post(t, "/api/hello", nil)
	fmt.Println(res.Status, strings.TrimSpace(string(res.Body)))

	unsigned, err := http.Post(app.URL+"/api/hello", "application/json", nil)
	require.NoError(t, err)
	unsigned.Body.Close()
	fmt.Println(unsigned.StatusCode)
	// Output:
	// 200 {"hello":"usr_1"}
	// 401
}

// Handle registers any http.Handler as a signed route, here one that answers with
// the signed account.
func ExampleApp_Handle() {
	t := exampletb.New()
	defer t.End()

	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.Handle("GET /api/account", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := appbackend.IdentityFrom(r.Context())
			fmt.Fprint(w, id.AccountID)
		}))
	})
	res := app.As("usr_1", "acct_1").Get(t, "/api/account")
	fmt.Println(res.Status, string(res.Body))
	// Output: 200 acct_1
}

// OnEvent registers a handler for the events of a type (or "prefix.*", or "*"); it
// runs once per event, bound to the event's account, in a transaction that commits
// with the event.
func ExampleApp_OnEvent() {
	t := exampletb.New()
	defer t.End()

	seen := make(chan string, 1)
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnEvent("customer.*", func(ctx context.Context, ev appbackend.Event) error {
			seen <- ev.Type + " " + ev.AccountID
			return nil
		})
	})
	id := app.Deliver(t, appbackendtest.Event{Type: "customer.created", Account: "acct_1"})
	ev := app.WaitForEvent(t, id)
	fmt.Println(<-seen, ev.Status)
	// Output: customer.created acct_1 processed
}

// OnInstall runs when an account installs the app in a mode, OnUninstall when it
// uninstalls it, and OnCleanup after the uninstall, to delete the account's data.
func ExampleApp_OnInstall() {
	t := exampletb.New()
	defer t.End()

	log := make(chan string, 3)
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnInstall(func(ctx context.Context, in appbackend.Installation) error {
			log <- "installed " + in.AccountID
			return nil
		})
		app.OnUninstall(func(ctx context.Context, in appbackend.Installation) error {
			log <- "uninstalled " + in.AccountID
			return nil
		})
		app.OnCleanup(func(ctx context.Context, account string, livemode bool) error {
			log <- "cleaned up " + account
			return nil
		})
	})
	app.Install(t, "acct_1", false)
	app.Uninstall(t, "acct_1", false) // returns after the cleanup ran
	for range 3 {
		fmt.Println(<-log)
	}
	// Output:
	// installed acct_1
	// uninstalled acct_1
	// cleaned up acct_1
}

// OnReauthorizationRequired runs when Stripe refuses the refresh token of an OAuth
// installation (invalid_grant: the merchant revoked the app's access), in the
// transaction that marks the installation reauthorization_required. Calls on the
// account fail until the merchant installs the app again; the hook is where the app
// tells them (an email, a banner), with the install link (GET /install).
func ExampleApp_OnReauthorizationRequired() {
	t := exampletb.New()
	defer t.End()

	notified := make(chan string, 1)
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnReauthorizationRequired(func(ctx context.Context, in appbackend.Installation) error {
			notified <- "ask " + in.AccountID + " to install the app again (" + string(in.Status) + ")"
			return nil
		})
		app.HandleFunc("POST /api/balance", func(w http.ResponseWriter, r *http.Request) {
			sc, err := app.Stripe(r.Context()) // the account's OAuth token
			if err == nil {
				_, err = sc.V1Balance.Retrieve(r.Context(), &stripe.BalanceRetrieveParams{})
			}
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			appbackend.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
		})
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		// An OAuth app: install links, and the tokens sealed with an encryption key.
		cfg.AppID, cfg.PublicURL = "ca_example", "http://127.0.0.1"
		cfg.EncryptionKeys = []string{"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	}))
	// The merchant installs through the install link; the access token it gets is so
	// short-lived that the next call refreshes it.
	app.Fake.SetOAuthTokenLifetime(time.Second)
	app.InstallLink(t, "acct_1", true)
	// The merchant revokes the app's access: Stripe refuses the refresh.
	app.Fake.RevokeOAuth("acct_1")

	res := app.As("usr_1", "acct_1").Post(t, "/api/balance", nil)
	fmt.Println(res.Status)
	select { // the hook ran before the call was answered
	case note := <-notified:
		fmt.Println(note)
	default:
		fmt.Println("no hook ran")
	}
	in, _ := app.Installation(t, "acct_1", false)
	fmt.Println(in.Status)
	// Output:
	// 403
	// ask acct_1 to install the app again (reauthorization_required)
	// reauthorization_required
}

type greetArgs struct {
	Name string `json:"name"`
}

func (greetArgs) Kind() string { return "example.greet" }

// AddWorker registers the worker of a job kind and Enqueue inserts a job of it; the
// job runs on the app's workers, retried with backoff, and its output is what
// GET /api/jobs/{id} answers.
func ExampleApp_Enqueue() {
	t := exampletb.New()
	defer t.End()

	app := appbackendtest.Start(t, func(app *appbackend.App) {
		appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[greetArgs]) error {
			return river.RecordOutput(ctx, "hello "+job.Args.Name)
		}))
	})
	res, err := app.Enqueue(context.Background(), greetArgs{Name: "jenny"}, nil)
	require.NoError(t, err)
	status := app.WaitForJob(t, res.Job.ID)
	fmt.Println(status.State, string(status.Output))
	// Output: completed "hello jenny"
}

// Every registers a schedule of the platform; EveryAccount one that runs once per
// installed account, bound to it. In a test, a short interval and a wait for its
// effect.
func ExampleApp_Every() {
	t := exampletb.New()
	defer t.End()

	ran := make(chan string, 8)
	appbackendtest.Start(t, func(app *appbackend.App) {
		app.Every("@every 1s", "example.heartbeat", func(ctx context.Context, run appbackend.Run) error {
			select {
			case ran <- "heartbeat":
			default:
			}
			return nil
		})
	})
	select {
	case what := <-ran:
		fmt.Println(what)
	case <-time.After(30 * time.Second):
		fmt.Println("the schedule did not run")
	}
	// Output: heartbeat
}

// EveryAccount runs once per slot for each installed account, with app.Stripe(ctx)
// calling on that account's behalf.
func ExampleApp_EveryAccount() {
	t := exampletb.New()
	defer t.End()

	ran := make(chan string, 8)
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.EveryAccount("@every 1s", "example.sync", func(ctx context.Context, run appbackend.Run) error {
			account, _, err := app.Account(ctx)
			if err != nil {
				return err
			}
			select {
			case ran <- "sync " + account:
			default:
			}
			return nil
		})
	})
	app.Install(t, "acct_1", false)
	select {
	case what := <-ran:
		fmt.Println(what)
	case <-time.After(30 * time.Second):
		fmt.Println("the schedule did not run")
	}
	// Output: sync acct_1
}
