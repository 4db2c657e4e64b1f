package stripeclient

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/stripe/stripe-go/v85"
)

// boundBackend is the stripe.Backend of one bound (or platform) client. Before each call
// it puts the binding into the request's context and, for an account, its Stripe-Account
// header; it gives writes their idempotency key from the context; and it turns the
// errors stripe-go returns into *Error. The mode's shared backend does the HTTP.
type boundBackend struct {
	next stripe.Backend
	call call
	// keyPrefix is prepended to every idempotency key taken from the context.
	keyPrefix string
}

func (b *boundBackend) Call(method, path, key string, params stripe.ParamsContainer, v stripe.LastResponseSetter) error {
	if params == nil {
		params = &stripe.Params{}
	}
	state, restore, err := b.bind(method, path, params)
	if err != nil {
		return err
	}
	defer restore()
	return mapError(b.next.Call(method, path, key, params, v), state)
}

func (b *boundBackend) CallStreaming(method, path, key string, params stripe.ParamsContainer, v stripe.StreamingLastResponseSetter) error {
	if params == nil {
		params = &stripe.Params{}
	}
	state, restore, err := b.bind(method, path, params)
	if err != nil {
		return err
	}
	defer restore()
	return mapError(b.next.CallStreaming(method, path, key, params, v), state)
}

func (b *boundBackend) CallRaw(method, path, key string, body []byte, params *stripe.Params, v stripe.LastResponseSetter) error {
	if params == nil {
		params = &stripe.Params{}
	}
	state, restore, err := b.bind(method, path, params)
	if err != nil {
		return err
	}
	defer restore()
	return mapError(b.next.CallRaw(method, path, key, body, params, v), state)
}

func (b *boundBackend) CallMultipart(method, path, key, boundary string, body *bytes.Buffer, params *stripe.Params, v stripe.LastResponseSetter) error {
	if params == nil {
		params = &stripe.Params{}
	}
	state, restore, err := b.bind(method, path, params)
	if err != nil {
		return err
	}
	defer restore()
	return mapError(b.next.CallMultipart(method, path, key, boundary, body, params, v), state)
}

// SetMaxNetworkRetries does nothing: the backend under it is shared by every client of
// the mode, and retries are the transport's (see the package documentation).
func (b *boundBackend) SetMaxNetworkRetries(int64) {}

// bind writes the binding into params for the duration of one call and returns what
// puts params back as the caller gave them (callers may reuse their params).
func (b *boundBackend) bind(method, path string, params stripe.ParamsContainer) (state *callState, restore func(), err error) {
	state = new(callState)
	c := b.call
	c.state = state
	// stripe-go reads a list container's header fields through a copy of its
	// ListParams, so those are the fields to set.
	if lc, ok := params.(stripe.ListParamsContainer); ok {
		lp := lc.GetListParams()
		saved := *lp
		lp.Context = withCall(orBackground(lp.Context), c)
		if !c.platform && c.token == nil {
			lp.StripeAccount = &c.account
		}
		return state, func() { lp.Context, lp.StripeAccount = saved.Context, saved.StripeAccount }, nil
	}

	p := params.GetParams()
	if p == nil {
		return nil, nil, refuse("", "stripe-go params without a Params")
	}
	saved := *p
	ctx := orBackground(p.Context)
	if p.IdempotencyKey != nil {
		if err := checkIdempotencyKey(*p.IdempotencyKey); err != nil {
			return nil, nil, err
		}
	} else if isWrite(method) {
		if k := writeKey(ctx, method, path); k != "" {
			k = b.keyPrefix + k
			if err := checkIdempotencyKey(k); err != nil {
				return nil, nil, err
			}
			p.IdempotencyKey = &k
		}
	}
	p.Context = withCall(ctx, c)
	if !c.platform && c.token == nil {
		p.StripeAccount = &c.account
	}
	return state, func() {
		p.Context, p.StripeAccount, p.IdempotencyKey = saved.Context, saved.StripeAccount, saved.IdempotencyKey
	}, nil
}

func isWrite(method string) bool { return method == http.MethodPost || method == http.MethodDelete }

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

func checkIdempotencyKey(k string) error {
	if len(k) > maxIdempotencyKey {
		return refuse("", "idempotency key longer than Stripe's 255 characters")
	}
	if strings.ContainsFunc(k, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return refuse("", "idempotency key contains control characters")
	}
	return nil
}
