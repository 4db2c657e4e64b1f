package appbackend_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
)

func TestUnsignedRouteAnswersWithoutSignatureAndWithoutCORS(t *testing.T) {
	t.Parallel()
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.HandleUnsignedFunc("GET /settings", func(w http.ResponseWriter, r *http.Request) {
			_, signed := appbackend.IdentityFrom(r.Context())
			fmt.Fprintf(w, "settings page, signed=%v", signed)
		})
		app.HandleUnsignedFunc("GET /oauth/github/callback", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "code=", r.URL.Query().Get("code"))
		})
	})

	get := func(method, path string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, app.URL+path, nil)
		require.NoError(t, err)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(body)
	}
	requireNoCORS := func(t *testing.T, res *http.Response) {
		t.Helper()
		for k := range res.Header {
			require.False(t, strings.HasPrefix(k, "Access-Control-"), "an unsigned route answered the CORS header %s", k)
		}
	}

	origin := http.Header{"Origin": {"https://dashboard.stripe.com"}}
	res, body := get(http.MethodGet, "/settings", origin)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Equal(t, "settings page, signed=false", body)
	requireNoCORS(t, res)

	res, body = get(http.MethodGet, "/oauth/github/callback?code=abc", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Equal(t, "code=abc", body)

	// A preflight to it is not the signed routes' 204 with their allow headers.
	res, body = get(http.MethodOptions, "/settings", http.Header{
		"Origin":                        {"https://dashboard.stripe.com"},
		"Access-Control-Request-Method": {"GET"},
	})
	require.NotEqual(t, http.StatusNoContent, res.StatusCode, body)
	requireNoCORS(t, res)

	// The signed routes keep theirs, and an unknown path stays the JSON 404.
	res, _ = get(http.MethodOptions, "/api/whoami", http.Header{
		"Origin":                        {"https://dashboard.stripe.com"},
		"Access-Control-Request-Method": {"POST"},
	})
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
	res, body = get(http.MethodGet, "/elsewhere", nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	require.JSONEq(t, `{"error":{"code":"not_found","message":"no route for GET /elsewhere"}}`, body)
}

func TestHandleUnsignedRefusesAppbackendsOwnPaths(t *testing.T) {
	t.Parallel()
	app, err := appbackend.New(appbackend.Config{Database: "sqlite:" + t.TempDir() + "/app.db", AppSecrets: []string{secretA}})
	require.NoError(t, err)
	noop := func(http.ResponseWriter, *http.Request) {}

	tests := []struct {
		pattern, panics string
	}{
		{"POST /api/settings", `appbackend: unsigned route "POST /api/settings" is under /api/, where every route is signed: register it with Handle`},
		{"/api/", `appbackend: unsigned route "/api/" is under /api/, where every route is signed: register it with Handle`},
		{"POST /webhooks/github", `appbackend: unsigned route "POST /webhooks/github" is under /webhooks, which appbackend serves itself`},
		{"GET /admin/extra", `appbackend: unsigned route "GET /admin/extra" is under /admin, which appbackend serves itself`},
		{"GET /install", `appbackend: unsigned route "GET /install" is under /install, which appbackend serves itself`},
		{"GET /install/callback", `appbackend: unsigned route "GET /install/callback" is under /install, which appbackend serves itself`},
		{"GET /healthz", `appbackend: unsigned route "GET /healthz" is under /healthz, which appbackend serves itself`},
		{"GET /readyz", `appbackend: unsigned route "GET /readyz" is under /readyz, which appbackend serves itself`},
		{"GET /metrics", `appbackend: unsigned route "GET /metrics" is under /metrics, which appbackend serves itself`},
		{"example.com/metrics", `appbackend: unsigned route "example.com/metrics" is under /metrics, which appbackend serves itself`},
		{"/", `appbackend: unsigned route "/" would take every path appbackend does not serve: name the pages, or "/{$}" for the root alone`},
	}
	for _, tt := range tests {
		require.PanicsWithValue(t, tt.panics, func() { app.HandleUnsignedFunc(tt.pattern, noop) }, tt.pattern)
	}

	// What is not theirs registers, the root alone and a neighbour of a reserved path
	// included; a duplicate panics as in ServeMux.
	for _, pattern := range []string{"GET /settings", "GET /{$}", "GET /installer", "GET /oauth/{provider}/callback"} {
		require.NotPanics(t, func() { app.HandleUnsignedFunc(pattern, noop) }, pattern)
	}
	require.Panics(t, func() { app.HandleUnsignedFunc("GET /settings", noop) })
}
