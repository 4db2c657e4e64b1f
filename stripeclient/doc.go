// Package stripeclient calls the Stripe API for the merchants who installed the app:
// with the platform's key of the right mode and the merchant's account in
// Stripe-Account, on every call, so that a handler never thinks about keys, accounts,
// modes, idempotency or retries.
//
// # Clients and binding
//
// New builds one stripe-go v85 backend per mode that has a key (Keys.Live for
// STRIPE_SECRET_KEY, Keys.Test for STRIPE_TEST_SECRET_KEY), against Stripe or
// STRIPE_API_BASE. Clients.Client(accountID, mode) returns a *Client: the stripe-go
// client (its services are promoted: sc.V1Customers.Create(ctx, params)) bound to that
// account and mode. Binding happens below stripe-go's services, in its Backend, so it
// applies to every call; the transport underneath refuses any request whose
// Stripe-Account is not the bound account (a Params.Headers override, a Stripe-Context
// header) or that lost its binding. There is no silent call on the platform account:
// Platform(mode) is the only way to make one, and it says so.
//
// In the façade, app.Stripe(ctx) returns the client for:
//   - a signed UI request: the signed account, in the mode ResolveMode picks (the signed
//     payload's livemode; else the only configured key's mode; else the only mode the
//     app is installed in on the account; else a 400 mode_required error) — see
//     ResolveMode and SignedLivemode;
//   - an event handler or a job: the account and mode WithAccount put into its context —
//     see FromContext.
//
// # Errors
//
// A failed call returns an *Error (unwrapping to the stripe-go error and to the
// contract's *apierror.Error): the caller's mistakes keep a 4xx and Stripe's message —
// 400 bad_request for invalid parameters, 404 not_found, 402 card_error — while
// Stripe's failures (5xx, 429 after retrying, 401/403 on the platform's key, network
// errors, an unreachable STRIPE_API_BASE, timeouts) are 502 stripe_error. Messages never
// contain a key (Scrub). IsRetryable tells the job layer which failures are worth
// another attempt. The package's own refusals (no key for the mode: 503 unavailable
// naming the variable; no account; a binding violated) are never retryable.
//
// # Idempotency
//
// stripe-go gives each write (POST, DELETE) a random Idempotency-Key, which protects its
// own and this package's immediate retries. Across attempts of a job the key must be the
// same, so the job layer runs each attempt under WithJob(ctx, jobID):
//
//	ctx = stripeclient.WithJob(ctx, job.ID)           // the job layer, every attempt
//	sc, _ := app.Stripe(ctx)
//	cus, err := sc.V1Customers.Create(stripeclient.Step(ctx, "customer"), p)   // JobKey(id, "customer")
//	_, err = sc.V1InvoiceItems.Create(stripeclient.Step(ctx, "invoice-item"), q)
//
// Step names distinguish the writes of one job. A write with no step gets
// JobKey(id, "<METHOD> <path> #n"), n counting that attempt's writes to that method and
// path, which repeats as long as the job makes its writes in the same order. A write
// must send the same parameters on every attempt: Stripe refuses a key reused with
// others. WithIdempotencyKey sets a key outside jobs. Config.IdempotencyPrefix is
// prepended to every key taken from a context.
//
// # Retries: who does what
//
// stripe-go's own retries are off (MaxNetworkRetries 0): it sleeps without watching the
// context, and its retries would multiply with ours. This package's transport repeats a
// call at once, up to Config.MaxRetries times with exponential back-off and jitter, when
// it is safe and useful: a 429 (rate limit or lock timeout; Retry-After honoured when it
// fits within MaxRetryBackoff; rate limiters run before Stripe's idempotency layer, so
// the same key is fine), an answer marked Stripe-Should-Retry: true, and a network
// failure (every write carries an Idempotency-Key). It never waits past the context's
// deadline. 5xx answers are not repeated at once: they go back to the caller, and the
// job layer retries them later (IsRetryable), with the job's keys.
//
// # Fairness
//
// At most Config.MaxConcurrentPerAccount calls per account and mode are in flight; more
// wait their turn (within their context). The slot is held while a call backs off, so
// an account being rate limited slows itself down rather than others. An account's
// bookkeeping exists only while it has calls in flight.
//
// # Secret Store
//
// Client.Secrets() sets, finds, deletes and lists /v1/apps/secrets at AccountScope() or
// UserScope(userID), on the client's account.
package stripeclient
