package appbackend

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/certstore"
)

// Defaults of the production settings.
const (
	// DefaultHTTPSAddr is where HTTPS is served when Domains are set.
	DefaultHTTPSAddr = ":443"
	// DefaultHTTPAddrWithDomain is Addr's default when Domains are set: the plain-HTTP
	// listener then answers ACME HTTP-01 challenges and redirects to HTTPS.
	DefaultHTTPAddrWithDomain = ":80"
	// DefaultACMEDirectory is Let's Encrypt's production directory.
	DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"
	// DefaultBackupEvery and DefaultBackupKeep apply when BackupDir is set.
	DefaultBackupEvery = backup.DefaultEvery
	DefaultBackupKeep  = backup.DefaultKeep
)

// Production is the part of Config for running on a server of one's own: automatic
// HTTPS, scheduled backups of a SQLite database, and a proxy in front.
type Production struct {
	// Domains, when set, turn on automatic HTTPS (APPBACKEND_DOMAIN, comma-separated):
	// certificates for them are obtained and renewed over ACME and kept in the
	// database, so replicas share them and a restart does not obtain new ones. HTTPS
	// is served on HTTPSAddr; Addr (default ":80" then) answers ACME HTTP-01
	// challenges and redirects everything else to HTTPS.
	Domains []string
	// HTTPSAddr is the HTTPS listen address (APPBACKEND_HTTPS_ADDR; default ":443").
	HTTPSAddr string
	// HTTPSListener, when set, is served instead of listening on HTTPSAddr (tests).
	HTTPSListener net.Listener
	// ACMEEmail is the ACME account's contact (APPBACKEND_ACME_EMAIL): the CA writes
	// to it about expiring certificates and problems.
	ACMEEmail string
	// ACMEDirectory is the ACME server's directory URL (APPBACKEND_ACME_DIRECTORY;
	// default Let's Encrypt). Any RFC 8555 server works, Let's Encrypt's staging
	// (https://acme-staging-v02.api.letsencrypt.org/directory) too.
	ACMEDirectory string
	// ACMERoots, when set, are the only roots trusted for the ACME server's own HTTPS
	// (a private CA, or pebble in tests). APPBACKEND_ACME_CA_ROOT names a PEM file.
	ACMERoots *x509.CertPool
	// TrustedProxies are the networks (CIDRs or addresses) of proxies or load
	// balancers whose X-Forwarded-For and X-Forwarded-Proto are believed, for the
	// client's address and whether it came over HTTPS (APPBACKEND_TRUSTED_PROXIES).
	// From any other peer those headers are ignored; by default from every peer.
	TrustedProxies []string
	// BackupDir, when set, turns on scheduled backups of a SQLite database into this
	// folder (APPBACKEND_BACKUP_DIR), every BackupEvery (APPBACKEND_BACKUP_EVERY;
	// default 24h), keeping the newest BackupKeep (APPBACKEND_BACKUP_KEEP; default 7).
	BackupDir   string
	BackupEvery time.Duration
	BackupKeep  int

	// renewalWindowRatio overrides CertMagic's (the share of a certificate's lifetime
	// left when it is renewed); tests use it to find a fresh certificate near expiry.
	renewalWindowRatio float64
}

// CertificateExpiry reads, from the database, the certificates stored for domains (by
// any ACME issuer) and returns when the latest of each expires; zero for a domain
// without one.
func CertificateExpiry(ctx context.Context, db certstore.DB, domains []string) (map[string]time.Time, error) {
	return certstore.Expiry(ctx, db, domains)
}

// LoadRoots reads a PEM file of CA certificates.
func LoadRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

func (p Production) withDefaults() Production {
	if len(p.Domains) > 0 {
		if p.HTTPSAddr == "" {
			p.HTTPSAddr = DefaultHTTPSAddr
		}
		if p.ACMEDirectory == "" {
			p.ACMEDirectory = DefaultACMEDirectory
		}
	}
	if p.BackupDir != "" {
		if p.BackupEvery == 0 {
			p.BackupEvery = DefaultBackupEvery
		}
		if p.BackupKeep == 0 {
			p.BackupKeep = DefaultBackupKeep
		}
	}
	return p
}
