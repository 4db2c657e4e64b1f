package cli

import (
	"context"
	"strings"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/doctor"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
)

// productionFlags are serve's flags for automatic HTTPS, backups and trusted proxies;
// each defaults to its environment variable.
type productionFlags struct {
	domains, proxies string
	// caRoot is --acme-ca-root; envCARoot is APPBACKEND_ACME_CA_ROOT, which the
	// configuration already loaded (the file is read again only if the flag names
	// another).
	caRoot, envCARoot string
}

func registerProductionFlags(f *flags, cfg *appbackend.Config, getenv func(string) string) *productionFlags {
	p := &productionFlags{domains: strings.Join(cfg.Domains, ","), proxies: strings.Join(cfg.TrustedProxies, ",")}
	p.envCARoot = strings.TrimSpace(getenv("APPBACKEND_ACME_CA_ROOT"))
	f.StringVar(&p.caRoot, "acme-ca-root", p.envCARoot, "PEM file of the roots trusted for the ACME server's own HTTPS, for a private CA (APPBACKEND_ACME_CA_ROOT; default the system's)")
	f.StringVar(&p.domains, "domain", p.domains, "serve HTTPS for these domains, comma-separated, with certificates from ACME kept in the database (APPBACKEND_DOMAIN); --addr then defaults to :80, which answers ACME challenges and redirects")
	f.StringVar(&cfg.HTTPSAddr, "https-addr", cfg.HTTPSAddr, "HTTPS listen address with --domain (APPBACKEND_HTTPS_ADDR; default "+appbackend.DefaultHTTPSAddr+")")
	f.StringVar(&cfg.ACMEEmail, "acme-email", cfg.ACMEEmail, "contact address of the ACME account (APPBACKEND_ACME_EMAIL)")
	f.StringVar(&cfg.ACMEDirectory, "acme-directory", cfg.ACMEDirectory, "ACME directory URL (APPBACKEND_ACME_DIRECTORY; default Let's Encrypt)")
	f.StringVar(&p.proxies, "trusted-proxies", p.proxies, "CIDRs of proxies whose X-Forwarded-For/-Proto are believed (APPBACKEND_TRUSTED_PROXIES; default none)")
	f.StringVar(&cfg.BackupDir, "backup-dir", cfg.BackupDir, "write scheduled backups of the SQLite database here (APPBACKEND_BACKUP_DIR)")
	f.DurationVar(&cfg.BackupEvery, "backup-every", cfg.BackupEvery, "interval of scheduled backups (APPBACKEND_BACKUP_EVERY; default 24h)")
	f.IntVar(&cfg.BackupKeep, "backup-keep", cfg.BackupKeep, "scheduled backups kept (APPBACKEND_BACKUP_KEEP; default 7)")
	return p
}

func (p *productionFlags) apply(cfg *appbackend.Config) error {
	cfg.Domains = setup.SplitList(p.domains)
	cfg.TrustedProxies = setup.SplitList(p.proxies)
	if cfg.BackupEvery < 0 || cfg.BackupKeep < 0 {
		return usagef("--backup-every and --backup-keep must not be negative")
	}
	if root := strings.TrimSpace(p.caRoot); root != p.envCARoot {
		cfg.ACMERoots = nil
		if root != "" {
			pool, err := appbackend.LoadRoots(root)
			if err != nil {
				return usagef("--acme-ca-root: %v", err)
			}
			cfg.ACMERoots = pool
		}
	}
	return nil
}

// addProductionChecks lets doctor look at the scheduled backups and the certificates
// the configuration asks for.
func addProductionChecks(in *doctor.Input, cfg appbackend.Config, st store.Store) {
	if cfg.BackupDir != "" {
		in.BackupEvery = cfg.BackupEvery
		if in.BackupEvery == 0 {
			in.BackupEvery = appbackend.DefaultBackupEvery
		}
		in.LastBackup = func(ctx context.Context) (time.Time, bool, error) {
			info, ok, err := backup.Last(ctx, st.Setting)
			return info.StartedAt, ok, err
		}
	}
	if db, ok := st.(certstore.DB); ok && len(cfg.Domains) > 0 {
		in.CertificateExpiry = func(ctx context.Context) (map[string]time.Time, error) {
			return appbackend.CertificateExpiry(ctx, db, cfg.Domains)
		}
	}
}
