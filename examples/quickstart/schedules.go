package main

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
)

// exportArgs is the quickstart's long job: work the UI hands to the backend and polls
// for, so that it goes on when the merchant closes the Dashboard.
type exportArgs struct{}

func (exportArgs) Kind() string { return "quickstart.export" }

// registerSchedules adds the Stripe page's "long-lived app logic" and "cron-job-like
// functionality": an hourly refresh of every installed account's balance, and a
// signed POST /api/export that hands an export to a job and answers its id at once;
// the UI then polls GET /api/jobs/{id} (appbackend's own route) for its state and
// output. QUICKSTART_REFRESH_EVERY sets the refresh's spec (default @hourly).
// refreshSchedule is the refresh's name, refreshSpec its spec.
const refreshSchedule = "quickstart.refresh"

func refreshSpec(getenv func(string) string) string {
	if spec := getenv("QUICKSTART_REFRESH_EVERY"); spec != "" {
		return spec
	}
	return "@hourly"
}

func registerSchedules(app *appbackend.App, getenv func(string) string) {
	// An invalid spec panics here; run checks it first (CheckScheduleSpec), so that a bad
	// QUICKSTART_REFRESH_EVERY is a configuration error.
	app.EveryAccount(refreshSpec(getenv), refreshSchedule, func(ctx context.Context, run appbackend.Run) error {
		// The context is bound to the run's account and mode: this reads the
		// merchant's balance with the live or test key.
		sc, err := app.Stripe(ctx)
		if err != nil {
			return err
		}
		bal, err := sc.V1Balance.Retrieve(ctx, nil)
		if err != nil {
			return err
		}
		app.Logger().InfoContext(ctx, "balance refreshed", "account_id", run.AccountID, "livemode", run.Livemode,
			"slot", run.Slot, "available", amounts(bal.Available))
		return nil
	})

	appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[exportArgs]) error {
		sc, err := app.Stripe(ctx) // the account of the merchant who asked
		if err != nil {
			return err
		}
		bal, err := sc.V1Balance.Retrieve(ctx, nil)
		if err != nil {
			return err
		}
		// What GET /api/jobs/{id} returns as "output" once the job completed.
		return river.RecordOutput(ctx, map[string]any{
			"available": amounts(bal.Available), "pending": amounts(bal.Pending), "livemode": bal.Livemode,
		})
	}))
	app.HandleFunc("POST /api/export", func(w http.ResponseWriter, r *http.Request) {
		res, err := app.Enqueue(r.Context(), exportArgs{}, nil)
		if err != nil {
			app.WriteError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"job_id": res.Job.ID})
	})
}

// amounts lists a balance's amounts by currency.
func amounts(list []*stripe.BalanceAmount) map[string]int64 {
	out := make(map[string]int64, len(list))
	for _, a := range list {
		out[string(a.Currency)] += a.Amount
	}
	return out
}
