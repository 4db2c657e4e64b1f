package certstore_test

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/secretbox"
)

// TestPrivateKeysSealed: with an encryption key, the certificates' and the ACME
// account's private keys are sealed in the settings (they used to be plain base64
// whatever the configuration); keys stored before a key was configured still load,
// Reseal seals them and re-seals after a rotation; certificates stay readable.
func TestPrivateKeysSealed(t *testing.T) {
	t.Parallel()
	databases(t, testPrivateKeysSealed)
}

func testPrivateKeysSealed(t *testing.T, open func() db) {
	ctx := t.Context()
	d := open()
	const (
		certKey = "certificates/acme-v02/example.com/example.com.key"
		certCrt = "certificates/acme-v02/example.com/example.com.crt"
		acctKey = "acme/acme-v02/users/ops@example.com/ops.key"
	)
	raw := func(key string) string {
		v, ok, err := d.Setting(ctx, certstore.Prefix+key)
		require.NoError(t, err)
		require.True(t, ok, key)
		return v
	}
	plainKey := []byte("-----BEGIN EC PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----\n")

	// Stored before an encryption key was configured: plain base64.
	unsealed := certstore.New(d)
	require.NoError(t, unsealed.Store(ctx, certKey, plainKey))
	require.NoError(t, unsealed.Store(ctx, acctKey, []byte("ACCOUNT KEY")))
	require.NoError(t, unsealed.Store(ctx, certCrt, []byte("CERT")))

	k1s := secretbox.NewKey()
	k1, err := secretbox.Parse(k1s)
	require.NoError(t, err)
	s := certstore.New(d, certstore.WithKeys(k1))
	got, err := s.Load(ctx, certKey)
	require.NoError(t, err, "an unsealed key from before still loads")
	require.Equal(t, plainKey, got)

	n, err := s.Reseal(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, key := range []string{certKey, acctKey} {
		v := raw(key)
		id, sealed := secretbox.KeyID(v)
		require.True(t, sealed, "%s stored as %q", key, v)
		require.Equal(t, k1.PrimaryID(), id)
	}
	require.NotContains(t, raw(certKey), base64.StdEncoding.EncodeToString(plainKey))
	require.Equal(t, base64.StdEncoding.EncodeToString([]byte("CERT")), raw(certCrt), "certificates are public: not sealed")
	got, err = s.Load(ctx, certKey)
	require.NoError(t, err)
	require.Equal(t, plainKey, got)
	info, err := s.Stat(ctx, certKey)
	require.NoError(t, err)
	require.EqualValues(t, len(plainKey), info.Size)

	// A key stored now is sealed at once.
	const newKey = "certificates/acme-v02/other.org/other.org.key"
	require.NoError(t, s.Store(ctx, newKey, []byte("NEW")))
	_, sealed := secretbox.KeyID(raw(newKey))
	require.True(t, sealed)

	// Without the key: a clear error, not garbage.
	_, err = unsealed.Load(ctx, certKey)
	require.ErrorContains(t, err, "APPBACKEND_ENCRYPTION_KEY")
	// A sealed value copied into another setting does not open.
	require.NoError(t, d.PutSetting(ctx, certstore.Prefix+"certificates/acme-v02/evil.net/evil.net.key", raw(certKey)))
	_, err = s.Load(ctx, "certificates/acme-v02/evil.net/evil.net.key")
	require.ErrorIs(t, err, secretbox.ErrOpen)
	require.NoError(t, s.Delete(ctx, "certificates/acme-v02/evil.net"))

	// Rotation: the new key first, the old after it; Reseal moves every key over.
	rotated, err := secretbox.Parse(secretbox.NewKey() + "," + k1s)
	require.NoError(t, err)
	r := certstore.New(d, certstore.WithKeys(rotated))
	n, err = r.Reseal(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	for _, key := range []string{certKey, acctKey, newKey} {
		id, _ := secretbox.KeyID(raw(key))
		require.Equal(t, rotated.PrimaryID(), id, key)
	}
	n, err = r.Reseal(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to re-seal")
	got, err = r.Load(ctx, acctKey)
	require.NoError(t, err)
	require.Equal(t, []byte("ACCOUNT KEY"), got)
}
