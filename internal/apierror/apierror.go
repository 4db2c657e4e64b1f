// Package apierror is the one place that turns an error into an HTTP status and the JSON
// error body every appbackend route answers with:
//
//	{"error":{"code":"signature_invalid","message":"no signature matches"}}
//
// Codes are part of the public contract. Internal errors are logged with their detail and
// answered with a fixed message, so that no stack, SQL or secret reaches a client.
package apierror

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// Codes of the public contract.
const (
	CodeSignatureMissing = "signature_missing"
	CodeSignatureInvalid = "signature_invalid"
	CodeSignatureExpired = "signature_expired"
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeRoleRequired     = "role_required"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeBodyTooLarge     = "body_too_large"
	CodeModeRequired     = "mode_required"
	CodeUnavailable      = "unavailable"
	CodeRateLimited      = "rate_limited"
	CodeStripeError      = "stripe_error"
	CodeInternal         = "internal"
)

var statusByCode = map[string]int{
	CodeSignatureMissing: http.StatusUnauthorized,
	CodeSignatureInvalid: http.StatusUnauthorized,
	CodeSignatureExpired: http.StatusUnauthorized,
	CodeBadRequest:       http.StatusBadRequest,
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeRoleRequired:     http.StatusForbidden,
	CodeNotFound:         http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeBodyTooLarge:     http.StatusRequestEntityTooLarge,
	CodeModeRequired:     http.StatusBadRequest,
	CodeUnavailable:      http.StatusServiceUnavailable,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeStripeError:      http.StatusBadGateway,
	CodeInternal:         http.StatusInternalServerError,
}

// Error is an error a client may see: a contract code and a human message.
type Error struct {
	Code    string
	Message string
	// Status overrides the status derived from Code when non-zero.
	Status int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns an *Error with the given code and message.
func New(code, message string) *Error { return &Error{Code: code, Message: message} }

// StatusOf returns the HTTP status for err: the status of its *Error code, or 500.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		if e.Status != 0 {
			return e.Status
		}
		if s, ok := statusByCode[e.Code]; ok {
			return s
		}
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

type body struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Write answers r with err as a JSON error. Errors that are not an *Error are internal:
// logged with their detail on logger (if any) and answered as a bare 500.
func Write(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var b body
	status := StatusOf(err)
	var e *Error
	if errors.As(err, &e) {
		b.Error.Code, b.Error.Message = e.Code, e.Message
	} else {
		b.Error.Code, b.Error.Message = CodeInternal, "internal error"
		if logger != nil {
			logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&b)
}
