package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appbackendtest"
)

func TestDoctor(t *testing.T) {
	t.Parallel()
	fake := appbackendtest.NewStripeFake(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "doctor.db")
	good := map[string]string{
		"APPBACKEND_DATABASE":    db,
		"STRIPE_APP_SECRETS":     "absec_doctor",
		"STRIPE_WEBHOOK_SECRETS": "whsec_doctor",
		"STRIPE_TEST_SECRET_KEY": "sk_test_doctor",
		"STRIPE_API_BASE":        fake.URL,
	}
	// The database does not exist yet: doctor says so and changes nothing.
	code, out, _ := runCmd(t, good, "doctor")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "no database at")
	code, _, errOut := runCmd(t, good, "migrate")
	require.Equal(t, 0, code, errOut)

	code, out, errOut = runCmd(t, good, "doctor")
	require.Equal(t, 0, code, out+errOut)
	require.Equal(t, "ok: no problems found\n", out)

	tests := []struct {
		name   string
		change map[string]string
		want   string
	}{
		{"live key as the test key", map[string]string{"STRIPE_TEST_SECRET_KEY": "sk_live_doctor"}, "STRIPE_TEST_SECRET_KEY"},
		{"no webhook secret", map[string]string{"STRIPE_WEBHOOK_SECRETS": ""}, "STRIPE_WEBHOOK_SECRETS"},
		{"unreachable Stripe API", map[string]string{"STRIPE_API_BASE": "http://127.0.0.1:1"}, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range good {
				env[k] = v
			}
			for k, v := range tt.change {
				env[k] = v
			}
			code, out, errOut := runCmd(t, env, "doctor")
			require.NotEqual(t, 0, code+strings.Count(out, "warning"), out)
			require.Contains(t, out, tt.want, out+errOut)
			require.NotContains(t, out, "sk_live_doctor", "keys are never printed")
		})
	}
}
