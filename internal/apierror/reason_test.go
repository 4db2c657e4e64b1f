package apierror_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/apierror"
)

// TestWriteReason: an app-defined reason is answered beside code and message, also
// through a wrapped error; without one the body has no "reason" key at all.
func TestWriteReason(t *testing.T) {
	t.Parallel()
	base := apierror.New(apierror.CodeForbidden, "over the refund limit")
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"reason", base.WithReason("refund_limit"), `{"error":{"code":"forbidden","message":"over the refund limit","reason":"refund_limit"}}`},
		{"wrapped", fmt.Errorf("refund re_1: %w", base.WithReason("refund_limit")), `{"error":{"code":"forbidden","message":"over the refund limit","reason":"refund_limit"}}`},
		{"none", base, `{"error":{"code":"forbidden","message":"over the refund limit"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			apierror.Write(rec, httptest.NewRequest("POST", "/api/refunds", nil), nil, tt.err)
			require.Equal(t, 403, rec.Code)
			require.JSONEq(t, tt.want, rec.Body.String())
		})
	}
	require.Empty(t, base.Reason, "WithReason returns a copy")
	require.Equal(t, "forbidden (refund_limit): over the refund limit", base.WithReason("refund_limit").Error())
}

func TestValidReason(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"refund_limit", "a", "2fa_required", strings.Repeat("x", 64)} {
		require.True(t, apierror.ValidReason(ok), ok)
	}
	for _, bad := range []string{"", "Refund_Limit", "refund-limit", "over the limit", "é", strings.Repeat("x", 65)} {
		require.False(t, apierror.ValidReason(bad), bad)
		require.PanicsWithValue(t, `appbackend: invalid error reason "`+bad+`": want 1 to 64 of [a-z0-9_]`,
			func() { apierror.New(apierror.CodeForbidden, "m").WithReason(bad) })
	}
}

// TestWriteInvalidReasonSetDirectly: a reason that bypassed WithReason is left out of the
// answer (the code and message still stand) and logged as the bug it is.
func TestWriteInvalidReasonSetDirectly(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	rec := httptest.NewRecorder()
	err := &apierror.Error{Code: apierror.CodeConflict, Message: "exists", Reason: "Not A Token"}
	apierror.Write(rec, httptest.NewRequest("POST", "/api/x", nil), slog.New(slog.NewTextHandler(&log, nil)), err)
	require.Equal(t, 409, rec.Code)
	require.JSONEq(t, `{"error":{"code":"conflict","message":"exists"}}`, rec.Body.String())
	require.Contains(t, log.String(), "invalid reason")
}
