package stripeclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/internal/apierror"
)

// CodeCardError is the error code of a declined or invalid card (HTTP 402), with
// Stripe's message, which is meant for the person paying.
const CodeCardError = apierror.CodeCardError

// Error is a failed Stripe call as a client may see it, with the stripe-go or network
// error behind it. It unwraps to an *apierror.Error (what the façade answers with:
// 4xx for the caller's mistakes, 502 stripe_error for Stripe's failures) and to the
// underlying error, so errors.As(err, &stripeErr) with a *stripe.Error still works.
// No message contains an API key.
type Error struct {
	// Code, Message and Status are the JSON error a UI request answers with. Code is
	// one of the contract's codes (appbackend.ErrorCode).
	Code    apierror.Code
	Message string
	Status  int
	// StripeCode is Stripe's own error code ("resource_missing", "card_declined", …),
	// if any.
	StripeCode string
	// RequestID is Stripe's request id (req_…), for support and logs.
	RequestID string
	// Retryable reports whether repeating the call later may succeed: see IsRetryable.
	Retryable bool
	// Err is the stripe-go or transport error. Its text may hold detail a client must
	// not see (hosts, addresses); log it, never answer with it.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stripe: %d %s: %s", e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	var se *stripe.Error
	if e.Err != nil && !errors.As(e.Err, &se) {
		b.WriteString(": " + Scrub(e.Err.Error()))
	}
	return b.String()
}

// Unwrap exposes the contract error and the underlying error to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	public := &apierror.Error{Code: e.Code, Message: e.Message, Status: e.Status}
	if e.Err == nil {
		return []error{public}
	}
	return []error{public, e.Err}
}

// IsRetryable reports whether a failed Stripe call may succeed if the job that made it
// runs again later with the same idempotency keys: Stripe's 5xx answers, 429s (rate
// limits and lock timeouts), 409 conflicts (a concurrent request with the same key),
// network failures, an unreachable API base and timeouts. Card errors, invalid
// parameters, authentication and permission errors, missing objects and the package's
// own errors (no key for the mode, no account, a bad idempotency key) are not: repeating
// them cannot help.
//
// Note that Stripe saves the answer of a write that began executing under an
// idempotency key, 500s included, and replays it for 24 hours; a job retrying such a
// 500 sees it again until the key expires, after which Stripe executes the write anew.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		return stripeRetryable(se)
	}
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return apierror.StatusOf(err) >= 500
	}
	// Anything else came from below Stripe's answers: the network, a timeout, an
	// unparseable (non-JSON) answer from a proxy in front of the API.
	return true
}

func stripeRetryable(se *stripe.Error) bool {
	status := se.HTTPStatusCode
	switch {
	case status >= 500, status == http.StatusTooManyRequests, status == http.StatusConflict:
		return true
	case se.Code == stripe.ErrorCodeLockTimeout:
		return true
	}
	if se.LastResponse != nil && se.LastResponse.Header.Get("Stripe-Should-Retry") == "true" {
		return true
	}
	return false
}

// permanentError is the package's own refusal to make a call (no key, no account, a
// binding violated): never retryable, never a Stripe answer.
type permanentError struct {
	api *apierror.Error
	msg string
	// kind is a sentinel (ErrNoAccount, ErrNoKey, …) for errors.Is, or nil.
	kind  error
	cause error
}

func (e *permanentError) Error() string {
	if e.msg != "" {
		return "stripeclient: " + e.msg
	}
	return "stripeclient: " + e.api.Message
}

func (e *permanentError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.api != nil {
		errs = append(errs, e.api)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Sentinels of the package's own refusals, for errors.Is.
var (
	// ErrNoAccount: the context carries no account, or the account id is not acct_….
	ErrNoAccount = errors.New("no Stripe account")
	// ErrNoKey: no API key is configured for the mode of the call.
	ErrNoKey = errors.New("no Stripe API key for this mode")
	// ErrModeRequired: a UI request's mode cannot be told; the app must sign livemode.
	ErrModeRequired = errors.New("the Stripe mode of the request is required")
)

// refuse returns a permanent error that clients see as code/message (a zero code means
// an internal error: logged, answered as a bare 500).
func refuse(code apierror.Code, message string) error {
	return refuseAs(nil, code, message)
}

// refuseAs is refuse with a sentinel for errors.Is.
func refuseAs(kind error, code apierror.Code, message string) error {
	if code == "" {
		return &permanentError{kind: kind, msg: message}
	}
	return &permanentError{kind: kind, api: apierror.New(code, message)}
}

// mapError turns what stripe-go returned into an *Error, or passes the package's own
// errors through. state says how far the call got.
func mapError(err error, state *callState) error {
	if err == nil {
		return nil
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return pe
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		return fromStripeError(se)
	}
	if state != nil && !state.reached.Load() {
		// stripe-go refused the call before any HTTP: a bug in the calling code.
		return &permanentError{msg: Scrub(err.Error()), cause: err}
	}
	e := &Error{
		Code:      apierror.CodeStripeError,
		Status:    http.StatusBadGateway,
		Retryable: true,
		Err:       err,
	}
	status := 0
	if state != nil {
		status = int(state.status.Load())
	}
	switch {
	case status != 0:
		// An answer stripe-go could not read, such as an HTML page from a proxy.
		e.Message = fmt.Sprintf("Stripe answered %d with an unreadable body; try again", status)
		e.Retryable = status >= 500 || status == http.StatusTooManyRequests
	case errors.Is(err, context.DeadlineExceeded):
		e.Message = "Stripe did not answer in time; try again"
	case errors.Is(err, context.Canceled):
		e.Message = "the Stripe request was canceled"
	default:
		e.Message = "could not reach the Stripe API; try again"
	}
	return e
}

func fromStripeError(se *stripe.Error) *Error {
	msg := Scrub(se.Msg)
	if msg == "" {
		msg = http.StatusText(se.HTTPStatusCode)
	}
	e := &Error{
		Message:    msg,
		StripeCode: string(se.Code),
		RequestID:  se.RequestID,
		Retryable:  stripeRetryable(se),
		Err:        se,
	}
	status := se.HTTPStatusCode
	switch {
	case se.Type == stripe.ErrorTypeCard:
		e.Code, e.Status = CodeCardError, http.StatusPaymentRequired
	case status == http.StatusNotFound:
		e.Code, e.Status = apierror.CodeNotFound, http.StatusNotFound
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		// The platform's key or its access to the account, not the caller's request.
		e.Code, e.Status = apierror.CodeStripeError, http.StatusBadGateway
		e.Message = "Stripe refused the platform's credentials: " + msg
	case status == http.StatusTooManyRequests:
		e.Code, e.Status = apierror.CodeStripeError, http.StatusBadGateway
		e.Message = "Stripe is rate limiting requests for this account; try again later: " + msg
	case status >= 400 && status < 500:
		e.Code, e.Status = apierror.CodeBadRequest, status
	default:
		e.Code, e.Status = apierror.CodeStripeError, http.StatusBadGateway
	}
	return e
}

// IsNotFound reports whether err is Stripe's 404 (an object or secret that does not
// exist).
func IsNotFound(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status == http.StatusNotFound
	}
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound
}

// secretLike matches Stripe API keys and signing secrets, masked or not; group 1 is the
// prefix that says what kind of secret it was.
var secretLike = regexp.MustCompile(`\b((?:sk|rk|pk)_(?:live|test)_|whsec_|absec_)[A-Za-z0-9_*]+`)

// Scrub replaces anything in s that looks like a Stripe key or signing secret with its
// prefix and "[redacted]".
func Scrub(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	return secretLike.ReplaceAllString(s, "${1}[redacted]")
}
