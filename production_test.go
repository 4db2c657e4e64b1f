package appbackend_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestProductionFromEnv(t *testing.T) {
	t.Parallel()
	cfg, err := appbackend.ConfigFromEnv(envFunc(map[string]string{
		"APPBACKEND_DOMAIN":          "api.example.com, www.example.com",
		"APPBACKEND_HTTPS_ADDR":      "127.0.0.1:8443",
		"APPBACKEND_ACME_EMAIL":      "ops@example.com",
		"APPBACKEND_ACME_DIRECTORY":  "https://acme-staging-v02.api.letsencrypt.org/directory",
		"APPBACKEND_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
		"APPBACKEND_BACKUP_DIR":      "/var/lib/appbackend/backups",
		"APPBACKEND_BACKUP_EVERY":    "6h",
		"APPBACKEND_BACKUP_KEEP":     "28",
	}))
	require.NoError(t, err)
	require.Equal(t, []string{"api.example.com", "www.example.com"}, cfg.Domains)
	require.Equal(t, "127.0.0.1:8443", cfg.HTTPSAddr)
	require.Equal(t, "ops@example.com", cfg.ACMEEmail)
	require.Equal(t, []string{"10.0.0.0/8", "192.0.2.7"}, cfg.TrustedProxies)
	require.Equal(t, 6*time.Hour, cfg.BackupEvery)
	require.Equal(t, 28, cfg.BackupKeep)
}

func TestProductionConfigErrors(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "root.pem")
	require.NoError(t, os.WriteFile(root, []byte("not a certificate"), 0o600))
	for name, env := range map[string]map[string]string{
		"backup every":   {"APPBACKEND_BACKUP_EVERY": "daily"},
		"backup keep":    {"APPBACKEND_BACKUP_KEEP": "0"},
		"ca root":        {"APPBACKEND_ACME_CA_ROOT": root},
		"ca root absent": {"APPBACKEND_ACME_CA_ROOT": root + ".missing"},
	} {
		_, err := appbackend.ConfigFromEnv(envFunc(env))
		require.ErrorIs(t, err, appbackend.ErrConfig, name)
	}
	for name, p := range map[string]appbackend.Production{
		"proxy":             {TrustedProxies: []string{"10.0.0.0/40"}},
		"domain with port":  {Domains: []string{"api.example.com:443"}},
		"domain not a name": {Domains: []string{"https://api.example.com"}},
	} {
		_, err := appbackend.New(appbackend.Config{Database: "sqlite:x.db", AppSecrets: []string{secretA}, Production: p})
		require.ErrorIs(t, err, appbackend.ErrConfig, name)
	}
	_, err := appbackend.New(appbackend.Config{
		Database: "postgres://u@127.0.0.1/db", AppSecrets: []string{secretA},
		Production: appbackend.Production{BackupDir: t.TempDir()},
	})
	require.ErrorIs(t, err, appbackend.ErrConfig, "scheduled backups of PostgreSQL")
	require.ErrorContains(t, err, "pg_dump")
}
