package appbackend_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
)

func TestErrorCodeStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code appbackend.ErrorCode
		want int
	}{
		{appbackend.CodeBadRequest, 400},
		{appbackend.CodeSignatureMissing, 401},
		{appbackend.CodeSignatureInvalid, 401},
		{appbackend.CodeSignatureExpired, 401},
		{appbackend.CodeUnauthorized, 401},
		{appbackend.CodeCardError, 402},
		{appbackend.CodeForbidden, 403},
		{appbackend.CodeRoleRequired, 403},
		{appbackend.CodeNotFound, 404},
		{appbackend.CodeMethodNotAllowed, 405},
		{appbackend.CodeConflict, 409},
		{appbackend.CodeBodyTooLarge, 413},
		{appbackend.CodeUnprocessable, 422},
		{appbackend.CodeModeRequired, 400},
		{appbackend.CodeRateLimited, 429},
		{appbackend.CodeInternal, 500},
		{appbackend.CodeStripeError, 502},
		{appbackend.CodeUpstreamUnavailable, 502},
		{appbackend.CodeUnavailable, 503},
		{appbackend.CodeUpstreamTimeout, 504},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			t.Parallel()
			got := tt.code.Status()
			require.Equal(t, tt.want, got, "%s.Status()", tt.code)
			e := appbackend.NewError(tt.code, "m")
			require.Equal(t, tt.code, e.Code)
		})
	}
}

// TestNewErrorPanicsOnAnUnknownCode: a misspelt code must fail the first test that
// reaches it, not turn into a guessed status in production.
func TestNewErrorPanicsOnAnUnknownCode(t *testing.T) {
	t.Parallel()
	require.PanicsWithValue(t, `appbackend.NewError: unknown error code "bad_requets"`, func() {
		appbackend.NewError("bad_requets", "oops")
	})
	require.Panics(t, func() { appbackend.NewError("", "oops") })
}

// TestWriteErrorCodes: a route's errors reach the client with their code's status;
// an Error literal with an unknown code is answered as a bare 500.
func TestWriteErrorCodes(t *testing.T) {
	t.Parallel()
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.HandleFunc("POST /api/conflict", func(w http.ResponseWriter, r *http.Request) {
			app.WriteError(w, r, appbackend.NewError(appbackend.CodeConflict, "note n1 exists"))
		})
		app.HandleFunc("POST /api/unprocessable", func(w http.ResponseWriter, r *http.Request) {
			app.WriteError(w, r, appbackend.NewError(appbackend.CodeUnprocessable, "amount must be positive"))
		})
		app.HandleFunc("POST /api/unknown", func(w http.ResponseWriter, r *http.Request) {
			app.WriteError(w, r, &appbackend.Error{Code: "teapot", Message: "short and stout", Status: 418})
		})
	})
	caller := app.As("usr_1", "acct_1")
	tests := []struct {
		path       string
		wantStatus int
		wantCode   string
	}{
		{"/api/conflict", 409, "conflict"},
		{"/api/unprocessable", 422, "unprocessable"},
		{"/api/unknown", 500, "internal"},
	}
	for _, tt := range tests {
		res := caller.Post(t, tt.path, nil)
		require.Equal(t, tt.wantStatus, res.Status, res)
		require.Equal(t, tt.wantCode, res.ErrorCode(), res)
	}
}
