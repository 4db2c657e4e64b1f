package apierror_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/apierror"
)

func TestCodeStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code apierror.Code
		want int
	}{
		{apierror.CodeSignatureMissing, 401},
		{apierror.CodeSignatureInvalid, 401},
		{apierror.CodeSignatureExpired, 401},
		{apierror.CodeBadRequest, 400},
		{apierror.CodeUnauthorized, 401},
		{apierror.CodeForbidden, 403},
		{apierror.CodeRoleRequired, 403},
		{apierror.CodeNotFound, 404},
		{apierror.CodeMethodNotAllowed, 405},
		{apierror.CodeConflict, 409},
		{apierror.CodeBodyTooLarge, 413},
		{apierror.CodeUnprocessable, 422},
		{apierror.CodeModeRequired, 400},
		{apierror.CodeCardError, 402},
		{apierror.CodeRateLimited, 429},
		{apierror.CodeInternal, 500},
		{apierror.CodeStripeError, 502},
		{apierror.CodeUpstreamUnavailable, 502},
		{apierror.CodeUnavailable, 503},
		{apierror.CodeUpstreamTimeout, 504},
	}
	require.Len(t, apierror.Codes(), len(tests), "every code has a row here")
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			require.True(t, tt.code.Known())
			require.Equal(t, tt.want, tt.code.Status())
			require.Equal(t, tt.want, apierror.StatusOf(apierror.New(tt.code, "m")))
		})
	}
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"contract code", apierror.New(apierror.CodeConflict, "taken"), 409},
		{"wrapped", errors.Join(errors.New("ctx"), apierror.New(apierror.CodeNotFound, "gone")), 404},
		{"status override", &apierror.Error{Code: apierror.CodeSignatureInvalid, Message: "m", Status: 400}, 400},
		{"unknown code", apierror.New("teapot", "short and stout"), 500},
		{"unknown code with a status", &apierror.Error{Code: "upstream_error", Message: "m", Status: 502}, 500},
		{"not an *Error", errors.New("boom"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := apierror.StatusOf(tt.err)
			require.Equal(t, tt.want, got, "StatusOf(%v) = %d, want %d", tt.err, got, tt.want)
		})
	}
}

// write answers a request with err and returns the response and what was logged.
func write(t *testing.T, err error) (*httptest.ResponseRecorder, string) {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	w := httptest.NewRecorder()
	apierror.Write(w, httptest.NewRequest(http.MethodGet, "/api/x", nil), logger, err)
	return w, logs.String()
}

func decode(t *testing.T, w *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b), w.Body.String())
	return b.Error.Code, b.Error.Message
}

func TestWrite(t *testing.T) {
	t.Parallel()
	w, logs := write(t, apierror.New(apierror.CodeConflict, "a note with this id exists"))
	require.Equal(t, 409, w.Code)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	code, msg := decode(t, w)
	require.Equal(t, "conflict", code)
	require.Equal(t, "a note with this id exists", msg)
	require.Empty(t, logs, "a client's error is not logged")
}

// TestWriteUnknownCode: a code outside the contract is a bug; the client gets a bare
// 500 and the log gets the code, rather than a guessed 400.
func TestWriteUnknownCode(t *testing.T) {
	t.Parallel()
	w, logs := write(t, &apierror.Error{Code: "upstream_error", Message: "the time service did not answer", Status: 502})
	require.Equal(t, 500, w.Code)
	code, msg := decode(t, w)
	require.Equal(t, "internal", code)
	require.Equal(t, "internal error", msg)
	require.Contains(t, logs, "unknown code")
	require.Contains(t, logs, "upstream_error")
}

func TestWriteInternal(t *testing.T) {
	t.Parallel()
	w, logs := write(t, errors.New("pq: password authentication failed"))
	require.Equal(t, 500, w.Code)
	code, msg := decode(t, w)
	require.Equal(t, "internal", code)
	require.Equal(t, "internal error", msg)
	require.Contains(t, logs, "password authentication failed", "the detail is logged, not answered")
}
