// Command quickstart is the Stripe page's sample backend written with appbackend: the
// same endpoints, with the signature checked on the raw body and CORS only on signed
// routes. It reads the same configuration as `appbackend serve`.
//
//	STRIPE_APP_SECRETS=absec_… go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/appbackend/appbackend"
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
	app, err := appbackend.New(cfg)
	if err != nil {
		return err
	}
	register(app)
	return app.Run(ctx)
}

// register adds the quickstart's routes to app.
func register(app *appbackend.App) {
	// Signed over the default {user_id, account_id}: only those two are trusted.
	app.HandleFunc("POST /api/do_secret_stuff", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"success": true})
	})
	// Signed with an additional payload (fetchStripeSignature(payload)): the whole body
	// is covered by the signature, so its fields are trusted; id.Payload holds them.
	app.HandleFunc("POST /api/do_more_secret_stuff", func(w http.ResponseWriter, r *http.Request) {
		id, _ := appbackend.IdentityFrom(r.Context())
		app.Logger().InfoContext(r.Context(), "secret stuff", "account", id.AccountID, "payload_signed", id.Payload != nil)
		writeJSON(w, map[string]any{"success": true})
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
