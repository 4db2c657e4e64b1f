package appauth_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/appbackend/appbackend/appauth"
)

// now pins the examples' clock to the signatures' timestamp, so their output is stable.
var now = time.Unix(1700000000, 0)

func clock() time.Time { return now }

// Sign a request the way Stripe and the UI extension would, and verify it.
func Example() {
	secrets := []string{"absec_test_secret"}
	header, body, err := appauth.Sign(secrets, now, "usr_K6yd2CbXLO9A5G", "acct_1JSkf6FRwUQjTSJE",
		[]byte(`{"transaction_id":"ipi_1KRmFUFRwUQjTSJE","amount":100}`))
	if err != nil {
		panic(err)
	}
	fmt.Println("Stripe-Signature:", header)
	fmt.Println("body:", string(body))

	verifier, err := appauth.NewVerifier(secrets, appauth.WithClock(clock))
	if err != nil {
		panic(err)
	}
	id, err := verifier.VerifyRequest(header, body, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(id.UserID, id.AccountID, id.SignedAs, string(id.Payload))

	_, err = verifier.VerifyRequest(header, []byte(strings.Replace(string(body), "100", "1000", 1)), nil)
	fmt.Println(err, errors.Is(err, appauth.ErrNoValidSignature))
	// Output:
	// Stripe-Signature: t=1700000000,v1=be83a4c9d3a83c17d9a2659540c1e829290aa45fbd9f284d95c82c6f844de344
	// body: {"transaction_id":"ipi_1KRmFUFRwUQjTSJE","amount":100,"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}
	// usr_K6yd2CbXLO9A5G acct_1JSkf6FRwUQjTSJE body {"transaction_id":"ipi_1KRmFUFRwUQjTSJE","amount":100}
	// no signature matches true
}

// Protect a route: the handler only runs for verified requests and finds the Identity in
// its context.
func ExampleVerifier_Protect() {
	verifier, err := appauth.NewVerifier([]string{"absec_test_secret"}, appauth.WithClock(clock))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/whoami", verifier.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := appauth.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s of %s", id.UserID, id.AccountID)
	})))

	send := func(header, body string) {
		r := httptest.NewRequest("POST", "/api/whoami", strings.NewReader(body))
		if header != "" {
			r.Header.Set("Stripe-Signature", header)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("Access-Control-Allow-Origin"), strings.TrimSpace(w.Body.String()))
	}
	body := `{"note":"not signed","user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`
	send("t=1700000000,v1=95d377f7216b002bc8462ad7ad1c21ae33f54bfd7f12f1fe86f43cfd56123df3", body)
	send("", body)
	send("t=1699990000,v1=95d377f7216b002bc8462ad7ad1c21ae33f54bfd7f12f1fe86f43cfd56123df3", body)
	// Output:
	// 200 * hello usr_K6yd2CbXLO9A5G of acct_1JSkf6FRwUQjTSJE
	// 401 * {"error":{"code":"signature_missing","message":"no Stripe-Signature header"}}
	// 401 * {"error":{"code":"signature_expired","message":"signature timestamp is too old"}}
}

// Require a role proven by a signed stripe_roles payload.
func ExampleRequireRole() {
	verifier, err := appauth.NewVerifier([]string{"absec_test_secret"}, appauth.WithClock(clock))
	if err != nil {
		panic(err)
	}
	adminOnly := verifier.Protect(appauth.RequireRole("admin", "super_admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "welcome, administrator")
	})))

	for _, roles := range []string{
		`[{"id":"admin","name":"Administrator","type":"builtIn"}]`,
		`[{"id":"rol_1","name":"admin","type":"custom"}]`, // a custom role NAMED admin
	} {
		header, body, err := appauth.Sign([]string{"absec_test_secret"}, now, "usr_1", "acct_1", []byte(`{"stripe_roles":`+roles+`}`))
		if err != nil {
			panic(err)
		}
		r := httptest.NewRequest("POST", "/api/admin", strings.NewReader(string(body)))
		r.Header.Set("Stripe-Signature", header)
		w := httptest.NewRecorder()
		adminOnly.ServeHTTP(w, r)
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200 welcome, administrator
	// 403 {"error":{"code":"role_required","message":"this route requires the role admin or super_admin"}}
}

// Parse a header without verifying it.
func ExampleParseHeader() {
	h, err := appauth.ParseHeader("t=1700000000,v1=95d377f7216b002bc8462ad7ad1c21ae33f54bfd7f12f1fe86f43cfd56123df3,v0=ignored")
	fmt.Println(h.Timestamp.Unix(), len(h.Signatures), err)

	_, err = appauth.ParseHeader("t=1700000000,v0=test-mode-only")
	fmt.Println(err, errors.Is(err, appauth.ErrNoSignatures))
	// Output:
	// 1700000000 1 <nil>
	// Stripe-Signature header has no v1 signature true
}

// Verify a webhook with the endpoint's signing secrets (two while one is being rolled).
func ExampleVerifier_VerifyPayload() {
	verifier, err := appauth.NewVerifier([]string{"whsec_old", "whsec_new"}, appauth.WithClock(clock))
	if err != nil {
		panic(err)
	}
	event := []byte(`{"id":"evt_1","object":"event","type":"account.application.authorized"}`)
	header := "t=1700000000,v1=" + appauth.ComputeSignature("whsec_new", 1700000000, event)

	at, err := verifier.VerifyPayload(header, event)
	fmt.Println(at.Unix(), err)
	_, err = verifier.VerifyPayload(header, append(event, '\n'))
	fmt.Println(err)
	// Output:
	// 1700000000 <nil>
	// no signature matches
}
