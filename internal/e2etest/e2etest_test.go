package e2etest

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDatabasesFrom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, setting string
		want          []Database
		wantErr       bool
	}{
		{name: "unset runs both", setting: "", want: []Database{SQLite, PostgreSQL}},
		{name: "sqlite alone", setting: "sqlite", want: []Database{SQLite}},
		{name: "postgres alone", setting: "postgres", want: []Database{PostgreSQL}},
		{name: "blanks around", setting: " postgres\n", want: []Database{PostgreSQL}},
		{name: "unknown kind", setting: "mysql", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := databasesFrom(tc.setting)
			require.True(t, (err != nil) == tc.wantErr, "databasesFrom(%q) error = %v, want error %v", tc.setting, err, tc.wantErr)
			require.True(t, slices.Equal(got, tc.want), "databasesFrom(%q) = %v, want %v", tc.setting, got, tc.want)
		})
	}
}

// A server must not pick up the machine's appbackend, Stripe or test-server settings:
// a developer's STRIPE_SECRET_KEY or APPBACKEND_DATABASE would change what is tested.
func TestHermeticEnv(t *testing.T) {
	t.Parallel()
	environ := []string{
		"PATH=/usr/bin", "HOME=/home/dev",
		"APPBACKEND_DATABASE=postgres://prod/db", "STRIPE_SECRET_KEY=sk_live_x", "E2E_FAIL_TYPE=*",
		"APPBACKEND_ADDR=0.0.0.0:80",
	}
	got := hermeticEnv(environ, map[string]string{"APPBACKEND_ADDR": "127.0.0.1:0"})
	slices.Sort(got)
	want := []string{"APPBACKEND_ADDR=127.0.0.1:0", "HOME=/home/dev", "PATH=/usr/bin"}
	require.True(t, slices.Equal(got, want), "hermeticEnv = %q, want %q", got, want)
}
