package secretbox_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/secretbox"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k1, k2 := secretbox.NewKey(), secretbox.NewKey()
	old, err := secretbox.Parse(k1)
	require.NoError(t, err)
	sealed, err := old.Seal("sk_secret_token", "row:1")
	require.NoError(t, err)
	require.NotContains(t, sealed, "sk_secret_token")

	got, err := old.Open(sealed, "row:1")
	require.NoError(t, err)
	require.Equal(t, "sk_secret_token", got)

	_, err = old.Open(sealed, "row:2")
	require.ErrorIs(t, err, secretbox.ErrOpen, "a value moved to another row must not open")

	rotated, err := secretbox.Parse(k2 + "," + k1)
	require.NoError(t, err)
	got, err = rotated.Open(sealed, "row:1")
	require.NoError(t, err, "every key of the ring opens")
	require.Equal(t, "sk_secret_token", got)
	resealed, err := rotated.Seal(got, "row:1")
	require.NoError(t, err)
	id, _ := secretbox.KeyID(resealed)
	require.Equal(t, rotated.PrimaryID(), id, "the first key seals")

	onlyNew, err := secretbox.Parse(k2)
	require.NoError(t, err)
	_, err = onlyNew.Open(sealed, "row:1")
	require.ErrorIs(t, err, secretbox.ErrUnknownKey)

	tampered := sealed[:len(sealed)-2] + "AA"
	_, err = old.Open(tampered, "row:1")
	require.Error(t, err)
}

func TestParse(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"short":      "c2hvcnQ=",
		"not base64": "!!!!",
		"second bad": secretbox.NewKey() + ",xyz",
	} {
		_, err := secretbox.Parse(in)
		require.ErrorIs(t, err, secretbox.ErrBadKey, "%s: got %v, want ErrBadKey", name, err)
		require.False(t, err != nil && strings.Contains(err.Error(), in), "%s: the error repeats the key", name)
	}
	empty, err := secretbox.Parse("")
	require.NoError(t, err)
	_, err = empty.Seal("x", "")
	require.ErrorIs(t, err, secretbox.ErrNoKey)
}
