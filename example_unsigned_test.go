package appbackend_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/exampletb"
)

// A page the merchant opens in a browser, outside the signed /api/: no Stripe-Signature
// is asked for and no CORS header is sent. Such a handler authenticates the caller
// itself (here a third-party OAuth flow's state parameter).
func ExampleApp_HandleUnsigned() {
	t := exampletb.New()
	defer t.End()

	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.HandleUnsignedFunc("GET /oauth/github/callback", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("state") != "expected-state" {
				app.WriteError(w, r, appbackend.NewError(appbackend.CodeBadRequest, "unknown OAuth state"))
				return
			}
			fmt.Fprint(w, "GitHub connected; you can close this tab")
		})

		// Under /api/ every route is signed: registering one there panics.
		func() {
			defer func() { fmt.Println(recover()) }()
			app.HandleUnsignedFunc("GET /api/settings", nil)
		}()
	})

	for _, path := range []string{"/oauth/github/callback?code=c0de&state=expected-state", "/oauth/github/callback?code=c0de&state=forged"} {
		res, err := http.Get(app.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		fmt.Printf("%d %q %s\n", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), strings.TrimSpace(string(body)))
	}
	// Output:
	// appbackend: unsigned route "GET /api/settings" is under /api/, where every route is signed: register it with Handle
	// 200 "" GitHub connected; you can close this tab
	// 400 "" {"error":{"code":"bad_request","message":"unknown OAuth state"}}
}
