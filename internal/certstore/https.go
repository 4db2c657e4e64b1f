package certstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/secretbox"
)

// Automatic HTTPS is CertMagic's (github.com/caddyserver/certmagic), chosen over
// x/crypto/acme/autocert because it takes a Storage interface with distributed
// locking (replicas on one database share certificates and take turns obtaining
// them), renews by the CA's ACME Renewal Information as well as by expiry, retries
// with backoff within the CA's rate limits, and solves TLS-ALPN-01 as well as HTTP-01.

// Manager is the running certificate management of the App's APPBACKEND_DOMAIN: the
// certificates, kept in the database (Storage), and the plain-HTTP listener's
// challenges and redirect.
type Manager struct {
	baseservice.Base
	cache  *certmagic.Cache
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer
	// domains are the hosts the plain-HTTP listener redirects for.
	domains []string
}

// ManagerConfig configures [StartManager].
type ManagerConfig struct {
	// Archetype is the App's logger (CertMagic's lines go to it) and clock.
	Archetype *baseservice.Archetype
	// DB keeps the certificates; Keys, when not empty, seals their private keys.
	DB   DB
	Keys *secretbox.Keyring
	// Domains are APPBACKEND_DOMAIN's; Directory, Email and Roots the ACME server's
	// (APPBACKEND_ACME_DIRECTORY, APPBACKEND_ACME_EMAIL, APPBACKEND_ACME_CA_ROOT).
	Domains   []string
	Directory string
	Email     string
	Roots     *x509.CertPool
	// RenewalWindowRatio overrides CertMagic's (tests).
	RenewalWindowRatio float64
	// HTTPPort and HTTPSPort are the ports of the App's own listeners, which answer
	// the challenges.
	HTTPPort, HTTPSPort int
}

// StartManager sets up certificate management for the configured domains (obtaining
// or loading the certificates in the background) and returns it with the HTTPS
// listener's TLS configuration.
func StartManager(ctx context.Context, c ManagerConfig) (*Manager, *tls.Config, error) {
	m := &Manager{domains: c.Domains}
	m.Init(c.Archetype)
	logger := zap.New(slogCore{m.Logger().With("component", "certmagic")})
	// Private keys are sealed with the encryption key when one is configured; those
	// stored before it was are sealed now.
	storage := New(c.DB, WithKeys(c.Keys))
	if !c.Keys.Empty() {
		if n, err := storage.Reseal(ctx); err != nil {
			m.Logger().Warn("seal the stored private keys", "err", err)
		} else if n > 0 {
			m.Logger().Info("sealed the stored private keys with the encryption key", "count", n)
		}
	}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.cfg, nil },
		Logger:           logger,
	})
	m.cfg = certmagic.New(m.cache, certmagic.Config{
		Storage:            storage,
		Logger:             logger,
		RenewalWindowRatio: c.RenewalWindowRatio,
	})
	m.issuer = certmagic.NewACMEIssuer(m.cfg, certmagic.ACMEIssuer{
		CA:           c.Directory,
		TestCA:       c.Directory, // no fallback to Let's Encrypt's staging
		Email:        c.Email,
		Agreed:       true,
		TrustedRoots: c.Roots,
		// The solvers find the ports taken by our own listeners, and then leave the
		// challenge to them (HTTP-01 through HTTPChallengeHandler, TLS-ALPN-01
		// through the TLS configuration), instead of listening on :80 and :443.
		AltHTTPPort:    c.HTTPPort,
		AltTLSALPNPort: c.HTTPSPort,
		Logger:         logger,
	})
	m.cfg.Issuers = []certmagic.Issuer{m.issuer}
	// In the background: the server listens at once, and HTTPS handshakes succeed as
	// soon as the certificate is loaded from the database (at once after a restart;
	// one near expiry is renewed first) or obtained.
	if err := m.cfg.ManageAsync(context.WithoutCancel(ctx), c.Domains); err != nil {
		m.cache.Stop()
		return nil, nil, fmt.Errorf("manage certificates for %v: %w", c.Domains, err)
	}
	m.awaitStored(ctx, c.DB, c.Domains)
	tlsCfg := m.cfg.TLSConfig()
	tlsCfg.MinVersion = tls.VersionTLS12
	for _, proto := range []string{"http/1.1", "h2"} { // h2 first: HTTP/2 preferred
		if !slices.Contains(tlsCfg.NextProtos, proto) {
			tlsCfg.NextProtos = append([]string{proto}, tlsCfg.NextProtos...)
		}
	}
	return m, tlsCfg, nil
}

// Stop ends the certificate maintenance.
func (m *Manager) Stop() { m.cache.Stop() }

// storedLoadWait bounds how long start-up waits for CertMagic to load certificates
// already in the database.
const storedLoadWait = 10 * time.Second

// awaitStored waits, briefly, until the certificates already in the database are in
// CertMagic's cache, so that a restart serves HTTPS from its first connection. Domains
// without a stored certificate are obtained in the background as usual.
func (m *Manager) awaitStored(ctx context.Context, db DB, domains []string) {
	expiry, err := Expiry(ctx, db, domains)
	if err != nil {
		return
	}
	deadline := time.Now().Add(storedLoadWait)
	for _, d := range domains {
		if expiry[d].IsZero() {
			continue
		}
		for len(m.cache.AllMatchingCertificates(d)) == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// RedirectHandler answers ACME HTTP-01 challenges and sends everything else to the
// same path over HTTPS (308, so a POST stays a POST), for the configured domains only:
// the Host header is the client's to choose, and redirecting any host would make this
// listener an open redirect (http://victim → https://evil.example). Another host gets
// 404, as a server without a site for it would answer.
func (m *Manager) RedirectHandler(httpsPort int) http.Handler {
	return m.issuer.HTTPChallengeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host, ok := configuredHost(m.domains, host)
		if !ok {
			w.Header().Set("Connection", "close")
			apierror.Write(w, r, nil, apierror.New(apierror.CodeNotFound, "this server has no site at that host name"))
			return
		}
		if httpsPort != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(httpsPort))
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	}))
}

// configuredHost returns the configured domain that host names (compared without
// case and a trailing dot; "*.example.com" takes one label), and whether there is one.
// The domain, not the request's spelling of it, goes into the redirect.
func configuredHost(domains []string, host string) (string, bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return "", false
	}
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if host == d {
			return d, true
		}
		if rest, ok := strings.CutPrefix(d, "*."); ok {
			if label, parent, found := strings.Cut(host, "."); found && label != "" && parent == rest {
				return host, true
			}
		}
	}
	return "", false
}

// Expiry reads, from the database, the certificates stored for domains (by
// any ACME issuer) and returns when the latest of each expires; zero for a domain
// without one.
func Expiry(ctx context.Context, db DB, domains []string) (map[string]time.Time, error) {
	s := New(db)
	out := make(map[string]time.Time, len(domains))
	for _, d := range domains {
		out[d] = time.Time{}
	}
	keys, err := s.List(ctx, "certificates", true)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, d := range domains {
		for _, k := range keys {
			if !strings.HasSuffix(k, "/"+d+"/"+d+".crt") {
				continue
			}
			pemBytes, err := s.Load(ctx, k)
			if err != nil {
				return nil, err
			}
			if der, _ := nextPEM(pemBytes); der != nil {
				if c, err := x509.ParseCertificate(der); err == nil && c.NotAfter.After(out[d]) {
					out[d] = c.NotAfter
				}
			}
		}
	}
	return out, nil
}

// nextPEM returns the DER bytes of the next CERTIFICATE block and what follows it.
func nextPEM(data []byte) (der, rest []byte) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, nil
		}
		if block.Type == "CERTIFICATE" {
			return block.Bytes, data
		}
	}
}

// slogCore passes CertMagic's zap logs to the App's slog logger. Debug lines are
// dropped: they are CertMagic's internal chatter.
type slogCore struct{ l *slog.Logger }

func (c slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.InfoLevel }

func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{c.l.With(zapAttrs(fields)...)}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	level := slog.LevelInfo
	switch {
	case e.Level >= zapcore.ErrorLevel:
		level = slog.LevelError
	case e.Level == zapcore.WarnLevel:
		level = slog.LevelWarn
	}
	c.l.Log(context.Background(), level, e.Message, zapAttrs(fields)...)
	return nil
}

func (c slogCore) Sync() error { return nil }

func zapAttrs(fields []zapcore.Field) []any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		out = append(out, k, v)
	}
	return out
}
