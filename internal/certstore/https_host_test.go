package certstore

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/certmagic"
	"github.com/stretchr/testify/require"
)

// redirectOnlyManager is a Manager for domains that never reaches a CA: enough for
// the plain-HTTP listener's handler.
func redirectOnlyManager(t *testing.T, domains ...string) *Manager {
	t.Helper()
	m := &Manager{domains: domains}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.cfg, nil },
	})
	t.Cleanup(m.cache.Stop)
	m.cfg = certmagic.New(m.cache, certmagic.Config{Storage: &certmagic.FileStorage{Path: t.TempDir()}})
	m.issuer = certmagic.NewACMEIssuer(m.cfg, certmagic.ACMEIssuer{CA: "https://127.0.0.1:1/directory", Agreed: true})
	return m
}

// TestPlainHTTPRedirectsOnlyConfiguredDomains: the Host header is the client's, so
// the plain-HTTP listener redirects to HTTPS only for the configured domains (in the
// domain's own spelling); any other host is 404, never a redirect to itself.
func TestPlainHTTPRedirectsOnlyConfiguredDomains(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(redirectOnlyManager(t, "app.example.com", "*.tenants.example.com").RedirectHandler(8443))
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		host, location string
	}{
		{"app.example.com", "https://app.example.com:8443/webhooks/stripe?x=1"},
		{"APP.Example.com.:80", "https://app.example.com:8443/webhooks/stripe?x=1"},
		{"a.tenants.example.com", "https://a.tenants.example.com:8443/webhooks/stripe?x=1"},
		{"evil.example", ""},
		{"evil.example:80", ""},
		{"app.example.com.evil.example", ""},
		{"tenants.example.com", ""},
		{"a.b.tenants.example.com", ""},
		{"127.0.0.1", ""},
	} {
		t.Run(tc.host, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/stripe?x=1", nil)
			require.NoError(t, err)
			req.Host = tc.host
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			if tc.location != "" {
				require.Equal(t, http.StatusPermanentRedirect, resp.StatusCode)
				require.Equal(t, tc.location, resp.Header.Get("Location"))
				return
			}
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
			require.Empty(t, resp.Header.Get("Location"))
			var body struct{ Error struct{ Code string } }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			require.Equal(t, "not_found", body.Error.Code)
		})
	}
}
