// Command quickstart is the Stripe page's sample backend written with appbackend: the
// same endpoints, with the signature checked on the raw body and CORS only on signed
// routes. It reads the same configuration as `appbackend serve`.
//
//	STRIPE_APP_SECRETS=absec_… go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/outbound"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := appbackend.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	if err := appbackend.CheckScheduleSpec(refreshSchedule, refreshSpec(getenv)); err != nil {
		return err
	}
	app, err := appbackend.New(cfg)
	if err != nil {
		return err
	}
	register(app, getenv)
	return app.Run(ctx)
}

// register adds the quickstart's routes to app.
func register(app *appbackend.App, getenv func(string) string) {
	// Signed over the default {user_id, account_id}: only those two are trusted.
	app.HandleFunc("POST /api/do_secret_stuff", func(w http.ResponseWriter, r *http.Request) {
		appbackend.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
	})
	// Signed with an additional payload (fetchStripeSignature(payload)): the whole body
	// is covered by the signature, so its fields are trusted; id.Payload holds them.
	app.HandleFunc("POST /api/do_more_secret_stuff", func(w http.ResponseWriter, r *http.Request) {
		id, _ := appbackend.IdentityFrom(r.Context())
		app.Logger().InfoContext(r.Context(), "secret stuff", "account", id.AccountID, "payload_signed", id.Payload != nil)
		appbackend.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
	})
	// The page's "Use Stripe APIs": a customer created on the caller's account (the
	// Stripe-Account header), with the live or test key as the signed livemode or the
	// configuration says.
	app.HandleFunc("POST /api/data", func(w http.ResponseWriter, r *http.Request) {
		sc, err := app.Stripe(r.Context())
		if err != nil {
			app.WriteError(w, r, err)
			return
		}
		_, err = sc.V1Customers.Create(r.Context(), &stripe.CustomerCreateParams{
			Description: stripe.String("My First Test Customer (created for API docs)"),
		})
		if err != nil {
			app.WriteError(w, r, err)
			return
		}
		appbackend.WriteJSON(w, http.StatusOK, map[string]any{"data": []any{}})
	})
	// The page's "Call other APIs": a third-party API called from the backend, with
	// timeouts and a response size limit. QUICKSTART_TIME_URL names it.
	timeURL := getenv("QUICKSTART_TIME_URL")
	if timeURL == "" {
		timeURL = "http://worldclockapi.com/api/json/est/now"
	}
	client := outbound.New(outbound.Config{Logger: app.Logger()})
	app.HandleFunc("GET /api/time", func(w http.ResponseWriter, r *http.Request) {
		var data any
		if err := client.GetJSON(r.Context(), timeURL, nil, &data); err != nil {
			app.WriteError(w, r, appbackend.NewError(appbackend.CodeUpstreamUnavailable, "the time service did not answer"))
			return
		}
		appbackend.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
	})
	registerSchedules(app, getenv)
}
