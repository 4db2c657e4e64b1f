package oauth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/doctor"
	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/secretbox"
)

// TestDoctorChecksTheEncryptionKey: `appbackend doctor` opens every stored token with
// APPBACKEND_ENCRYPTION_KEY and says so when it cannot (another key, none, the old
// key dropped before the rotation), on both databases; the right key, alone or after
// a new one, is no finding.
func TestDoctorChecksTheEncryptionKey(t *testing.T) {
	t.Parallel()
	for _, database := range databases(t) {
		t.Run(database, func(t *testing.T) {
			t.Parallel()
			b := setup(t, database, 1)
			b.install(t, "acct_keyed1")
			b.install(t, "acct_keyed2")
			findings := func(keys string) []doctor.Finding {
				t.Helper()
				ring, err := secretbox.Parse(keys)
				require.NoError(t, err)
				m := oauth.New(oauth.Config{DB: b.stores[0].DB(), Postgres: database == "postgres", Keys: ring})
				var out []doctor.Finding
				for _, f := range doctor.Run(t.Context(), doctor.Input{Config: doctor.Config{AppSecrets: []string{"absec_x"}}, OAuthKeys: m.CheckKeys}) {
					if f.Check == doctor.CheckEncryptionKey {
						out = append(out, f)
					}
				}
				return out
			}
			require.Empty(t, findings(b.key))
			require.Empty(t, findings(secretbox.NewKey()+","+b.key), "a new key first, the sealing one after it")

			wrong := findings(secretbox.NewKey())
			require.Len(t, wrong, 1)
			require.Equal(t, doctor.Error, wrong[0].Severity)
			require.Contains(t, wrong[0].Message, "2 of 2")
			require.Contains(t, wrong[0].Message, "acct_keyed1 (test), acct_keyed2 (test)")
			require.Contains(t, wrong[0].Message, "does not hold the key they were sealed with")
			require.NotContains(t, wrong[0].Message, b.key)

			unset := findings("")
			require.Len(t, unset, 1)
			require.True(t, strings.Contains(unset[0].Message, "APPBACKEND_ENCRYPTION_KEY is not set"), unset[0].Message)
		})
	}
}
