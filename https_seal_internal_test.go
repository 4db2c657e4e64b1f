package appbackend

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/setup"
)

// TestHTTPSPrivateKeysSealed: with APPBACKEND_ENCRYPTION_KEY set, the certificate's
// and the ACME account's private keys are not readable in the database (they were
// plain base64 whatever the configuration). Keys stored before the encryption key
// was configured are sealed at the next start, and the stored certificate is still
// served from it.
func TestHTTPSPrivateKeysSealed(t *testing.T) {
	t.Parallel()
	directory, roots := pebble(t)
	dbPath := filepath.Join(t.TempDir(), "app.db")
	privateKeys := func() map[string]string {
		st, err := setup.OpenStore(t.Context(), "sqlite:"+dbPath, setup.StoreOptions{SkipMigrations: true})
		require.NoError(t, err)
		defer st.Close()
		rows, err := st.(certstore.DB).SettingsWithPrefix(t.Context(), certstore.Prefix)
		require.NoError(t, err)
		out := map[string]string{}
		for _, r := range rows {
			if strings.HasSuffix(r.Key, ".key") {
				out[r.Key] = r.Value
			}
		}
		return out
	}

	// Without an encryption key (as before): stored as base64.
	s := startHTTPS(t, dbPath, 0, directory, roots)
	first, _ := leaf(t, s.httpsAddr, func(*x509.Certificate) bool { return true })
	s.stop(t)
	before := privateKeys()
	require.Len(t, before, 2, "the certificate's key and the ACME account's")
	for k, v := range before {
		_, sealed := secretbox.KeyID(v)
		require.False(t, sealed, k)
	}

	// With one: sealed at start, and the stored certificate still served.
	s = startHTTPS(t, dbPath, 0, directory, roots, func(c *Config) { c.EncryptionKeys = []string{secretbox.NewKey()} })
	conn, err := tls.Dial("tcp", s.httpsAddr, &tls.Config{ServerName: testDomain, InsecureSkipVerify: true})
	require.NoError(t, err)
	again := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	require.Equal(t, first.SerialNumber, again.SerialNumber, "the stored certificate is loaded, not a new one obtained")
	s.stop(t)
	after := privateKeys()
	require.Len(t, after, 2)
	for k, v := range after {
		_, sealed := secretbox.KeyID(v)
		require.True(t, sealed, "%s is stored readable: %.40s…", k, v)
	}
}
