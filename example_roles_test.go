package appbackend_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
)

// A route only Dashboard admins may call. The UI extension proves the user's roles by
// signing them: it passes userContext.roles to fetchStripeSignature under the payload
// key stripe_roles, a list of {"id", "name", "type": "builtIn"|"custom"} objects, and
// Stripe refuses to sign a role the user does not hold. RequireRole admits a request
// whose signed stripe_roles has any of the ids given; any other gets 403 role_required.
// (From the command line: appbackend call POST URL … --role admin.)
func ExampleApp_Handle_requireRole() {
	const secret = "absec_example_secret"
	dir, err := os.MkdirTemp("", "appbackend-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ready := make(chan struct{})
	app, err := appbackend.New(appbackend.Config{
		Database:   "sqlite:" + filepath.Join(dir, "example.db"),
		AppSecrets: []string{secret},
		Listener:   ln,
		Ready:      func(net.Addr) { close(ready) },
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}

	app.Handle("POST /api/refunds", appauth.RequireRole("admin", "super_admin")(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := appbackend.IdentityFrom(r.Context())
			if id.HasRole("super_admin") {
				app.WriteError(w, r, appbackend.NewError(appbackend.CodeConflict, "a refund is already under way"))
				return
			}
			fmt.Fprintf(w, `{"refunded_by":%q}`, id.UserID)
		})))

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	<-ready

	// call signs a request the way the UI extension and Stripe would.
	call := func(payload string) {
		header, body, err := appauth.Sign([]string{secret}, time.Now(), "usr_1", "acct_1", []byte(payload))
		if err != nil {
			panic(err)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/api/refunds", strings.NewReader(string(body)))
		req.Header.Set(appauth.SignatureHeader, header)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		answer, _ := io.ReadAll(res.Body)
		fmt.Println(res.StatusCode, strings.TrimSpace(string(answer)))
	}
	call(`{"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"}],"amount":100}`)
	call(`{"stripe_roles":[{"id":"view_only","name":"View only","type":"builtIn"}],"amount":100}`)
	call(`{"stripe_roles":[{"id":"super_admin","name":"Super Administrator","type":"builtIn"}],"amount":100}`)
	call(`{"amount":100}`)

	stop()
	if err := <-done; err != nil {
		panic(err)
	}
	// Output:
	// 200 {"refunded_by":"usr_1"}
	// 403 {"error":{"code":"role_required","message":"this route requires the role admin or super_admin"}}
	// 409 {"error":{"code":"conflict","message":"a refund is already under way"}}
	// 403 {"error":{"code":"role_required","message":"this route requires the role admin or super_admin"}}
}
