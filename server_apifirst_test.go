package appbackend

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAPIFirstRoutesAsRoot checks that the shortcut to the signed routes (apiFirst)
// answers every path as root's ServeMux did: a clean path under /api/ is signed (CORS,
// JSON errors), an unclean one is redirected to its clean form first, an escaped slash
// is not under /api/ at all, and "/api/" itself is signed too.
func TestAPIFirstRoutesAsRoot(t *testing.T) {
	g := newWhoamiRig(t)
	h := g.app.handler()
	tests := []struct {
		name, method, target string
		status               int
		signed               bool   // answered by the signed routes (CORS header)
		location             string // a redirect's Location
	}{
		{"unsigned request to a signed route", http.MethodPost, "/api/whoami", http.StatusUnauthorized, true, ""},
		{"unsigned request to no route under /api/", http.MethodGet, "/api/nothing", http.StatusUnauthorized, true, ""},
		{"/api/ itself", http.MethodGet, "/api/", http.StatusUnauthorized, true, ""},
		{"preflight", http.MethodOptions, "/api/whoami", http.StatusNoContent, true, ""},
		{"dot segment", http.MethodPost, "/api/./whoami", http.StatusTemporaryRedirect, false, "/api/whoami"},
		{"dot-dot segment", http.MethodGet, "/api/x/../whoami", http.StatusTemporaryRedirect, false, "/api/whoami"},
		{"double slash", http.MethodPost, "/api//whoami", http.StatusTemporaryRedirect, false, "/api/whoami"},
		{"escaped slash", http.MethodPost, "/api%2Fwhoami", http.StatusNotFound, false, ""},
		{"/api without a slash", http.MethodGet, "/api", http.StatusTemporaryRedirect, false, "/api/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse("http://127.0.0.1:3000" + tt.target)
			require.NoError(t, err)
			r := httptest.NewRequest(tt.method, u.String(), nil)
			if tt.method == http.MethodOptions {
				r.Header.Set("Origin", "null")
				r.Header.Set("Access-Control-Request-Method", http.MethodPost)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tt.status, w.Code, "%s %s: %s", tt.method, tt.target, w.Body.String())
			require.Equal(t, tt.signed, w.Header().Get("Access-Control-Allow-Origin") == "*", "%s %s answered by the signed routes", tt.method, tt.target)
			if tt.location != "" {
				require.Equal(t, tt.location, w.Header().Get("Location"))
			}
			if tt.signed && tt.status != http.StatusNoContent {
				require.Contains(t, w.Header().Get("Content-Type"), "application/json")
			}
		})
	}
}
