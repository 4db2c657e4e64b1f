// Package apierror is the one place that turns an error into an HTTP status and the JSON
// error body every appbackend route answers with:
//
//	{"error":{"code":"signature_invalid","message":"no signature matches"}}
//
// plus, when the app gave one, a machine-readable "reason" of its own:
//
//	{"error":{"code":"forbidden","message":"over the refund limit","reason":"refund_limit"}}
//
// Codes are part of the public contract, and their statuses are defined here and nowhere
// else (the root package re-exports them as appbackend.ErrorCode). Internal errors are
// logged with their detail and answered with a fixed message, so that no stack, SQL or
// secret reaches a client.
package apierror

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// Code is an error code of the public contract: the "code" of a JSON error. Each code
// has one HTTP status (Status); a code outside the list below is a programming error,
// answered as 500 internal and logged.
type Code string

// Codes of the public contract, with their HTTP status.
const (
	CodeSignatureMissing    Code = "signature_missing"    // 401: no Stripe-Signature header
	CodeSignatureInvalid    Code = "signature_invalid"    // 401: malformed header, or no signature matches
	CodeSignatureExpired    Code = "signature_expired"    // 401: timestamp outside the tolerance
	CodeBadRequest          Code = "bad_request"          // 400: the request is malformed or invalid
	CodeUnauthorized        Code = "unauthorized"         // 401: missing or wrong credentials (admin token)
	CodeForbidden           Code = "forbidden"            // 403: authenticated, but not allowed
	CodeRoleRequired        Code = "role_required"        // 403: the signed roles lack the one required
	CodeNotFound            Code = "not_found"            // 404: no such route or object
	CodeMethodNotAllowed    Code = "method_not_allowed"   // 405: the route exists, not for this method
	CodeConflict            Code = "conflict"             // 409: conflicts with the current state (a duplicate, a stale version)
	CodeBodyTooLarge        Code = "body_too_large"       // 413: body over the limit
	CodeUnprocessable       Code = "unprocessable"        // 422: well-formed, but fails validation
	CodeModeRequired        Code = "mode_required"        // 400: the request's Stripe mode cannot be told; sign livemode
	CodeCardError           Code = "card_error"           // 402: Stripe declined the card; the message is for the payer
	CodeRateLimited         Code = "rate_limited"         // 429: too many requests; retry later
	CodeInternal            Code = "internal"             // 500: a failure on the server; no detail is given
	CodeStripeError         Code = "stripe_error"         // 502: Stripe failed or refused the platform's credentials
	CodeUpstreamUnavailable Code = "upstream_unavailable" // 502: a service the backend calls failed
	CodeUnavailable         Code = "unavailable"          // 503: not available now; retry later
	CodeUpstreamTimeout     Code = "upstream_timeout"     // 504: a service the backend calls did not answer in time
)

var statusByCode = map[Code]int{
	CodeSignatureMissing:    http.StatusUnauthorized,
	CodeSignatureInvalid:    http.StatusUnauthorized,
	CodeSignatureExpired:    http.StatusUnauthorized,
	CodeBadRequest:          http.StatusBadRequest,
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeForbidden:           http.StatusForbidden,
	CodeRoleRequired:        http.StatusForbidden,
	CodeNotFound:            http.StatusNotFound,
	CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	CodeConflict:            http.StatusConflict,
	CodeBodyTooLarge:        http.StatusRequestEntityTooLarge,
	CodeUnprocessable:       http.StatusUnprocessableEntity,
	CodeModeRequired:        http.StatusBadRequest,
	CodeCardError:           http.StatusPaymentRequired,
	CodeRateLimited:         http.StatusTooManyRequests,
	CodeInternal:            http.StatusInternalServerError,
	CodeStripeError:         http.StatusBadGateway,
	CodeUpstreamUnavailable: http.StatusBadGateway,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeUpstreamTimeout:     http.StatusGatewayTimeout,
}

// Known reports whether c is one of the contract's codes.
func (c Code) Known() bool {
	_, ok := statusByCode[c]
	return ok
}

// Status returns the HTTP status of c: 500 for a code that is not the contract's.
func (c Code) Status() int {
	if s, ok := statusByCode[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Codes returns every code of the contract, for tests and documentation.
func Codes() []Code {
	out := make([]Code, 0, len(statusByCode))
	for c := range statusByCode {
		out = append(out, c)
	}
	return out
}

// Error is an error a client may see: a contract code and a human message, and
// optionally an app-defined reason.
type Error struct {
	Code    Code
	Message string
	// Status overrides the status of Code when non-zero (a webhook's signature
	// failures are 400s, not 401s). It does not make an unknown Code valid.
	Status int
	// Reason is an optional machine-readable refinement of Code that the app defines
	// ("refund_limit" under forbidden, say), answered as "reason" beside code and message
	// so that a client can branch on it while the codes stay a closed list. It must be a
	// valid reason (ValidReason); set it with WithReason, which checks. An invalid Reason
	// set directly is dropped from the answer and logged.
	Reason string
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return string(e.Code) + " (" + e.Reason + "): " + e.Message
	}
	return string(e.Code) + ": " + e.Message
}

// MaxReasonLen is the longest reason ValidReason accepts, in bytes.
const MaxReasonLen = 64

// ValidReason reports whether reason is a valid app-defined reason: 1 to MaxReasonLen
// characters, each a lowercase ASCII letter, a digit or an underscore ([a-z0-9_]{1,64}),
// so that it is a stable token to branch on, not a sentence.
func ValidReason(reason string) bool {
	if len(reason) == 0 || len(reason) > MaxReasonLen {
		return false
	}
	for i := 0; i < len(reason); i++ {
		if c := reason[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// WithReason returns a copy of e with Reason set to reason; e itself is unchanged, so an
// *Error kept in a package variable can be refined per use. It panics if reason is not
// valid (ValidReason), as regexp.MustCompile does on a bad pattern: reasons are constants
// of the app, and a malformed one is a programming error for the first test that reaches
// it to find, not something to answer with a guess.
func (e *Error) WithReason(reason string) *Error {
	if !ValidReason(reason) {
		panic(`appbackend: invalid error reason "` + reason + `": want 1 to 64 of [a-z0-9_]`)
	}
	c := *e
	c.Reason = reason
	return &c
}

// New returns an *Error with the given code and message.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// StatusOf returns the HTTP status for err: the status of its *Error code (or the
// *Error's own Status), and 500 for any other error or for an *Error whose code is not
// the contract's.
func StatusOf(err error) int {
	var e *Error
	if !errors.As(err, &e) || !e.Code.Known() {
		return http.StatusInternalServerError
	}
	if e.Status != 0 {
		return e.Status
	}
	return e.Code.Status()
}

// WriteJSON answers with status and v as JSON: every JSON answer of appbackend, error
// or not, is written here.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type body struct {
	Error struct {
		Code    Code   `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason,omitempty"`
	} `json:"error"`
}

// Write answers r with err as a JSON error. Errors that are not an *Error are internal:
// logged with their detail on logger (if any) and answered as a bare 500. An *Error with
// a code outside the contract is a bug: it is logged (on slog's default logger when
// logger is nil) and answered as a bare 500 too.
func Write(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var b body
	status := StatusOf(err)
	var e *Error
	switch {
	case errors.As(err, &e) && e.Code.Known():
		b.Error.Code, b.Error.Message = e.Code, e.Message
		switch {
		case ValidReason(e.Reason):
			b.Error.Reason = e.Reason
		case e.Reason != "":
			// Set directly, bypassing WithReason's check: the code and message still
			// hold, so they are answered; the malformed reason is a bug to log.
			if logger == nil {
				logger = slog.Default()
			}
			logger.ErrorContext(r.Context(), "error with an invalid reason, answered without it", "method", r.Method, "path", r.URL.Path, "code", string(e.Code), "reason", e.Reason)
		}
	case e != nil:
		b.Error.Code, b.Error.Message = CodeInternal, "internal error"
		if logger == nil {
			logger = slog.Default()
		}
		logger.ErrorContext(r.Context(), "error with an unknown code", "method", r.Method, "path", r.URL.Path, "code", string(e.Code), "err", err)
	default:
		b.Error.Code, b.Error.Message = CodeInternal, "internal error"
		if logger != nil {
			logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	WriteJSON(w, status, &b)
}
