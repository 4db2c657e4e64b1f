package cli

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

// TestRotateKeyReSealsCertificateKeys: rotate-key moves the certificates' and the
// ACME account's private keys to the new first key, as it does OAuth tokens, and
// seals one stored before any key was configured.
func TestRotateKeyReSealsCertificateKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbPath := filepath.Join(t.TempDir(), "app.db")
	oldKey := secretbox.NewKey()
	old, err := secretbox.Parse(oldKey)
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, dbPath)
	require.NoError(t, err)
	const (
		certKey = "certificates/acme-v02/example.com/example.com.key"
		acctKey = "acme/acme-v02/users/ops@example.com/ops.key"
	)
	require.NoError(t, certstore.New(st, certstore.WithKeys(old)).Store(ctx, certKey, []byte("CERT KEY")))
	require.NoError(t, certstore.New(st).Store(ctx, acctKey, []byte("ACCOUNT KEY"))) // from before a key was set
	require.NoError(t, st.Close())

	newKey := secretbox.NewKey()
	env := map[string]string{"APPBACKEND_DATABASE": "sqlite:" + dbPath, "APPBACKEND_ENCRYPTION_KEY": newKey + "," + oldKey}
	exit, out, errOut := runCmd(t, env, "rotate-key")
	require.Equal(t, 0, exit, errOut)
	require.Contains(t, out, "re-sealed 2 certificate private key(s)")

	fresh, err := secretbox.Parse(newKey)
	require.NoError(t, err)
	st, err = sqlite.Open(ctx, dbPath)
	require.NoError(t, err)
	defer st.Close()
	for key, want := range map[string]string{certKey: "CERT KEY", acctKey: "ACCOUNT KEY"} {
		v, ok, err := st.Setting(ctx, certstore.Prefix+key)
		require.NoError(t, err)
		require.True(t, ok)
		id, _ := secretbox.KeyID(v)
		require.Equal(t, fresh.PrimaryID(), id, key)
		got, err := certstore.New(st, certstore.WithKeys(fresh)).Load(ctx, key)
		require.NoError(t, err, "opens with the new key alone")
		require.Equal(t, want, string(got))
	}
}
