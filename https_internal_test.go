package appbackend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/server"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

// Environment of a running pebble (scripts/with-services.sh sets them); without them
// the test starts one of its own with scripts/pebble.sh.
const (
	envACMEDirectory = "APPBACKEND_TEST_ACME_DIRECTORY"
	envACMECARoot    = "APPBACKEND_TEST_ACME_CA_ROOT"
)

// pebble returns the ACME directory URL of a local pebble and the roots its HTTPS
// is signed by.
func pebble(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	dir, root := os.Getenv(envACMEDirectory), os.Getenv(envACMECARoot)
	if dir == "" {
		state := t.TempDir()
		env := append(os.Environ(), "PEBBLE_STATE_DIR="+state)
		cmd := exec.Command("./scripts/pebble.sh", "start")
		cmd.Env = env
		out, err := cmd.Output()
		require.NoError(t, err, "start pebble (scripts/pebble.sh start), or set %s and %s", envACMEDirectory, envACMECARoot)
		t.Cleanup(func() {
			stop := exec.Command("./scripts/pebble.sh", "stop")
			stop.Env = env
			_ = stop.Run()
		})
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		require.Len(t, lines, 2, "scripts/pebble.sh start printed %q", out)
		dir, root = lines[0], lines[1]
	}
	pool, err := LoadRoots(root)
	require.NoError(t, err)
	return dir, pool
}

const testDomain = "appbackend.example.com"

type httpsServer struct {
	httpAddr, httpsAddr string
	cancel              context.CancelFunc
	done                chan error
}

func (s *httpsServer) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		require.FailNow(t, "Run did not return")
	}
}

func startHTTPS(t *testing.T, dbPath string, renewRatio float64, directory string, roots *x509.CertPool, mods ...func(*Config)) *httpsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := Config{
		Database:   "sqlite:" + dbPath,
		AppSecrets: []string{"absec_https_test"},
		AdminToken: "admin-token-for-https-tests",
		Listener:   ln,
		Logger:     slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	cfg.Domains = []string{testDomain}
	cfg.HTTPSListener = httpsLn
	cfg.ACMEDirectory = directory
	cfg.ACMERoots = roots
	cfg.ACMEEmail = "ops@example.com"
	cfg.renewalWindowRatio = renewRatio
	for _, mod := range mods {
		mod(&cfg)
	}
	ready := make(chan struct{})
	cfg.Ready = func(net.Addr) { close(ready) }
	app, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s := &httpsServer{httpAddr: ln.Addr().String(), httpsAddr: httpsLn.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- app.Run(ctx) }()
	select {
	case <-ready:
	case err := <-s.done:
		require.Failf(t, "Run returned before listening", "error: %v", err)
	case <-time.After(time.Minute):
		require.FailNow(t, "not listening after a minute")
	}
	return s
}

// testWriter logs to t until the test ends (CertMagic's goroutines may log later).
type testWriter struct {
	t    *testing.T
	mu   *sync.Mutex
	done *bool
}

func newTestWriter(t *testing.T) testWriter {
	w := testWriter{t: t, mu: &sync.Mutex{}, done: new(bool)}
	t.Cleanup(func() { w.mu.Lock(); *w.done = true; w.mu.Unlock() })
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// leaf waits (bounded) until the HTTPS listener completes a handshake for testDomain
// with a certificate accepted by accept, and returns that certificate.
func leaf(t *testing.T, addr string, accept func(*x509.Certificate) bool) (*x509.Certificate, tls.ConnectionState) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var lastErr error
	for time.Now().Before(deadline) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
			ServerName:         testDomain,
			InsecureSkipVerify: true, // pebble's issuing root is generated at its start; the leaf is checked below
			NextProtos:         []string{"h2", "http/1.1"},
		})
		if err == nil {
			st := conn.ConnectionState()
			conn.Close()
			c := st.PeerCertificates[0]
			if accept(c) {
				return c, st
			}
			lastErr = errors.New("certificate not accepted yet: serial " + c.SerialNumber.String())
		} else {
			lastErr = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Failf(t, "no accepted certificate", "on %s: %v", addr, lastErr)
	return nil, tls.ConnectionState{}
}

// TestHTTPSWithPebble obtains a certificate from a real ACME server, serves HTTPS
// (TLS 1.2+, HTTP/2) with a Secure admin cookie and redirects plain HTTP; a restart
// reuses the certificate stored in the database, and one near expiry is renewed.
func TestHTTPSWithPebble(t *testing.T) {
	t.Parallel()
	directory, roots := pebble(t)
	dbPath := filepath.Join(t.TempDir(), "app.db")
	s := startHTTPS(t, dbPath, 0, directory, roots)

	first, st := leaf(t, s.httpsAddr, func(*x509.Certificate) bool { return true })
	require.Contains(t, first.DNSNames, testDomain)
	require.Equal(t, "h2", st.NegotiatedProtocol)
	require.GreaterOrEqual(t, st.Version, uint16(tls.VersionTLS12))

	// TLS 1.1 is refused.
	_, err := tls.Dial("tcp", s.httpsAddr, &tls.Config{ServerName: testDomain, InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
	require.Error(t, err)

	client := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{ServerName: testDomain, InsecureSkipVerify: true},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// The dashboard's session cookie is Secure over HTTPS, and HTTP/2 carries it.
	resp, err := client.PostForm("https://"+s.httpsAddr+"/admin/login", url.Values{"token": {"admin-token-for-https-tests"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, 2, resp.ProtoMajor)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "appbackend_admin_session" {
			session = c
		}
	}
	require.NotNil(t, session)
	require.True(t, session.Secure, "session cookie over HTTPS must be Secure")

	// Plain HTTP redirects to HTTPS, keeping the path and query, for the configured
	// domain (other hosts: https_host_test.go).
	req, err := http.NewRequest(http.MethodGet, "http://"+s.httpAddr+"/api/whoami?x=1", nil)
	require.NoError(t, err)
	req.Host = testDomain
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusPermanentRedirect, resp.StatusCode)
	_, httpsPort, _ := net.SplitHostPort(s.httpsAddr)
	require.Equal(t, "https://"+testDomain+":"+httpsPort+"/api/whoami?x=1", resp.Header.Get("Location"))
	// The health check still answers on plain HTTP, for a local probe.
	resp, err = client.Get("http://" + s.httpAddr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	s.stop(t)

	// A restart finds the certificate in the database: no new one, and HTTPS works
	// from the first connection.
	s = startHTTPS(t, dbPath, 0, directory, roots)
	conn, err := tls.Dial("tcp", s.httpsAddr, &tls.Config{ServerName: testDomain, InsecureSkipVerify: true})
	require.NoError(t, err, "the first handshake after a restart")
	again := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	require.Equal(t, first.SerialNumber, again.SerialNumber, "a restart obtained a new certificate")
	s.stop(t)

	// Near expiry (here: every certificate is in its renewal window), it is renewed,
	// and the new one is stored for the next start and for doctor.
	s = startHTTPS(t, dbPath, 1, directory, roots)
	renewed, _ := leaf(t, s.httpsAddr, func(c *x509.Certificate) bool { return c.SerialNumber.Cmp(first.SerialNumber) != 0 })
	require.Contains(t, renewed.DNSNames, testDomain)
	s.stop(t)

	st2, err := setup.OpenStore(t.Context(), "sqlite:"+dbPath, setup.StoreOptions{SkipMigrations: true})
	require.NoError(t, err)
	defer st2.Close()
	expiry, err := CertificateExpiry(t.Context(), st2.(certstore.DB), []string{testDomain})
	require.NoError(t, err)
	require.WithinDuration(t, renewed.NotAfter, expiry[testDomain], time.Second)
}

// TestHTTPSChallengesValidated: with pebble really validating (its DNS answers
// 127.0.0.1, and it connects to this server's HTTP and HTTPS ports), the certificate
// is obtained by solving a challenge on the server's own listeners — HTTP-01 on the
// plain-HTTP one or TLS-ALPN-01 on the HTTPS one, whichever CertMagic picks — never by
// binding :80 or :443.
func TestHTTPSChallengesValidated(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	state := t.TempDir()
	env := append(os.Environ(), "PEBBLE_STATE_DIR="+state, "PEBBLE_VALIDATE=1",
		"PEBBLE_HTTP_PORT="+strconv.Itoa(server.Port(ln.Addr())), "PEBBLE_TLS_PORT="+strconv.Itoa(server.Port(httpsLn.Addr())))
	cmd := exec.Command("./scripts/pebble.sh", "start")
	cmd.Env = env
	out, err := cmd.Output()
	t.Cleanup(func() {
		stop := exec.Command("./scripts/pebble.sh", "stop")
		stop.Env = env
		_ = stop.Run()
	})
	require.NoError(t, err, "scripts/pebble.sh start (validating)")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 2)
	roots, err := LoadRoots(lines[1])
	require.NoError(t, err)

	cfg := Config{
		Database:   "sqlite:" + filepath.Join(t.TempDir(), "app.db"),
		AppSecrets: []string{"absec_https_test"},
		Listener:   ln,
		Logger:     slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	cfg.Domains = []string{testDomain}
	cfg.HTTPSListener = httpsLn
	cfg.ACMEDirectory = lines[0]
	cfg.ACMERoots = roots
	app, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s := &httpsServer{httpAddr: ln.Addr().String(), httpsAddr: httpsLn.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- app.Run(ctx) }()
	defer s.stop(t)

	c, _ := leaf(t, s.httpsAddr, func(*x509.Certificate) bool { return true })
	require.Contains(t, c.DNSNames, testDomain)
	log, err := os.ReadFile(filepath.Join(state, "log"))
	require.NoError(t, err)
	require.Contains(t, string(log), "set VALID by completed challenge", "pebble did not validate a challenge:\n%s", log)
	require.NotContains(t, string(log), "Skipping real validation")
}

// TestHTTPSReplicasShareTheCertificate: two replicas starting together on one
// PostgreSQL database obtain one certificate between them (the lock in the database
// lets one obtain it; the other loads it) and serve the same one.
func TestHTTPSReplicasShareTheCertificate(t *testing.T) {
	t.Parallel()
	if os.Getenv(pgtest.EnvURL) == "" {
		t.Skipf("%s is not set (make test sets it)", pgtest.EnvURL)
	}
	directory, roots := pebble(t)
	dbURL := pgtest.NewDatabase(t)
	var servers []*httpsServer
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		cfg := Config{
			Database:   dbURL,
			AppSecrets: []string{"absec_https_test"},
			Listener:   ln,
			Logger:     slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn})),
		}
		cfg.Domains = []string{testDomain}
		cfg.HTTPSListener = httpsLn
		cfg.ACMEDirectory = directory
		cfg.ACMERoots = roots
		app, err := New(cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		s := &httpsServer{httpAddr: ln.Addr().String(), httpsAddr: httpsLn.Addr().String(), cancel: cancel, done: make(chan error, 1)}
		go func() { s.done <- app.Run(ctx) }()
		servers = append(servers, s)
	}
	a, _ := leaf(t, servers[0].httpsAddr, func(*x509.Certificate) bool { return true })
	b, _ := leaf(t, servers[1].httpsAddr, func(*x509.Certificate) bool { return true })
	require.Equal(t, a.SerialNumber, b.SerialNumber, "the replicas obtained a certificate each")
	for _, s := range servers {
		s.stop(t)
	}
}
