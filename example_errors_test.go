package appbackend_test

import (
	"fmt"
	"net/http"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
)

// An event handler is retried on every error, Stripe's 4xx included; IsNotFound and
// IsRetryable let it end the retries of a failure that repeating cannot fix.
func ExampleIsNotFound() {
	// What a retrieval of a deleted customer returns, wrapped as a handler might.
	deleted := fmt.Errorf("sync customer: %w", &stripe.Error{
		HTTPStatusCode: http.StatusNotFound, Code: stripe.ErrorCodeResourceMissing, Msg: "No such customer: 'cus_gone'",
	})
	outage := &stripe.Error{HTTPStatusCode: http.StatusBadGateway, Msg: "bad gateway"}
	invalid := &stripe.Error{HTTPStatusCode: http.StatusBadRequest, Code: stripe.ErrorCodeParameterInvalidInteger}

	handle := func(err error) error {
		switch {
		case appbackend.IsNotFound(err):
			return nil // the object is gone: the event is processed, not retried
		case err != nil && !appbackend.IsRetryable(err):
			return nil // a refusal repeating cannot fix; log it in a real handler
		}
		return err // retried with backoff, then dead
	}
	for _, err := range []error{deleted, outage, invalid} {
		fmt.Printf("not found %v, retryable %v, handler returns %v\n",
			appbackend.IsNotFound(err), appbackend.IsRetryable(err), handle(err) != nil)
	}
	// Output:
	// not found true, retryable false, handler returns false
	// not found false, retryable true, handler returns true
	// not found false, retryable false, handler returns false
}
