package appauth_test

import (
	"fmt"
	"time"

	"github.com/appbackend/appbackend/appauth"
)

// A GET names its Stripe mode with a signed livemode in its query: what the UI client's
// get does with fetchStripeSignature({livemode}).
func ExampleQueryFor() {
	secrets := []string{"absec_test_secret"}
	at := time.Unix(1700000000, 0)
	payload := []byte(`{"livemode":false}`)
	header, signed, _ := appauth.Sign(secrets, at, "usr_1", "acct_1", payload)
	query, _ := appauth.QueryFor("usr_1", "acct_1", payload)
	fmt.Println("signed:", string(signed))
	fmt.Println("GET /api/policy?" + query.Encode())

	v, _ := appauth.NewVerifier(secrets, appauth.WithClock(func() time.Time { return at }))
	id, err := v.VerifyRequest(header, nil, query)
	fmt.Println(id.SignedAs, string(id.Payload), err)

	// The same query under a signature over the default pair alone is refused.
	header, _, _ = appauth.Sign(secrets, at, "usr_1", "acct_1", nil)
	_, err = v.VerifyRequest(header, nil, query)
	fmt.Println(err)
	// Output:
	// signed: {"livemode":false,"user_id":"usr_1","account_id":"acct_1"}
	// GET /api/policy?account_id=acct_1&livemode=false&user_id=usr_1
	// query {"livemode":false} <nil>
	// the livemode query parameter is not covered by the signature: sign it with fetchStripeSignature({livemode}), as the UI client's get and del do, or leave it out of the query
}
