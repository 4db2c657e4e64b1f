package appbackend_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
)

// App.Account tells the account and mode a context acts for without a Stripe call: a
// signed request's caller (in the mode it signed), an event handler's event's.
func TestAccountOfContext(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 4)
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.HandleFunc("POST /api/me", func(w http.ResponseWriter, r *http.Request) {
			account, livemode, err := app.Account(r.Context())
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"account": account, "livemode": livemode})
		})
		app.OnEvent("customer.created", func(ctx context.Context, ev appbackend.Event) error {
			account, livemode, err := app.Account(ctx)
			if err != nil {
				return err
			}
			seen <- account + map[bool]string{true: "/live", false: "/test"}[livemode]
			return nil
		})
	})

	var got struct {
		Account  string `json:"account"`
		Livemode bool   `json:"livemode"`
	}
	res := app.As("usr_1", "acct_me").WithLivemode(false).Post(t, "/api/me", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	res.JSON(t, &got)
	require.Equal(t, "acct_me", got.Account)
	require.False(t, got.Livemode)

	id := app.Deliver(t, appbackendtest.Event{Type: "customer.created", Account: "acct_ev", Livemode: false})
	app.WaitForEvent(t, id)
	require.Equal(t, "acct_ev/test", <-seen)

	// Outside any request, handler or job there is no account.
	_, _, err := app.Account(context.Background())
	require.Error(t, err)
}
