// Package appbackend is the self-hosted backend for Stripe Apps, as a library.
//
// A Stripe App's UI extension runs sandboxed in the Dashboard; whatever it cannot do in
// the browser it asks a backend to do. appbackend is that backend: it proves that a
// request comes from a signed-in Dashboard user (the Stripe-Signature header, an HMAC
// with the app's absec_ secret), answers CORS preflights for the sandbox's null origin
// on signed routes only, and serves the app's own routes. The `appbackend` command runs
// it as is; a Go program imports this package to add its own routes:
//
//	app, err := appbackend.New(appbackend.Config{
//		AppSecrets: []string{os.Getenv("STRIPE_APP_SECRETS")},
//		Database:   "sqlite:app.db",
//	})
//	if err != nil { … }
//	app.HandleFunc("POST /api/do_secret_stuff", func(w http.ResponseWriter, r *http.Request) {
//		id, _ := appbackend.IdentityFrom(r.Context()) // the verified user and account
//		…
//	})
//	err = app.Run(ctx)
//
// Every route registered with Handle is under /api/ and runs only after the signature
// verifies against one of the configured secrets (two are live while one is being
// expired). A signature over the default {user_id, account_id} proves only those two
// fields; a signature over an additional payload (fetchStripeSignature(payload)) proves
// the whole body, which Identity.Payload then holds. The verification itself lives in
// package appauth, usable with any router; appauth.RequireRole wraps a route's handler
// to admit only users whose signed stripe_roles hold a role (see the example of
// App.Handle). A page that cannot be signed (a settings page opened in a browser, a
// third-party OAuth callback) is registered outside /api/ with HandleUnsigned: no
// signature, and no CORS.
//
// A handler answers an error with WriteError: NewError(CodeConflict, "…") reaches the
// UI extension as 409 {"error":{"code":"conflict","message":"…"}}. Every ErrorCode
// constant has one status (ErrorCode.Status); NewError panics on any other code, and an
// error that is not an *Error is logged and answered as a bare 500 "internal".
package appbackend
