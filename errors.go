package appbackend

import (
	"errors"
	"net/http"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
)

// ErrorCode is the code of an error a client sees, {"error":{"code","message"}}. Each
// code has one HTTP status (ErrorCode.Status); the set below is the whole contract, so
// that a UI extension can branch on a code it knows.
//
// ErrorCode and Error are aliases, unlike the other types an app receives (types.go):
// the public packages stripeclient and appauth, which this package imports, produce
// these errors too (a Stripe refusal unwraps to one), so there must be one type that
// errors.As finds whichever package made the error, and it cannot live here without
// an import cycle. internal/apierror owns it and is the one code-to-status mapping;
// the constants below are its codes.
type ErrorCode = apierror.Code

// The error codes, with the HTTP status each is answered with (apierror maps each to its
// status; TestErrorCodesAreApierrors keeps this list the same codes). Handlers use them with
// NewError; the ones marked "appbackend" are answered by the library itself and rarely
// need to be returned by an app.
const (
	// 400: the request is malformed or invalid (not JSON, a missing field).
	CodeBadRequest ErrorCode = "bad_request"
	// 401 (appbackend): no Stripe-Signature header.
	CodeSignatureMissing ErrorCode = "signature_missing"
	// 401 (appbackend): a malformed Stripe-Signature header, or no signature matches.
	CodeSignatureInvalid ErrorCode = "signature_invalid"
	// 401 (appbackend): the signature's timestamp is outside the tolerance.
	CodeSignatureExpired ErrorCode = "signature_expired"
	// 401: missing or wrong credentials other than a signature (the admin token).
	CodeUnauthorized ErrorCode = "unauthorized"
	// 402: Stripe declined the card; the message is meant for the person paying.
	CodeCardError ErrorCode = "card_error"
	// 403: the caller is authenticated but may not do this.
	CodeForbidden ErrorCode = "forbidden"
	// 403: the signed roles lack the one the route requires (appauth.RequireRole).
	CodeRoleRequired ErrorCode = "role_required"
	// 404: no such route or object.
	CodeNotFound ErrorCode = "not_found"
	// 405 (appbackend): the route exists, but not for this method.
	CodeMethodNotAllowed ErrorCode = "method_not_allowed"
	// 409: the request conflicts with the current state (a duplicate, a stale version).
	CodeConflict ErrorCode = "conflict"
	// 413 (appbackend): the body is over APPBACKEND_MAX_BODY.
	CodeBodyTooLarge ErrorCode = "body_too_large"
	// 422: the request is well-formed but fails the app's validation.
	CodeUnprocessable ErrorCode = "unprocessable"
	// 400: the request's Stripe mode cannot be told; the UI extension must sign livemode:
	// in the payload of a request with a body, in the query (?livemode=, signed) of a
	// GET or DELETE. The message says which.
	CodeModeRequired ErrorCode = "mode_required"
	// 429: too many requests; retry later.
	CodeRateLimited ErrorCode = "rate_limited"
	// 500: a failure on the server, answered without detail (the detail is logged).
	CodeInternal ErrorCode = "internal"
	// 502: Stripe failed, or refused the platform's credentials.
	CodeStripeError ErrorCode = "stripe_error"
	// 502: another service the backend calls failed.
	CodeUpstreamUnavailable ErrorCode = "upstream_unavailable"
	// 503: not available now (shutting down, not configured); retry later.
	CodeUnavailable ErrorCode = "unavailable"
	// 504: another service the backend calls did not answer in time.
	CodeUpstreamTimeout ErrorCode = "upstream_timeout"
)

// Error is an error a client sees as {"error":{"code","message"}} with the status of its
// code; see NewError and WriteError. Its fields (an alias's fields are not shown by go
// doc, so they are listed here; TestErrorDocListsEveryField keeps the list whole):
//
//	Code    ErrorCode // one of the Code constants
//	Message string    // shown to the user: no secret, no internal detail
//	Status  int       // overrides Code's status when non-zero (rarely needed)
//	Reason  string    // optional, app-defined, machine-readable: see WithReason
//
// The codes are a closed list; an app that needs to tell its own cases apart (over the
// refund limit, a plan that lacks a feature) refines a code with a reason:
//
//	appbackend.NewError(appbackend.CodeForbidden, "over the refund limit").WithReason("refund_limit")
//
// answered as {"error":{"code":"forbidden","message":"over the refund limit","reason":"refund_limit"}}
// (the UI client's BackendError.reason). A reason is 1 to 64 of [a-z0-9_]
// (ValidReason); WithReason returns a copy and panics on an invalid one, as NewError does
// on an unknown code. An invalid Reason set directly in a literal is left out of the
// answer and logged.
type Error = apierror.Error

// ValidReason reports whether reason may refine an error code: 1 to 64 characters, each
// a lowercase ASCII letter, a digit or an underscore.
func ValidReason(reason string) bool { return apierror.ValidReason(reason) }

// NewError returns an error with one of the ErrorCode constants and a message safe to
// show to the caller; WriteError (or a handler's returned error) answers it with the
// code's status.
//
// NewError panics if code is not one of the constants: an unknown code is a programming
// error, to be found by the first test that reaches it rather than answered as a guess.
// (An Error built as a literal with an unknown code is answered as a logged 500.)
func NewError(code ErrorCode, message string) *Error {
	if !code.Known() {
		panic("appbackend.NewError: unknown error code " + `"` + string(code) + `"`)
	}
	return apierror.New(code, message)
}

// WriteError answers r with err as the contract's JSON error. An *Error (or a Stripe
// error from StripeClient) keeps its code and status; any other error is logged and
// answered as a bare 500 "internal", without detail.
func (a *App) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if apierror.StatusOf(err) >= 500 {
		// Stripe's failures are 502s with a code; log them, or an outage leaves no trace.
		// (apierror logs unknown codes and errors that are not an *Error itself.)
		var e *apierror.Error
		if errors.As(err, &e) && e.Code.Known() {
			a.logger.WarnContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "code", string(e.Code), "err", err)
		}
	}
	apierror.Write(w, r, a.logger, err)
}

// modeRequired is the 400 mode_required answer for a signed request whose Stripe mode
// cannot be told (two keys, and the account's installation does not decide), worded for
// the way this request can say it: a request with a body signs livemode in its payload;
// one without (GET, DELETE) cannot, and puts a signed livemode in its query instead.
func modeRequired(id *appauth.Identity) *Error {
	const why = "cannot tell whether this request is for live or test mode " +
		"(both Stripe keys are configured and the account's installation does not decide): "
	if id != nil && id.FromQuery {
		return apierror.New(CodeModeRequired, why+"a request without a body says it in its query: "+
			"add livemode=true|false to the query, signed with fetchStripeSignature({livemode: environment.mode === 'live'}) "+
			"(the UI client's get and del do this unless livemode is null)")
	}
	return apierror.New(CodeModeRequired, why+"sign a boolean livemode in the payload "+
		"(fetchStripeSignature({...payload, livemode: environment.mode === 'live'}); "+
		"the UI client's post does this unless livemode is null)")
}
