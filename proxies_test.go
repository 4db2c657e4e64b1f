package appbackend_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
)

// login posts a token to the admin sign-in with the given extra headers and returns
// the status and the session cookie, if any.
func login(t *testing.T, b *testBundle, token string, headers ...string) (int, *http.Cookie) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.baseURL+"/admin/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "appbackend_admin_session" {
			return resp.StatusCode, c
		}
	}
	return resp.StatusCode, nil
}

// TestTrustedProxies: X-Forwarded-For and X-Forwarded-Proto are believed from a
// trusted proxy only — for the sign-in throttle's client address, the Secure cookie
// and the access log — and ignored by default.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	const token = "admin-token-for-proxy-tests-0123"
	for _, tc := range []struct {
		name    string
		proxies []string
	}{
		{name: "trusted", proxies: []string{"127.0.0.0/8"}},
		{name: "default", proxies: nil},
		{name: "other network", proxies: []string{"10.0.0.0/8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trusted := len(tc.proxies) > 0 && tc.proxies[0] == "127.0.0.0/8"
			b := setup(t, func(c *appbackend.Config) {
				c.AdminToken = token
				c.TrustedProxies = tc.proxies
			})
			status, cookie := login(t, b, token, "X-Forwarded-Proto", "https", "X-Forwarded-For", "203.0.113.50")
			require.Equal(t, http.StatusSeeOther, status)
			require.NotNil(t, cookie)
			require.Equal(t, trusted, cookie.Secure, "Secure cookie")
			require.Equal(t, trusted, strings.Contains(b.logs.String(), "remote_addr=203.0.113.50"), "logged client address:\n%s", b.logs.String())

			// Exhaust the sign-in burst of one client address.
			for range 20 {
				status, _ = login(t, b, "wrong-token", "X-Forwarded-For", "1.1.1.1, 203.0.113.1")
				if status == http.StatusTooManyRequests {
					break
				}
			}
			require.Equal(t, http.StatusTooManyRequests, status)
			// Another client behind the same proxy: its own budget only when the proxy
			// is trusted; a forged header gains nothing otherwise.
			status, _ = login(t, b, "wrong-token", "X-Forwarded-For", "203.0.113.2")
			if trusted {
				require.Equal(t, http.StatusUnauthorized, status)
			} else {
				require.Equal(t, http.StatusTooManyRequests, status)
			}
		})
	}
}

func TestTrustedProxiesRejectsGarbage(t *testing.T) {
	t.Parallel()
	_, err := appbackend.New(appbackend.Config{
		Database: "sqlite:x.db", AppSecrets: []string{secretA},
		Production: appbackend.Production{TrustedProxies: []string{"not-a-cidr"}},
	})
	require.ErrorIs(t, err, appbackend.ErrConfig)
}
