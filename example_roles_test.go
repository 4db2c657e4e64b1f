package appbackend_test

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/exampletb"
)

// A route only Dashboard admins may call. The UI extension proves the user's roles by
// signing them: it passes userContext.roles to fetchStripeSignature under the payload
// key stripe_roles, a list of {"id", "name", "type": "builtIn"|"custom"} objects, and
// Stripe refuses to sign a role the user does not hold. RequireRole admits a request
// whose signed stripe_roles has any of the ids given; any other gets 403 role_required.
// (From the command line: appbackend call POST URL … --role admin; in a test, the
// kit's Caller.WithRoles signs them as the UI extension does.)
func ExampleApp_Handle_requireRole() {
	t := exampletb.New()
	defer t.End()

	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.Handle("POST /api/refunds", appauth.RequireRole("admin", "super_admin")(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id, _ := appbackend.IdentityFrom(r.Context())
				if id.HasRole("super_admin") {
					app.WriteError(w, r, appbackend.NewError(appbackend.CodeConflict, "a refund is already under way"))
					return
				}
				fmt.Fprintf(w, `{"refunded_by":%q}`, id.UserID)
			})))
	})

	user := app.As("usr_1", "acct_1")
	for _, caller := range []appbackendtest.Caller{
		user.WithRoles("admin"), user.WithRoles("view_only"), user.WithRoles("super_admin"), user,
	} {
		res := caller.Post(t, "/api/refunds", map[string]int{"amount": 100})
		fmt.Println(res.Status, strings.TrimSpace(string(res.Body)))
	}
	// Output:
	// 200 {"refunded_by":"usr_1"}
	// 403 {"error":{"code":"role_required","message":"this route requires the role admin or super_admin"}}
	// 409 {"error":{"code":"conflict","message":"a refund is already under way"}}
	// 403 {"error":{"code":"role_required","message":"this route requires the role admin or super_admin"}}
}
