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

	"github.com/appbackend/appbackend"
)

// A page the merchant opens in a browser, outside the signed /api/: no Stripe-Signature
// is asked for and no CORS header is sent. Such a handler authenticates the caller
// itself (here a third-party OAuth flow's state parameter).
func ExampleApp_HandleUnsigned() {
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
		AppSecrets: []string{"absec_example_secret"},
		Listener:   ln,
		Ready:      func(net.Addr) { close(ready) },
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}

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

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	<-ready

	get := func(path string) {
		res, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		fmt.Printf("%d %q %s\n", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), strings.TrimSpace(string(body)))
	}
	get("/oauth/github/callback?code=c0de&state=expected-state")
	get("/oauth/github/callback?code=c0de&state=forged")

	stop()
	if err := <-done; err != nil {
		panic(err)
	}
	// Output:
	// appbackend: unsigned route "GET /api/settings" is under /api/, where every route is signed: register it with Handle
	// 200 "" GitHub connected; you can close this tab
	// 400 "" {"error":{"code":"bad_request","message":"unknown OAuth state"}}
}
