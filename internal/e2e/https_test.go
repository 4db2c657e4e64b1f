package e2e

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/e2etest"
)

// acmeServer returns a running pebble's directory URL and root file:
// APPBACKEND_TEST_ACME_DIRECTORY and APPBACKEND_TEST_ACME_CA_ROOT (with-services.sh),
// or one started for the test with scripts/pebble.sh.
func acmeServer(t *testing.T) (directory, root string) {
	t.Helper()
	if d := os.Getenv("APPBACKEND_TEST_ACME_DIRECTORY"); d != "" {
		return d, os.Getenv("APPBACKEND_TEST_ACME_CA_ROOT")
	}
	env := append(os.Environ(), "PEBBLE_STATE_DIR="+t.TempDir())
	cmd := exec.Command("../../scripts/pebble.sh", "start")
	cmd.Env = env
	out, err := cmd.Output()
	require.NoError(t, err, "scripts/pebble.sh start")
	t.Cleanup(func() {
		stop := exec.Command("../../scripts/pebble.sh", "stop")
		stop.Env = env
		_ = stop.Run()
	})
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 2)
	return lines[0], lines[1]
}

var httpsListening = regexp.MustCompile(`addr=https://([0-9.:]+)`)

// TestServeHTTPSFromEnvironment: the binary, configured only through the
// environment, obtains a certificate from a local ACME server, serves HTTPS and
// doctor reports the certificate; restarted, it serves the same certificate.
func TestServeHTTPSFromEnvironment(t *testing.T) {
	t.Parallel()
	directory, root := acmeServer(t)
	const domain = "e2e.appbackend.example.com"
	s := e2etest.Start(t, e2etest.Options{
		Program: e2etest.Serve,
		Env: map[string]string{
			"APPBACKEND_DOMAIN":         domain,
			"APPBACKEND_HTTPS_ADDR":     "127.0.0.1:0",
			"APPBACKEND_ACME_DIRECTORY": directory,
			"APPBACKEND_ACME_CA_ROOT":   root,
			"APPBACKEND_ACME_EMAIL":     "ops@example.com",
		},
	})
	serial := func() string {
		var m []string
		require.True(t, e2etest.WaitFor(30*time.Second, func() bool {
			all := httpsListening.FindAllStringSubmatch(s.LogTail(), -1)
			if len(all) > 0 {
				m = all[len(all)-1]
			}
			return m != nil
		}), "no HTTPS listening line:\n%s", s.LogTail())
		var got string
		ok := e2etest.WaitFor(3*time.Minute, func() bool {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", m[1], &tls.Config{ServerName: domain, InsecureSkipVerify: true})
			if err != nil {
				return false
			}
			defer conn.Close()
			got = conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
			return true
		})
		require.True(t, ok, "no certificate served:\n%s", s.LogTail())
		return got
	}
	first := serial()

	// Plain HTTP (APPBACKEND_ADDR) redirects the configured domain, and only it.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(host string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/admin/", nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := get(domain)
	require.Equal(t, http.StatusPermanentRedirect, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "https://"+domain), "Location %q", resp.Header.Get("Location"))
	require.Equal(t, http.StatusNotFound, get("evil.example").StatusCode)

	out := s.CLI("doctor", "--json")
	require.NotContains(t, out.Stdout, "certificate_expiry", "doctor: %s", out.Stdout)

	s.Stop()
	s.Restart()
	require.Equal(t, first, serial(), "the restart obtained a new certificate")
}
