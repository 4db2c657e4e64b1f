package appauth

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/appbackend/appbackend/internal/apierror"
)

// DefaultMaxBody is the default request body limit of Protect: 1 MiB.
const DefaultMaxBody = 1 << 20

// SignatureHeader is the request header that carries the signature.
const SignatureHeader = "Stripe-Signature"

// CORS values for signed routes. The UI extension runs in a sandbox with a null origin, so
// only * works; that is safe because these routes require a signature, not cookies.
const (
	corsAllowMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders = "Stripe-Signature, Content-Type"
	corsMaxAge       = "7200" // seconds; Chromium's cap
)

// ProtectOption configures Protect and Middleware.
type ProtectOption func(*protectConfig)

type protectConfig struct {
	maxBody   int64
	logger    *slog.Logger
	onFailure func(*http.Request, error)
}

// WithMaxBody sets the body limit in bytes; a larger body gets 413 body_too_large. Values
// below 1 mean DefaultMaxBody.
func WithMaxBody(n int64) ProtectOption {
	return func(c *protectConfig) { c.maxBody = n }
}

// WithLogger sets where unexpected (internal) errors are logged; none by default.
func WithLogger(l *slog.Logger) ProtectOption {
	return func(c *protectConfig) { c.logger = l }
}

// WithFailureHook sets a function called with every request Protect refuses and the
// reason (an error of this package, such as ErrTooOld), before the error is answered:
// for metrics or audit logs. It must not write to the response.
func WithFailureHook(f func(r *http.Request, err error)) ProtectOption {
	return func(c *protectConfig) { c.onFailure = f }
}

// Middleware returns Protect as a middleware constructor, for routers that chain
// func(http.Handler) http.Handler values.
func (v *Verifier) Middleware(opts ...ProtectOption) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return v.Protect(next, opts...) }
}

// Protect wraps the handler of a route the UI extension calls. It
//
//   - answers an OPTIONS preflight itself with 204 and the CORS headers (see Preflight);
//   - sets Access-Control-Allow-Origin: * on every other response, errors included;
//   - refuses a header that cannot verify (CheckHeader) before reading any of the body;
//   - reads the body up to the limit (413 body_too_large beyond it), holding memory in
//     proportion to the bytes that have arrived rather than to the Content-Length claimed;
//   - verifies the request with VerifyRequest and answers a failure with a JSON error:
//     401 signature_missing, 401 signature_invalid, 401 signature_expired, 400 bad_request
//     or 503 unavailable (ErrBusy, with Retry-After); a request without a body is verified
//     with its query string, whose livemode counts only when signed (see VerifyRequest);
//   - otherwise calls next with the Identity in the request context (FromContext) and the
//     body readable again from the start.
func (v *Verifier) Protect(next http.Handler, opts ...ProtectOption) http.Handler {
	cfg := protectConfig{maxBody: DefaultMaxBody}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.maxBody < 1 {
		cfg.maxBody = DefaultMaxBody
	}
	return CORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers := r.Header.Values(SignatureHeader)
		if len(headers) == 0 || headers[0] == "" {
			cfg.refuse(w, r, ErrNotSigned, HTTPError(ErrNotSigned))
			return
		}
		if len(headers) > 1 {
			cfg.refuse(w, r, ErrMalformedHeader, apierror.New(apierror.CodeSignatureInvalid, "more than one Stripe-Signature header"))
			return
		}
		// Nothing about the body can rescue a header that is malformed or expired: refuse it
		// before the body costs a byte of memory.
		if err := v.CheckHeader(headers[0]); err != nil {
			cfg.refuse(w, r, err, HTTPError(err))
			return
		}
		body, err := readBody(w, r, cfg.maxBody)
		if err != nil {
			apierror.Write(w, r, cfg.logger, err)
			return
		}
		var query url.Values
		if len(body) == 0 {
			query = r.URL.Query()
		}
		id, err := v.VerifyRequest(headers[0], body, query)
		if err != nil {
			if errors.Is(err, ErrBusy) {
				w.Header().Set("Retry-After", "1")
			}
			cfg.refuse(w, r, err, HTTPError(err))
			return
		}
		r = r.WithContext(NewContext(r.Context(), id))
		r.Body = newReplayBody(body)
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return newReplayBody(body), nil }
		next.ServeHTTP(w, r)
	}))
}

// CORS is the CORS half of Protect, for the routes of a signed subtree that Protect does
// not wrap (a 404 under /api/, say): it answers OPTIONS with Preflight and sets
// Access-Control-Allow-Origin: * on every other response before calling next. Use it only
// where every route requires a signature: a * route that trusts anything else (cookies,
// the client's address) is open to cross-site requests.
func CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			Preflight(w, r)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		next.ServeHTTP(w, r)
	})
}

// replayBody is the body Protect hands on, readable again from the start: io.NopCloser
// over a bytes.Reader in one allocation instead of two (Protect runs for every signed
// request).
type replayBody struct{ bytes.Reader }

func newReplayBody(b []byte) *replayBody {
	rb := &replayBody{}
	rb.Reset(b)
	return rb
}

func (*replayBody) Close() error { return nil }

// refuse reports reason to the failure hook and answers answer.
func (c *protectConfig) refuse(w http.ResponseWriter, r *http.Request, reason, answer error) {
	if c.onFailure != nil {
		c.onFailure(r, reason)
	}
	apierror.Write(w, r, c.logger, answer)
}

// firstBodyChunk is how much room readBody makes for a body before any of it has arrived.
const firstBodyChunk = 4 << 10

// readBody reads the whole body, or fails with an *apierror.Error. Its buffer grows with
// the bytes that actually arrive, at most doubling, so a client that announces a large
// Content-Length and then stalls holds a few kilobytes, not the announced size; once the
// body has arrived the buffer is trimmed to Content-Length when that is known.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	// Made only when answered: three allocations a request otherwise.
	tooLarge := func() error {
		return apierror.New(apierror.CodeBodyTooLarge, "request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	reader := r.Body
	// The final size, when Content-Length announces it, caps the growth: no slack beyond it.
	want := int(limit) + 1 // one byte more than allowed, so MaxBytesReader can object
	if r.ContentLength > 0 {
		want = int(r.ContentLength) + 1 // and one byte more to see a body that is too long
	}
	if want > int(limit) {
		// Only a read past the limit is possible: MaxBytesReader refuses it (and has
		// net/http close the connection). Below the limit, want bounds every read
		// already, and the reader would be an allocation for nothing.
		reader = http.MaxBytesReader(w, r.Body, limit)
	}
	body := make([]byte, 0, min(firstBodyChunk, want))
	var err error
	for {
		if len(body) == cap(body) {
			if len(body) >= want {
				// Content-Length said all; a longer body is a broken request.
				err = errors.New("body longer than Content-Length")
				break
			}
			body = slices.Grow(body, min(max(len(body), firstBodyChunk), want-len(body)))
		}
		var n int
		n, err = reader.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err != nil {
			break
		}
	}
	if err == io.EOF {
		err = nil
		if r.ContentLength > 0 && int64(len(body)) > r.ContentLength {
			err = errors.New("body longer than Content-Length")
		}
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge()
		}
		return nil, apierror.New(apierror.CodeBadRequest, "could not read the request body")
	}
	return body, nil
}

// Reasons a signature is refused, as SignatureFailure reports them: the labels of
// metrics and logs.
const (
	FailureMissing   = "missing"   // no Stripe-Signature header (ErrNotSigned)
	FailureMalformed = "malformed" // a header that does not parse (ErrMalformedHeader, ErrNoTimestamp, ErrNoSignatures)
	FailureExpired   = "expired"   // timestamp outside the tolerance (ErrTooOld, ErrTooNew)
	FailureInvalid   = "invalid"   // no v1 matches any secret (ErrNoValidSignature), or not over the query's livemode (ErrLivemodeNotSigned)
)

// SignatureFailure tells why err refused a signature: FailureMissing, FailureMalformed,
// FailureExpired or FailureInvalid, or "" when err is not a signature failure of this
// package (a bad body, ErrBusy, or an error from elsewhere). It is the one place that
// classifies this package's sentinels; HTTPError, the webhook receiver and the metrics
// build on it.
func SignatureFailure(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNotSigned):
		return FailureMissing
	case errors.Is(err, ErrTooOld), errors.Is(err, ErrTooNew):
		return FailureExpired
	case errors.Is(err, ErrMalformedHeader), errors.Is(err, ErrNoTimestamp), errors.Is(err, ErrNoSignatures):
		return FailureMalformed
	case errors.Is(err, ErrNoValidSignature), errors.Is(err, ErrLivemodeNotSigned):
		return FailureInvalid
	}
	return ""
}

// HTTPError maps an error from this package to the API error a client sees: the code and
// status of the public contract and a one-line message. Errors from elsewhere are returned
// unchanged (apierror treats them as internal).
func HTTPError(err error) error {
	var code apierror.Code
	switch SignatureFailure(err) {
	case FailureMissing:
		code = apierror.CodeSignatureMissing
	case FailureMalformed, FailureInvalid:
		code = apierror.CodeSignatureInvalid
	case FailureExpired:
		code = apierror.CodeSignatureExpired
	default:
		switch {
		case errors.Is(err, ErrBadBody), errors.Is(err, ErrNoIdentity), errors.Is(err, ErrBadLivemode):
			code = apierror.CodeBadRequest
		case errors.Is(err, ErrBusy):
			code = apierror.CodeUnavailable
		default:
			return err
		}
	}
	return apierror.New(code, err.Error())
}

// Preflight answers a CORS preflight for a signed route: 204 with
// Access-Control-Allow-Origin: *, the allowed methods, Access-Control-Allow-Headers:
// Stripe-Signature, Content-Type, and Access-Control-Max-Age. Protect calls it for OPTIONS;
// mount it yourself when your router sends OPTIONS elsewhere, e.g.
// mux.HandleFunc("OPTIONS /api/", appauth.Preflight).
func Preflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// RequireRole returns a middleware that lets a request through only if its verified
// Identity holds at least one of ids (any-of: RequireRole("admin", "super_admin") admits
// either); otherwise it answers 403 role_required. Use it inside Protect. Roles are proven
// only by a signed stripe_roles payload, so a request signed over the default pair alone
// never passes; RequireRole() with no ids admits nobody. The UI extension signs its
// user's roles as
//
//	"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"}, …]
//
// (type "builtIn" or "custom"), of which only the ids count; see the package doc.
func RequireRole(ids ...string) func(http.Handler) http.Handler {
	ids = append([]string(nil), ids...)
	message := "this route requires the role " + strings.Join(ids, " or ")
	if len(ids) == 0 {
		message = "this route admits no role"
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := FromContext(r.Context())
			if !id.HasRole(ids...) {
				apierror.Write(w, r, nil, apierror.New(apierror.CodeRoleRequired, message))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
