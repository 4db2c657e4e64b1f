package admin_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/apierror"
)

// The App mounts its dashboard before it knows whether there is one: a nil Handler
// answers every /admin/ path with the JSON 404 that says how to turn it on.
func TestNilHandlerIsTheDisabledDashboard(t *testing.T) {
	t.Parallel()
	var h *admin.Handler
	for _, path := range []string{"/admin/", "/admin/api/events", "/admin/river/"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusNotFound, w.Code, path)
		var body struct{ Error apierror.Error }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), path)
		require.Equal(t, apierror.CodeNotFound, body.Error.Code)
		require.Equal(t, "the admin dashboard is disabled: set APPBACKEND_ADMIN_TOKEN", body.Error.Message)
	}
}
