package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHealthcheckProbesTheConfiguredAddress: with only the server's own configuration
// (APPBACKEND_ADDR, as in the container image), healthcheck finds GET /readyz, says so
// in one line and exits 0.
func TestHealthcheckProbesTheConfiguredAddress(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{
		"STRIPE_APP_SECRETS":  "absec_healthcheck",
		"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "h.db"),
	})
	addr := strings.TrimPrefix(s.url, "http://")
	code, out, errOut := runCmd(t, map[string]string{"APPBACKEND_ADDR": addr}, "healthcheck")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "healthy: GET http://"+addr+"/readyz answered 200\n", out)
	require.Empty(t, errOut)

	// --addr wins over the variable; a wildcard host is probed on loopback.
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	code, out, errOut = runCmd(t, map[string]string{"APPBACKEND_ADDR": "127.0.0.1:1"}, "healthcheck", "--addr", ":"+port)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "http://127.0.0.1:"+port+"/readyz")
}

// TestHealthcheckFailsInOneLine: a server that is not ready, one that is not there, and
// an address that cannot be probed each cost one line on stderr and a non-zero exit.
func TestHealthcheckFailsInOneLine(t *testing.T) {
	t.Parallel()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/readyz", r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"database unreachable"}}`))
	}))
	t.Cleanup(notReady.Close)
	redirecting := httptest.NewServer(http.RedirectHandler("https://example.com/readyz", http.StatusPermanentRedirect))
	t.Cleanup(redirecting.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gone := ln.Addr().String()
	require.NoError(t, ln.Close())

	for _, tt := range []struct {
		name string
		addr string
		code int
		want string
	}{
		{"not ready", notReady.Listener.Addr().String(), 1, "answered 503: database unreachable"},
		{"redirect", redirecting.Listener.Addr().String(), 1, "answered 308"},
		{"nobody listening", gone, 1, "connect"},
		{"port 0", "127.0.0.1:0", 2, "want HOST:PORT with a port"},
		{"no port", "localhost", 2, "want HOST:PORT with a port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCmd(t, map[string]string{"APPBACKEND_ADDR": tt.addr}, "healthcheck")
			require.Equal(t, tt.code, code, errOut)
			require.Empty(t, out)
			require.Contains(t, errOut, tt.want)
			require.True(t, strings.HasPrefix(errOut, "appbackend healthcheck: "), errOut)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line on stderr: %q", errOut)
		})
	}
}

func TestProbeURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readyz",
		"[::]:8080":      "http://[::1]:8080/readyz",
		"127.0.0.1:3000": "http://127.0.0.1:3000/readyz",
		"[::1]:3000":     "http://[::1]:3000/readyz",
		"backend:80":     "http://backend:80/readyz",
	} {
		got, err := probeURL(addr)
		require.NoError(t, err, addr)
		require.Equal(t, want, got, addr)
	}
	// The defaults are serve's: loopback:3000, or :80 beside HTTPS.
	code, _, errOut := runCmd(t, map[string]string{"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "none.db")}, "healthcheck", "--timeout", "1ms")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "127.0.0.1:3000/readyz")
}
