package stripeclient_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/stripeclient"
)

// A client bound to a merchant's account: every call carries its Stripe-Account and
// the key of its mode.
func Example() {
	fake := appbackendtest.StartStripeFake() // STRIPE_API_BASE for the example
	defer fake.Close()

	clients, err := stripeclient.New(stripeclient.Config{
		Keys:    stripeclient.Keys{Test: "sk_test_example"},
		APIBase: fake.URL,
	})
	if err != nil {
		panic(err)
	}
	sc, err := clients.Client("acct_merchant", stripeclient.Test)
	if err != nil {
		panic(err)
	}
	cus, err := sc.V1Customers.Create(context.Background(), &stripe.CustomerCreateParams{
		Email: stripe.String("jenny@example.test"),
	})
	if err != nil {
		panic(err)
	}
	r := fake.Requests()[0]
	fmt.Println(cus.ID, r.Account, r.Key())
	// Output: cus_fake1 acct_merchant sk_test_example
}

// A job's writes repeat their idempotency keys when the job runs again, so a customer
// whose creation answer was lost is not created twice.
func ExampleStep() {
	fake := appbackendtest.StartStripeFake()
	defer fake.Close()
	// Stripe creates the customer, but the answer is lost on the way back.
	fake.Script(http.MethodPost, "/v1/customers", appbackendtest.StripeResponse{Status: http.StatusBadGateway, Perform: true})

	clients, _ := stripeclient.New(stripeclient.Config{Keys: stripeclient.Keys{Test: "sk_test_example"}, APIBase: fake.URL})
	// The job layer binds the job's account and runs each attempt under WithJob.
	ctx := stripeclient.WithAccount(context.Background(), "acct_merchant", stripeclient.Test)
	for attempt := 1; ; attempt++ {
		ctx := stripeclient.WithJob(ctx, 1234)
		sc, err := clients.FromContext(ctx)
		if err != nil {
			panic(err)
		}
		_, err = sc.V1Customers.Create(stripeclient.Step(ctx, "customer"), nil)
		fmt.Printf("attempt %d: retryable=%v\n", attempt, stripeclient.IsRetryable(err))
		if err == nil {
			break
		}
	}
	fmt.Println("customers created:", len(fake.List("acct_merchant", false, "customers")))
	fmt.Println("key:", fake.Requests()[1].IdempotencyKey)
	// Output:
	// attempt 1: retryable=true
	// attempt 2: retryable=false
	// customers created: 1
	// key: appbackend-job-1234-customer
}

// The Secret Store at the signed user's scope: a third-party OAuth token.
func ExampleSecretStore() {
	fake := appbackendtest.StartStripeFake()
	defer fake.Close()
	clients, _ := stripeclient.New(stripeclient.Config{Keys: stripeclient.Keys{Test: "sk_test_example"}, APIBase: fake.URL})
	sc, _ := clients.Client("acct_merchant", stripeclient.Test)
	ctx := context.Background()

	scope := stripeclient.UserScope("usr_signed")
	if _, err := sc.Secrets().Set(ctx, scope, "crm_token", "tok_from_oauth"); err != nil {
		panic(err)
	}
	s, err := sc.Secrets().Find(ctx, scope, "crm_token")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Name, s.Payload)
	// Output: crm_token tok_from_oauth
}
