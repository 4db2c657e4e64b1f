package setup

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedactDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, setting, secret string
	}{
		{"user info", "postgres://alice:pw_userinfo_1@db.example:5432/app", "pw_userinfo_1"},
		{"escaped user info", "postgres://alice:pw%40escaped%2F2@db.example/app", "pw@escaped/2"},
		{"query", "postgres://alice@db.example/app?sslmode=require&password=pw_query_3", "pw_query_3"},
		{"ssl key password", "postgresql://db.example/app?sslpassword=pw_sslkey_4", "pw_sslkey_4"},
		{"key=value", "host=db.example user=alice password=pw_kv_5 dbname=app", "pw_kv_5"},
		{"quoted key=value", "host=db.example password='pw kv 6' dbname=app", "pw kv 6"},
		{"malformed URL", "postgres://alice:pw%zz_7@db.example/app", "pw%zz_7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactDatabase(tt.setting)
			require.NotContains(t, got, tt.secret)
			require.NotContains(t, got, strings.Fields(tt.secret)[0])
			require.Contains(t, got, "REDACTED")
			require.Contains(t, got, "db.example", "the host stays, for the operator")

			err := RedactDatabaseError(fmt.Errorf("connect %s (password %s): %w", tt.setting, tt.secret, context.DeadlineExceeded), tt.setting)
			require.NotContains(t, err.Error(), strings.Fields(tt.secret)[0])
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
	require.Equal(t, "sqlite:/var/lib/app.db", RedactDatabase("sqlite:/var/lib/app.db"))
}
