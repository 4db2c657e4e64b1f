package stripeclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/stripeclient"
)

const (
	liveKey = "sk_live_fakelivekey"
	testKey = "sk_test_faketestkey"
)

type testBundle struct {
	fake    *appbackendtest.StripeFake
	clients *stripeclient.Clients
}

// setup builds Clients against a fresh Fake, with both keys and a fast back-off;
// configure adjusts the Config.
func setup(t *testing.T, configure ...func(*stripeclient.Config)) *testBundle {
	t.Helper()
	fake := appbackendtest.NewStripeFake(t)
	cfg := stripeclient.Config{
		Keys:            stripeclient.Keys{Live: liveKey, Test: testKey},
		APIBase:         fake.URL,
		RetryBackoff:    20 * time.Millisecond,
		MaxRetryBackoff: 2 * time.Second,
	}
	for _, f := range configure {
		f(&cfg)
	}
	clients, err := stripeclient.New(cfg)
	require.NoError(t, err)
	return &testBundle{fake: fake, clients: clients}
}

func (b *testBundle) client(t *testing.T, account string, mode stripeclient.Mode) *stripeclient.Client {
	t.Helper()
	sc, err := b.clients.Client(account, mode)
	require.NoError(t, err)
	return sc
}

func TestEveryCallCarriesTheBoundAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	accounts := []string{"acct_merchantA", "acct_merchantB"}

	var wg sync.WaitGroup
	for _, account := range accounts {
		wg.Go(func() {
			sc, err := b.clients.Client(account, stripeclient.Test)
			if !assertNoError(t, err) {
				return
			}
			_, err = sc.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("a@example.test")})
			assertNoError(t, err)
			_, err = sc.V1Accounts.GetByID(ctx, account, nil)
			assertNoError(t, err)
			_, err = sc.V1Balance.Retrieve(ctx, nil)
			assertNoError(t, err)
			listed := 0
			for cus, err := range sc.V1Customers.List(ctx, &stripe.CustomerListParams{}).All(ctx) {
				if assertNoError(t, err) && cus.Email == "a@example.test" {
					listed++
				}
			}
			assert.Equal(t, 1, listed, "%s listed %d customers, want its own one only", account, listed)
			_, err = sc.Secrets().List(ctx, stripeclient.AccountScope())
			assertNoError(t, err)
		})
	}
	wg.Wait()

	reqs := b.fake.Requests()
	require.Len(t, reqs, 10)
	perAccount := map[string]int{}
	for _, r := range reqs {
		perAccount[r.Account]++
		require.Contains(t, accounts, r.Account, "%s %s carried Stripe-Account %q", r.Method, r.Path, r.Account)
	}
	require.Equal(t, map[string]int{"acct_merchantA": 5, "acct_merchantB": 5}, perAccount)
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		require.FailNow(t, fmt.Sprintf("unexpected error: %v", err))
		return false
	}
	return true
}

func TestParamsAreRestoredAfterTheCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	params := &stripe.CustomerCreateParams{Email: stripe.String("a@example.test")}
	_, err := b.client(t, "acct_first", stripeclient.Test).V1Customers.Create(t.Context(), params)
	require.NoError(t, err)
	require.Nil(t, params.StripeAccount, "the caller's params are left as given")
	require.Nil(t, params.IdempotencyKey)

	// The same params on another account's client go to that account.
	_, err = b.client(t, "acct_second", stripeclient.Test).V1Customers.Create(t.Context(), params)
	require.NoError(t, err)
	reqs := b.fake.Requests()
	require.Equal(t, "acct_first", reqs[0].Account)
	require.Equal(t, "acct_second", reqs[1].Account)
}

func TestKeyChosenByMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mode    stripeclient.Mode
		wantKey string
	}{
		{"live", stripeclient.Live, liveKey},
		{"test", stripeclient.Test, testKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			sc := b.client(t, "acct_modes", tt.mode)
			require.Equal(t, tt.mode, sc.Mode())
			require.Equal(t, "acct_modes", sc.Account())
			cus, err := sc.V1Customers.Create(t.Context(), &stripe.CustomerCreateParams{})
			require.NoError(t, err)
			require.Equal(t, tt.mode.Livemode(), cus.Livemode)
			reqs := b.fake.Requests()
			require.Len(t, reqs, 1)
			require.Equal(t, "Bearer "+tt.wantKey, reqs[0].Authorization)
		})
	}
}

func TestRefusesWithoutCallingStripe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		keys       stripeclient.Keys
		call       func(ctx context.Context, c *stripeclient.Clients) error
		wantIs     error
		wantStatus int
		wantInMsg  string
	}{
		{
			name: "no key for the mode",
			keys: stripeclient.Keys{Test: testKey},
			call: func(ctx context.Context, c *stripeclient.Clients) error {
				_, err := c.Client("acct_1", stripeclient.Live)
				return err
			},
			wantIs: stripeclient.ErrNoKey, wantStatus: http.StatusServiceUnavailable, wantInMsg: "STRIPE_SECRET_KEY",
		},
		{
			name: "no account in the context",
			keys: stripeclient.Keys{Test: testKey},
			call: func(ctx context.Context, c *stripeclient.Clients) error {
				_, err := c.FromContext(ctx)
				return err
			},
			wantIs: stripeclient.ErrNoAccount, wantStatus: http.StatusInternalServerError, wantInMsg: "no Stripe account",
		},
		{
			name: "empty account id",
			keys: stripeclient.Keys{Test: testKey},
			call: func(ctx context.Context, c *stripeclient.Clients) error {
				_, err := c.FromContext(stripeclient.WithAccount(ctx, "", stripeclient.Test))
				return err
			},
			wantIs: stripeclient.ErrNoAccount, wantStatus: http.StatusInternalServerError, wantInMsg: "no Stripe account id",
		},
		{
			name: "a header override of Stripe-Account",
			keys: stripeclient.Keys{Test: testKey},
			call: func(ctx context.Context, c *stripeclient.Clients) error {
				sc, err := c.Client("acct_bound", stripeclient.Test)
				if err != nil {
					return err
				}
				p := &stripe.CustomerCreateParams{}
				p.Headers = http.Header{"Stripe-Account": {"acct_other"}}
				_, err = sc.V1Customers.Create(ctx, p)
				return err
			},
			wantStatus: http.StatusInternalServerError, wantInMsg: `carries Stripe-Account "acct_other"`,
		},
		{
			name: "a Stripe-Context on a bound call",
			keys: stripeclient.Keys{Test: testKey},
			call: func(ctx context.Context, c *stripeclient.Clients) error {
				sc, err := c.Client("acct_bound", stripeclient.Test)
				if err != nil {
					return err
				}
				p := &stripe.CustomerCreateParams{}
				p.SetStripeContext("acct_other")
				_, err = sc.V1Customers.Create(ctx, p)
				return err
			},
			wantStatus: http.StatusInternalServerError, wantInMsg: "Stripe-Context",
		},
		{
			name: "an idempotency key over 255 characters",
			keys: stripeclient.Keys{Test: testKey},
			call: func(ctx context.Context, c *stripeclient.Clients) error {
				sc, err := c.Client("acct_bound", stripeclient.Test)
				if err != nil {
					return err
				}
				_, err = sc.V1Customers.Create(stripeclient.WithIdempotencyKey(ctx, strings.Repeat("k", 256)), nil)
				return err
			},
			wantStatus: http.StatusInternalServerError, wantInMsg: "255",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *stripeclient.Config) { c.Keys = tt.keys })
			err := tt.call(t.Context(), b.clients)
			require.Error(t, err)
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
			require.Equal(t, tt.wantStatus, apierror.StatusOf(err), "status of %v", err)
			require.Contains(t, err.Error(), tt.wantInMsg)
			require.False(t, stripeclient.IsRetryable(err), "a refusal is never retryable")
			require.Empty(t, b.fake.Requests(), "nothing reached Stripe")
		})
	}
}

func TestPlatformCallsCarryNoAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sc, err := b.clients.Platform(stripeclient.Live)
	require.NoError(t, err)
	acct, err := sc.V1Accounts.Retrieve(t.Context(), nil)
	require.NoError(t, err)
	require.Equal(t, "acct_platform", acct.ID)
	reqs := b.fake.Requests()
	require.Len(t, reqs, 1)
	require.Empty(t, reqs[0].Account)
	require.Equal(t, "Bearer "+liveKey, reqs[0].Authorization)
}

func TestFromContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := stripeclient.WithAccount(t.Context(), "acct_event", stripeclient.Live)
	sc, err := b.clients.FromContext(ctx)
	require.NoError(t, err)
	_, err = sc.V1Balance.Retrieve(ctx, nil)
	require.NoError(t, err)
	reqs := b.fake.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "acct_event", reqs[0].Account)
	require.Equal(t, "Bearer "+liveKey, reqs[0].Authorization)
}

// runJob runs create-a-customer the way the job layer runs a job: attempts under
// WithJob until one succeeds or an error is not retryable.
func runJob(t *testing.T, sc *stripeclient.Client, jobID int64, attempts int, withJob bool) (int, error) {
	t.Helper()
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		ctx := t.Context()
		if withJob {
			ctx = stripeclient.WithJob(ctx, jobID)
		}
		_, err = sc.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("job@example.test")})
		if err == nil || !stripeclient.IsRetryable(err) {
			return attempt, err
		}
	}
	return attempts, err
}

func TestRetriedJobRepeatsItsIdempotencyKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		script        []appbackendtest.StripeResponse
		withJob       bool
		wantAttempts  int
		wantCustomers int
	}{
		{
			name:         "a 500 with a JSON error is retried and the customer created once",
			script:       []appbackendtest.StripeResponse{{Status: 500, Body: `{"error":{"type":"api_error","message":"An unknown error occurred"}}`}},
			withJob:      true,
			wantAttempts: 2, wantCustomers: 1,
		},
		{
			name:         "an answer lost after Stripe created the customer is replayed",
			script:       []appbackendtest.StripeResponse{{Status: 502, Body: "<html>bad gateway</html>", Perform: true}},
			withJob:      true,
			wantAttempts: 2, wantCustomers: 1,
		},
		{
			name:         "without the job's key the same loss creates a second customer",
			script:       []appbackendtest.StripeResponse{{Status: 502, Body: "<html>bad gateway</html>", Perform: true}},
			withJob:      false,
			wantAttempts: 2, wantCustomers: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.fake.Script(http.MethodPost, "/v1/customers", tt.script...)
			attempts, err := runJob(t, b.client(t, "acct_job", stripeclient.Test), 42, 3, tt.withJob)
			require.NoError(t, err)
			require.Equal(t, tt.wantAttempts, attempts)
			require.Equal(t, tt.wantCustomers, len(b.fake.List("acct_job", false, "customers")))

			reqs := b.fake.Requests()
			require.Len(t, reqs, tt.wantAttempts)
			for _, r := range reqs {
				require.NotEmpty(t, r.IdempotencyKey)
				if tt.withJob {
					require.Equal(t, stripeclient.JobKey(42, "POST /v1/customers #1"), r.IdempotencyKey)
				}
			}
			if !tt.withJob {
				require.NotEqual(t, reqs[0].IdempotencyKey, reqs[1].IdempotencyKey)
			}
		})
	}
}

func TestStepKeysAndPrefix(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *stripeclient.Config) { c.IdempotencyPrefix = "db1-" })
	sc := b.client(t, "acct_steps", stripeclient.Test)
	ctx := stripeclient.WithJob(t.Context(), 7)
	for range 2 { // two attempts of the same job
		_, err := sc.V1Customers.Create(stripeclient.Step(ctx, "customer"), nil)
		require.NoError(t, err)
		_, err = sc.V1Customers.Create(stripeclient.Step(ctx, "second-customer"), nil)
		require.NoError(t, err)
	}
	// An explicit key in the params wins over the context's.
	p := &stripe.CustomerCreateParams{}
	p.SetIdempotencyKey("explicit")
	_, err := sc.V1Customers.Create(stripeclient.Step(ctx, "customer"), p)
	require.NoError(t, err)
	// Reads carry no key.
	_, err = sc.V1Balance.Retrieve(stripeclient.Step(ctx, "customer"), nil)
	require.NoError(t, err)

	var got []string
	for _, r := range b.fake.Requests() {
		got = append(got, r.IdempotencyKey)
	}
	want := []string{
		"db1-" + stripeclient.JobKey(7, "customer"), "db1-" + stripeclient.JobKey(7, "second-customer"),
		"db1-" + stripeclient.JobKey(7, "customer"), "db1-" + stripeclient.JobKey(7, "second-customer"),
		"explicit", "",
	}
	require.Equal(t, want, got)
	require.Equal(t, 3, len(b.fake.List("acct_steps", false, "customers")), "each step once, and the explicit key's write")
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		response      appbackendtest.StripeResponse
		wantStatus    int
		wantCode      apierror.Code
		wantMessage   string
		wantRetryable bool
	}{
		{
			name:       "invalid parameter: the caller's 400 with Stripe's message",
			response:   appbackendtest.StripeResponse{Status: 400, Body: `{"error":{"type":"invalid_request_error","code":"email_invalid","message":"Invalid email address: nope","param":"email"}}`},
			wantStatus: 400, wantCode: apierror.CodeBadRequest, wantMessage: "Invalid email address: nope",
		},
		{
			name:       "card declined: 402 card_error",
			response:   appbackendtest.StripeResponse{Status: 402, Body: `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`},
			wantStatus: 402, wantCode: stripeclient.CodeCardError, wantMessage: "Your card was declined.",
		},
		{
			name:       "missing object: 404",
			response:   appbackendtest.StripeResponse{Status: 404, Body: `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such customer: 'cus_1'"}}`},
			wantStatus: 404, wantCode: apierror.CodeNotFound, wantMessage: "No such customer: 'cus_1'",
		},
		{
			name:       "a bad platform key: 502, key scrubbed",
			response:   appbackendtest.StripeResponse{Status: 401, Body: `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_faketestkey"}}`},
			wantStatus: 502, wantCode: apierror.CodeStripeError, wantMessage: "Invalid API Key provided: sk_test_[redacted]",
		},
		{
			name:       "no access to the account: 502",
			response:   appbackendtest.StripeResponse{Status: 403, Body: `{"error":{"type":"invalid_request_error","message":"The provided key does not have access to account 'acct_x'"}}`},
			wantStatus: 502, wantCode: apierror.CodeStripeError, wantMessage: "does not have access",
		},
		{
			name:       "Stripe's 500: 502, retryable",
			response:   appbackendtest.StripeResponse{Status: 500, Body: `{"error":{"type":"api_error","message":"An unknown error occurred"}}`},
			wantStatus: 502, wantCode: apierror.CodeStripeError, wantMessage: "An unknown error occurred", wantRetryable: true,
		},
		{
			name:       "a concurrent request with the same key: 409, retryable",
			response:   appbackendtest.StripeResponse{Status: 409, Body: `{"error":{"type":"idempotency_error","code":"idempotency_key_in_use","message":"There is currently another in-progress request using this Idempotent Key"}}`},
			wantStatus: 409, wantCode: apierror.CodeBadRequest, wantMessage: "another in-progress request", wantRetryable: true,
		},
		{
			name:       "a key reused with other parameters: 400, not retryable",
			response:   appbackendtest.StripeResponse{Status: 400, Body: `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`},
			wantStatus: 400, wantCode: apierror.CodeBadRequest, wantMessage: "same parameters",
		},
		{
			name:       "a proxy's HTML 503: 502, retryable",
			response:   appbackendtest.StripeResponse{Status: 503, Body: "<html>unavailable</html>"},
			wantStatus: 502, wantCode: apierror.CodeStripeError, wantMessage: "Stripe answered 503 with an unreadable body", wantRetryable: true,
		},
		{
			name:       "a 429 too long to wait for here: 502, retryable",
			response:   appbackendtest.StripeResponse{Status: 429, Header: http.Header{"Retry-After": {"30"}}, Body: `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`},
			wantStatus: 502, wantCode: apierror.CodeStripeError, wantMessage: "rate limiting", wantRetryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.fake.Script(http.MethodPost, "/v1/customers", tt.response)
			_, err := b.client(t, "acct_err", stripeclient.Test).V1Customers.Create(t.Context(), nil)
			require.Error(t, err)

			var e *stripeclient.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.wantStatus, e.Status)
			require.Equal(t, tt.wantCode, e.Code)
			require.Contains(t, e.Message, tt.wantMessage)
			require.NotContains(t, e.Message, testKey)
			require.NotContains(t, err.Error(), testKey)
			require.Equal(t, tt.wantRetryable, stripeclient.IsRetryable(err))

			// What the façade answers with.
			var ae *apierror.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tt.wantStatus, apierror.StatusOf(err))
			require.Equal(t, tt.wantCode, ae.Code)
			require.Len(t, b.fake.Requests(), 1, "none of these is repeated at once")
		})
	}
}

func TestStripeErrorStaysReachable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.Script(http.MethodPost, "/v1/customers", appbackendtest.StripeResponse{Status: 402,
		Body: `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`})
	_, err := b.client(t, "acct_err", stripeclient.Test).V1Customers.Create(t.Context(), nil)
	var se *stripe.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, stripe.DeclineCode("insufficient_funds"), se.DeclineCode)
	var ce *stripe.CardError
	require.ErrorAs(t, err, &ce)
}

func TestUnreachableAPIBase(t *testing.T) {
	t.Parallel()
	// Port 0: nothing can listen there, so a connection is always refused (a port
	// found free and let go could be bound by another process meanwhile).
	base := "http://127.0.0.1:0"

	clients, err := stripeclient.New(stripeclient.Config{
		Keys: stripeclient.Keys{Test: testKey}, APIBase: base,
		MaxRetries: 1, RetryBackoff: 10 * time.Millisecond,
	})
	require.NoError(t, err)
	sc, err := clients.Client("acct_down", stripeclient.Test)
	require.NoError(t, err)
	_, err = sc.V1Customers.Create(t.Context(), nil)
	var e *stripeclient.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusBadGateway, e.Status)
	require.Equal(t, apierror.CodeStripeError, e.Code)
	require.Equal(t, "could not reach the Stripe API; try again", e.Message, "no address in what clients see")
	require.Contains(t, err.Error(), "connection refused", "the detail is in the error for logs")
	require.True(t, stripeclient.IsRetryable(err))

	err = clients.Ping(t.Context())
	require.Error(t, err)
	require.Contains(t, err.Error(), "test mode: Stripe API at "+base)
	require.Contains(t, err.Error(), "connection refused")
	require.NotContains(t, err.Error(), "\n")
	require.NotContains(t, err.Error(), testKey)
}

func TestPing(t *testing.T) {
	t.Parallel()
	t.Run("keys accepted", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.NoError(t, b.clients.Ping(t.Context()))
		reqs := b.fake.Requests()
		require.Len(t, reqs, 2, "one check per mode")
	})
	t.Run("a restricted key without account access passes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *stripeclient.Config) { c.Keys = stripeclient.Keys{Test: "rk_test_restricted"} })
		b.fake.Script(http.MethodGet, "/v1/account", appbackendtest.StripeResponse{Status: 403})
		require.NoError(t, b.clients.Ping(t.Context()))
	})
	t.Run("a rejected key names its variable", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.fake.Script(http.MethodGet, "/v1/account", appbackendtest.StripeResponse{Status: 401,
			Body: `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_live_fakelivekey"}}`})
		err := b.clients.Ping(t.Context())
		require.ErrorIs(t, err, stripeclient.ErrConfig)
		require.Contains(t, err.Error(), "STRIPE_SECRET_KEY was rejected by Stripe (live mode)")
		require.NotContains(t, err.Error(), liveKey)
	})
}

func TestRateLimitBacksOff(t *testing.T) {
	t.Parallel()
	rateLimited := appbackendtest.StripeResponse{Status: 429, Body: `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`}
	tests := []struct {
		name         string
		script       []appbackendtest.StripeResponse
		maxRetries   int
		timeout      time.Duration
		wantErr      bool
		wantRequests int
		wantMinWait  time.Duration
		wantMaxWait  time.Duration
	}{
		{
			name:       "twice 429 then success, exponential back-off",
			script:     []appbackendtest.StripeResponse{rateLimited, rateLimited},
			maxRetries: 2, wantRequests: 3,
			// 20ms then 40ms, each less up to 25% jitter.
			wantMinWait: 45 * time.Millisecond, wantMaxWait: time.Second,
		},
		{
			name: "Retry-After is honoured",
			script: []appbackendtest.StripeResponse{{Status: 429, Header: http.Header{"Retry-After": {"1"}},
				Body: rateLimited.Body}},
			maxRetries: 2, wantRequests: 2,
			wantMinWait: time.Second, wantMaxWait: 1900 * time.Millisecond,
		},
		{
			name:       "retries are bounded",
			script:     []appbackendtest.StripeResponse{rateLimited, rateLimited, rateLimited},
			maxRetries: 2, wantRequests: 3, wantErr: true,
			wantMinWait: 45 * time.Millisecond, wantMaxWait: time.Second,
		},
		{
			name:       "a lock timeout is retried like any 429",
			script:     []appbackendtest.StripeResponse{{Status: 429, Body: `{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"locked"}}`}},
			maxRetries: 2, wantRequests: 2,
			wantMinWait: 15 * time.Millisecond, wantMaxWait: time.Second,
		},
		{
			name:       "Stripe-Should-Retry: true on a 409 is retried",
			script:     []appbackendtest.StripeResponse{{Status: 409, Header: http.Header{"Stripe-Should-Retry": {"true"}}}},
			maxRetries: 2, wantRequests: 2,
			wantMinWait: 15 * time.Millisecond, wantMaxWait: time.Second,
		},
		{
			name: "Stripe-Should-Retry: false on a 429 is not",
			script: []appbackendtest.StripeResponse{{Status: 429, Header: http.Header{"Stripe-Should-Retry": {"false"}},
				Body: rateLimited.Body}},
			maxRetries: 2, wantRequests: 1, wantErr: true,
			wantMaxWait: 500 * time.Millisecond,
		},
		{
			name: "no wait past the context's deadline",
			script: []appbackendtest.StripeResponse{{Status: 429, Header: http.Header{"Retry-After": {"1"}},
				Body: rateLimited.Body}},
			maxRetries: 2, timeout: 300 * time.Millisecond, wantRequests: 1, wantErr: true,
			wantMaxWait: 250 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *stripeclient.Config) { c.MaxRetries = tt.maxRetries })
			b.fake.Script(http.MethodPost, "/v1/customers", tt.script...)
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			start := time.Now()
			_, err := b.client(t, "acct_busy", stripeclient.Test).V1Customers.Create(ctx, nil)
			waited := time.Since(start)
			if tt.wantErr {
				require.Error(t, err)
				require.True(t, stripeclient.IsRetryable(err), "a 429 is retryable by the job layer")
			} else {
				require.NoError(t, err)
			}
			reqs := b.fake.Requests()
			require.Len(t, reqs, tt.wantRequests)
			for _, r := range reqs {
				require.Equal(t, reqs[0].IdempotencyKey, r.IdempotencyKey, "a repeat is the same request")
			}
			require.GreaterOrEqual(t, waited, tt.wantMinWait)
			require.Less(t, waited, tt.wantMaxWait)
			t.Logf("%d requests in %v", len(reqs), waited)
		})
	}
}

func TestPerAccountConcurrencyLimit(t *testing.T) {
	t.Parallel()
	const limit, calls = 2, 8
	// A Stripe that holds every acct_busy request until release is closed, so the
	// test sees what runs side by side without measuring time.
	release := make(chan struct{})
	var mu sync.Mutex
	inFlight, maxInFlight := map[string]int{}, map[string]int{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		account := r.Header.Get("Stripe-Account")
		mu.Lock()
		inFlight[account]++
		maxInFlight[account] = max(maxInFlight[account], inFlight[account])
		mu.Unlock()
		if account == "acct_busy" {
			<-release
		}
		mu.Lock()
		inFlight[account]--
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"balance","livemode":false,"available":[],"pending":[]}`)
	}))
	t.Cleanup(api.Close)
	clients, err := stripeclient.New(stripeclient.Config{
		Keys:                    stripeclient.Keys{Live: liveKey, Test: testKey},
		APIBase:                 api.URL,
		MaxConcurrentPerAccount: limit,
	})
	require.NoError(t, err)
	client := func(account string) *stripeclient.Client {
		sc, err := clients.Client(account, stripeclient.Test)
		require.NoError(t, err)
		return sc
	}
	current := func(account string) (now, most int) {
		mu.Lock()
		defer mu.Unlock()
		return inFlight[account], maxInFlight[account]
	}

	busy := client("acct_busy")
	var busyDone sync.WaitGroup
	for range calls {
		busyDone.Go(func() {
			_, err := busy.V1Balance.Retrieve(context.Background(), nil)
			assertNoError(t, err)
		})
	}
	require.Eventually(t, func() bool { now, _ := current("acct_busy"); return now == limit },
		30*time.Second, 5*time.Millisecond, "acct_busy never had %d calls in flight", limit)

	// acct_busy's slots are all taken and held: acct_quiet's calls still complete.
	quiet := client("acct_quiet")
	var quietDone sync.WaitGroup
	for range calls {
		quietDone.Go(func() {
			_, err := quiet.V1Balance.Retrieve(t.Context(), nil)
			assertNoError(t, err)
		})
	}
	quietDone.Wait()
	now, most := current("acct_busy")
	require.Equal(t, limit, now, "acct_busy's calls are still held")
	require.Equal(t, limit, most, "acct_busy never exceeds its limit while others wait")

	close(release)
	busyDone.Wait()
	_, most = current("acct_busy")
	require.Equal(t, limit, most, "in flight at once for acct_busy")
	_, most = current("acct_quiet")
	require.LessOrEqual(t, most, limit, "in flight at once for acct_quiet")
}

func TestWaitingForASlotHonoursTheContext(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *stripeclient.Config) { c.MaxConcurrentPerAccount = 1 })
	b.fake.SetDelay(300 * time.Millisecond)
	sc := b.client(t, "acct_slow", stripeclient.Test)
	holding := make(chan struct{})
	go func() {
		close(holding)
		_, _ = sc.V1Balance.Retrieve(context.Background(), nil)
	}()
	<-holding
	time.Sleep(50 * time.Millisecond) // let it take the only slot

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := sc.V1Balance.Retrieve(ctx, nil)
	require.Error(t, err)
	require.Less(t, time.Since(start), 250*time.Millisecond, "gave up with its context")
	var e *stripeclient.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "Stripe did not answer in time; try again", e.Message)
	require.True(t, errors.Is(err, context.DeadlineExceeded))
}

func TestSecretStoreRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		scope stripeclient.Scope
		other stripeclient.Scope
	}{
		{"account scope", stripeclient.AccountScope(), stripeclient.UserScope("usr_someone")},
		{"user scope", stripeclient.UserScope("usr_signed"), stripeclient.UserScope("usr_other")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := t.Context()
			secrets := b.client(t, "acct_secrets", stripeclient.Test).Secrets()

			_, err := secrets.Set(ctx, tt.scope, "oauth_token", "first")
			require.NoError(t, err)
			_, err = secrets.Set(ctx, tt.scope, "oauth_token", "second") // replaces
			require.NoError(t, err)
			expires := time.Now().Add(time.Hour).Truncate(time.Second)
			_, err = secrets.SetExpiring(ctx, tt.scope, "api_key", "k", expires)
			require.NoError(t, err)

			got, err := secrets.Find(ctx, tt.scope, "oauth_token")
			require.NoError(t, err)
			require.Equal(t, "second", got.Payload)
			got, err = secrets.Find(ctx, tt.scope, "api_key")
			require.NoError(t, err)
			require.Equal(t, expires.Unix(), got.ExpiresAt)

			_, err = secrets.Find(ctx, tt.other, "oauth_token")
			require.True(t, stripeclient.IsNotFound(err), "another scope does not see it: %v", err)

			list, err := secrets.List(ctx, tt.scope)
			require.NoError(t, err)
			var names []string
			for _, s := range list {
				names = append(names, s.Name)
				require.Empty(t, s.Payload, "a listing carries no payload")
			}
			require.ElementsMatch(t, []string{"oauth_token", "api_key"}, names)

			require.NoError(t, secrets.Delete(ctx, tt.scope, "oauth_token"))
			require.NoError(t, secrets.Delete(ctx, tt.scope, "oauth_token"), "deleting again is not an error")
			_, err = secrets.Find(ctx, tt.scope, "oauth_token")
			require.True(t, stripeclient.IsNotFound(err))

			for _, r := range b.fake.Requests() {
				require.Equal(t, "acct_secrets", r.Account, "%s %s", r.Method, r.Path)
				params := r.Form
				if r.Method == http.MethodGet {
					params = r.Query
				}
				wantType, wantUser := "account", ""
				if tt.scope == stripeclient.UserScope("usr_signed") {
					wantType, wantUser = "user", "usr_signed"
				}
				if r.Path == "/v1/apps/secrets/find" && params.Get("scope[user]") != wantUser {
					continue // the look-up in the other scope
				}
				require.Equal(t, wantType, params.Get("scope[type]"), "%s %s", r.Method, r.Path)
				require.Equal(t, wantUser, params.Get("scope[user]"), "%s %s", r.Method, r.Path)
			}
		})
	}
}

func TestSecretStoreRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	secrets := b.client(t, "acct_secrets", stripeclient.Test).Secrets()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"zero scope", func() error { _, err := secrets.Find(t.Context(), stripeclient.Scope{}, "n"); return err }, "without a scope"},
		{"user scope without user", func() error { _, err := secrets.Set(t.Context(), stripeclient.UserScope(""), "n", "p"); return err }, "without a user id"},
		{"no name", func() error { return secrets.Delete(t.Context(), stripeclient.AccountScope(), "") }, "without a secret name"},
		{"list without scope", func() error { _, err := secrets.List(t.Context(), stripeclient.Scope{}); return err }, "without a scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			require.ErrorContains(t, err, tt.want)
			require.False(t, stripeclient.IsRetryable(err))
		})
	}
	require.Empty(t, b.fake.Requests())
}

func TestJobKey(t *testing.T) {
	t.Parallel()
	require.Equal(t, "appbackend-job-42-customer", stripeclient.JobKey(42, "customer"))
	require.Equal(t, stripeclient.JobKey(42, "customer"), stripeclient.JobKey(42, "customer"))
	require.NotEqual(t, stripeclient.JobKey(42, "customer"), stripeclient.JobKey(43, "customer"))
	require.NotEqual(t, stripeclient.JobKey(42, "customer"), stripeclient.JobKey(42, "invoice"))
	long := stripeclient.JobKey(42, strings.Repeat("s", 300))
	require.LessOrEqual(t, len(long), 255)
	require.NotEqual(t, long, stripeclient.JobKey(42, strings.Repeat("s", 301)))

	ctx := t.Context()
	require.Equal(t, ctx, stripeclient.Step(ctx, "x"), "Step outside a job changes nothing")
	id, ok := stripeclient.JobFrom(stripeclient.WithJob(ctx, 9))
	require.True(t, ok)
	require.Equal(t, int64(9), id)
	k, ok := stripeclient.IdempotencyKeyFrom(stripeclient.Step(stripeclient.WithJob(ctx, 9), "x"))
	require.True(t, ok)
	require.Equal(t, stripeclient.JobKey(9, "x"), k)
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	stripeErr := func(status int, typ stripe.ErrorType, code stripe.ErrorCode) error {
		return &stripe.Error{HTTPStatusCode: status, Type: typ, Code: code}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"500", stripeErr(500, stripe.ErrorTypeAPI, ""), true},
		{"503", stripeErr(503, stripe.ErrorTypeAPI, ""), true},
		{"429 rate limit", stripeErr(429, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeRateLimit), true},
		{"429 lock timeout", stripeErr(429, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeLockTimeout), true},
		{"409 key in use", stripeErr(409, stripe.ErrorTypeIdempotency, ""), true},
		{"400 parameter", stripeErr(400, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeParameterInvalidEmpty), false},
		{"402 card", stripeErr(402, stripe.ErrorTypeCard, stripe.ErrorCodeCardDeclined), false},
		{"401 key", stripeErr(401, stripe.ErrorTypeInvalidRequest, ""), false},
		{"404 missing", stripeErr(404, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeResourceMissing), false},
		{"wrapped 500", fmt.Errorf("job step: %w", stripeErr(500, stripe.ErrorTypeAPI, "")), true},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"deadline", context.DeadlineExceeded, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := stripeclient.IsRetryable(tt.err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.SetAccountName("acct_named", "Rocket Rides")
	sc := b.client(t, "acct_named", stripeclient.Live)
	got, err := sc.DisplayName(t.Context())
	require.NoError(t, err)
	require.Equal(t, "Rocket Rides", got)
	reqs := b.fake.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "/v1/accounts/acct_named", reqs[0].Path)
	require.Equal(t, "acct_named", reqs[0].Account)
}
