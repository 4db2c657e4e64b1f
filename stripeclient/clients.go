package stripeclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/internal/apierror"
)

// Defaults of Config.
const (
	DefaultMaxConcurrentPerAccount = 4
	DefaultMaxRetries              = 2
	DefaultRetryBackoff            = 500 * time.Millisecond
	DefaultMaxRetryBackoff         = 5 * time.Second
	DefaultTimeout                 = 80 * time.Second
)

// Config configures Clients. Only Keys is needed; the rest has working defaults.
type Config struct {
	// Keys are the platform's live and test secret keys.
	Keys Keys
	// APIBase replaces Stripe's API URL (STRIPE_API_BASE: stripe-mock or a fake).
	APIBase string
	// MaxConcurrentPerAccount bounds the Stripe calls in flight for one account and
	// mode, so that one busy merchant cannot take every connection. Further calls wait
	// (as long as their context allows). Default 4.
	MaxConcurrentPerAccount int
	// MaxRetries is how many times one call is repeated at once after a 429, an answer
	// marked Stripe-Should-Retry: true, or a network failure. Default 2; negative: none.
	MaxRetries int
	// RetryBackoff is the first wait before such a repeat, doubled each time up to
	// MaxRetryBackoff; a Retry-After longer than MaxRetryBackoff is not waited for (the
	// call fails, retryable). Defaults 500ms and 5s.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// Timeout bounds one call, retries included. Default 80s, as stripe-go's.
	Timeout time.Duration
	// IdempotencyPrefix is prepended to every idempotency key taken from a context
	// (WithIdempotencyKey, Step, job writes). Give each database its own (a random id
	// kept with the data) so that job ids reused after a database reset cannot replay
	// another database's writes within Stripe's 24-hour key window.
	IdempotencyPrefix string
	// Transport carries the HTTP requests; nil means a clone of http.DefaultTransport.
	Transport http.RoundTripper
}

// Clients holds one stripe-go backend per configured mode, built once and shared by
// every client bound to an account. It is safe for concurrent use.
type Clients struct {
	base      string
	keyPrefix string
	live      *modeClients
	test      *modeClients
	// keyless are the shared backends of the modes without a platform key, for the
	// calls that bring their own key (RestrictedKeyClient).
	keyless map[Mode]*modeClients
}

// modeClients is what the calls of one mode share.
type modeClients struct {
	mode     Mode
	key      string
	backends *stripe.Backends
	limiter  *accountLimiter
	// http is the client under the backends (bound transport, limiter, retries), which
	// Forward uses too.
	http *http.Client
}

// New validates cfg and builds the clients of each mode with a key.
func New(cfg Config) (*Clients, error) {
	if err := cfg.Keys.Validate(); err != nil {
		return nil, err
	}
	base, err := ParseAPIBase(cfg.APIBase)
	if err != nil {
		return nil, err
	}
	if cfg.MaxConcurrentPerAccount <= 0 {
		cfg.MaxConcurrentPerAccount = DefaultMaxConcurrentPerAccount
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.MaxRetryBackoff <= 0 {
		cfg.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Every call goes to one host: keep enough idle connections for the
		// concurrency the limiter allows.
		t.MaxIdleConnsPerHost = 64
		cfg.Transport = t
	}

	c := &Clients{base: base, keyPrefix: cfg.IdempotencyPrefix}
	build := func(mode Mode, key string) *modeClients {
		m := &modeClients{mode: mode, key: key, limiter: newAccountLimiter(cfg.MaxConcurrentPerAccount)}
		m.http = &http.Client{
			Timeout: cfg.Timeout,
			Transport: &transport{
				mode:       mode,
				base:       cfg.Transport,
				limiter:    m.limiter,
				maxRetries: cfg.MaxRetries,
				backoff:    cfg.RetryBackoff,
				maxBackoff: cfg.MaxRetryBackoff,
			},
		}
		bc := &stripe.BackendConfig{
			HTTPClient:        m.http,
			MaxNetworkRetries: stripe.Int64(0),
			// stripe-go logs response bodies at debug level, Secret Store payloads
			// included; errors reach callers as values instead.
			LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		}
		if base != "" {
			bc.URL = stripe.String(base)
		}
		m.backends = stripe.NewBackendsWithConfig(bc)
		return m
	}
	c.keyless = map[Mode]*modeClients{}
	for _, mode := range []Mode{Live, Test} {
		mc := build(mode, cfg.Keys.key(mode))
		if mc.key == "" {
			c.keyless[mode] = mc
			continue
		}
		if mode == Live {
			c.live = mc
		} else {
			c.test = mc
		}
	}
	return c, nil
}

// Has reports whether a key is configured for mode.
func (c *Clients) Has(mode Mode) bool { return c.mode(mode) != nil }

// Modes lists the modes with a key, live first.
func (c *Clients) Modes() []Mode {
	var modes []Mode
	for _, m := range []Mode{Live, Test} {
		if c.Has(m) {
			modes = append(modes, m)
		}
	}
	return modes
}

func (c *Clients) mode(m Mode) *modeClients {
	switch m {
	case Live:
		return c.live
	case Test:
		return c.test
	}
	return nil
}

func (c *Clients) modeOrErr(m Mode) (*modeClients, error) {
	if !m.valid() {
		return nil, refuse("", fmt.Sprintf("unknown Stripe mode %q", m))
	}
	mc := c.mode(m)
	if mc == nil {
		return nil, refuseAs(ErrNoKey, apierror.CodeUnavailable,
			fmt.Sprintf("no Stripe API key is configured for %s mode (set %s)", m, envName(m)))
	}
	return mc, nil
}

// Client is a stripe-go client bound to one account and mode: every call it makes
// carries Stripe-Account with the account, uses the mode's key, is bounded by the
// account's concurrency limit, takes its idempotency key from the context, and fails
// with an *Error. Use the embedded stripe-go services:
//
//	cus, err := sc.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String(email)})
type Client struct {
	*stripe.Client
	account string
	mode    Mode
	// clients, mc and call are the binding, for Forward's raw requests.
	clients *Clients
	mc      *modeClients
	call    call
}

// Account is the account every call carries in Stripe-Account.
func (c *Client) Account() string { return c.account }

// Mode is the mode whose key the calls use.
func (c *Client) Mode() Mode { return c.mode }

// Client returns a client bound to accountID in mode. It fails, without calling Stripe,
// when accountID is not an acct_… id (ErrNoAccount) or mode has no key (ErrNoKey,
// answered as 503 unavailable naming the variable to set).
func (c *Clients) Client(accountID string, mode Mode) (*Client, error) {
	mc, err := c.modeOrErr(mode)
	if err != nil {
		return nil, err
	}
	if err := checkAccountID(accountID); err != nil {
		return nil, err
	}
	cl := call{account: accountID}
	sc := stripe.NewClient(mc.key, stripe.WithBackends(c.bind(mc, cl)))
	return &Client{Client: sc, account: accountID, mode: mode, clients: c, mc: mc, call: cl}, nil
}

// TokenSource returns the OAuth access token to call Stripe with for one account and
// mode, refreshing it when needed. stale, when not empty, is a token Stripe just
// answered 401 for: the source must return another one (refreshing if it has none).
type TokenSource func(ctx context.Context, stale string) (string, error)

// OAuthClient returns a client bound to accountID in mode that calls Stripe with the
// account's OAuth access token from tokens (no Stripe-Account header): for apps
// installed with stripe_api_access_type "oauth". The mode's platform key must still be
// configured (it is the transport the calls share); idempotency, the per-account bound
// and the back-off are the same as Client's. A 401 is retried once with a token the
// source gives for the stale one.
func (c *Clients) OAuthClient(accountID string, mode Mode, tokens TokenSource) (*Client, error) {
	mc, err := c.modeOrErr(mode)
	if err != nil {
		return nil, err
	}
	if err := checkAccountID(accountID); err != nil {
		return nil, err
	}
	// The key stripe-go sends is replaced by the token in the transport, per attempt.
	cl := call{account: accountID, token: tokens}
	sc := stripe.NewClient("oauth_access_token", stripe.WithBackends(c.bind(mc, cl)))
	return &Client{Client: sc, account: accountID, mode: mode, clients: c, mc: mc, call: cl}, nil
}

// Platform returns a client for the platform's own account in mode: no Stripe-Account
// header. It is for platform work such as listing the platform's events; a merchant's
// data is reached through Client.
func (c *Clients) Platform(mode Mode) (*stripe.Client, error) {
	mc, err := c.modeOrErr(mode)
	if err != nil {
		return nil, err
	}
	return stripe.NewClient(mc.key, stripe.WithBackends(c.bind(mc, call{platform: true}))), nil
}

// FromContext returns a client bound to the account and mode WithAccount put into ctx
// (an event handler's or a job's context).
func (c *Clients) FromContext(ctx context.Context) (*Client, error) {
	account, mode, ok := AccountFrom(ctx)
	if !ok {
		return nil, refuseAs(ErrNoAccount, "", "no Stripe account in this context: Stripe clients exist in signed requests, and in event handlers and jobs for an account")
	}
	return c.Client(account, mode)
}

func (c *Clients) bind(mc *modeClients, cl call) *stripe.Backends {
	wrap := func(b stripe.Backend) stripe.Backend {
		return &boundBackend{next: b, call: cl, keyPrefix: c.keyPrefix}
	}
	return &stripe.Backends{
		API:         wrap(mc.backends.API),
		Connect:     wrap(mc.backends.Connect),
		Uploads:     wrap(mc.backends.Uploads),
		MeterEvents: wrap(mc.backends.MeterEvents),
	}
}

func checkAccountID(id string) error {
	rest, ok := strings.CutPrefix(id, "acct_")
	if !ok || rest == "" || strings.ContainsFunc(rest, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) {
		if id == "" {
			return refuseAs(ErrNoAccount, "", "no Stripe account id")
		}
		return refuseAs(ErrNoAccount, "", fmt.Sprintf("%q is not a Stripe account id (acct_…)", id))
	}
	return nil
}

// Ping checks each configured key against the API base with GET /v1/account on the
// platform: the base answers, and Stripe accepts the key. Its error is one line per
// failing mode, naming the variable or the base, never a key. A restricted key without
// permission to read the account passes: Stripe recognised it.
func (c *Clients) Ping(ctx context.Context) error {
	var errs []error
	for _, mode := range c.Modes() {
		sc, err := c.Platform(mode)
		if err != nil {
			return err
		}
		_, err = sc.V1Accounts.Retrieve(ctx, nil)
		var e *Error
		switch {
		case err == nil:
		case errors.As(err, &e) && e.Err != nil && isStatus(e.Err, http.StatusForbidden):
		case errors.As(err, &e) && e.Err != nil && isStatus(e.Err, http.StatusUnauthorized):
			errs = append(errs, fmt.Errorf("%w: %s was rejected by Stripe (%s mode): %s", ErrConfig, envName(mode), mode, Scrub(e.Message)))
		case errors.As(err, &e) && e.Code == apierror.CodeStripeError:
			errs = append(errs, fmt.Errorf("%s mode: Stripe API at %s: %s: %s", mode, c.apiBase(), e.Message, networkDetail(e.Err)))
		default:
			errs = append(errs, fmt.Errorf("%s mode: Stripe API at %s: %w", mode, c.apiBase(), err))
		}
	}
	return errors.Join(errs...)
}

func (c *Clients) apiBase() string {
	if c.base == "" {
		return stripe.APIURL
	}
	return c.base
}

// networkDetail is the cause of a failed request without the URL net/http puts first.
func networkDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return Scrub(err.Error())
}

func isStatus(err error, status int) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode == status
}

// DisplayName reads the bound account (GET /v1/accounts/{id}) and returns the name its
// dashboard shows: settings.dashboard.display_name, else business_profile.name, else the
// account's email, else "".
func (c *Client) DisplayName(ctx context.Context) (string, error) {
	acct, err := c.V1Accounts.GetByID(ctx, c.account, nil)
	if err != nil {
		return "", err
	}
	switch {
	case acct.Settings != nil && acct.Settings.Dashboard != nil && acct.Settings.Dashboard.DisplayName != "":
		return acct.Settings.Dashboard.DisplayName, nil
	case acct.BusinessProfile != nil && acct.BusinessProfile.Name != "":
		return acct.BusinessProfile.Name, nil
	}
	return acct.Email, nil
}
