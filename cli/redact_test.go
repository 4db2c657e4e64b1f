package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
)

// TestDatabasePasswordIsNeverPrinted runs every command that opens the database
// against an unreachable PostgreSQL server whose password is given in each of the
// forms it can take, and looks for the password in everything the command printed.
func TestDatabasePasswordIsNeverPrinted(t *testing.T) {
	const pgpassword = "pgpassword_env_5e7a"
	t.Setenv("PGPASSWORD", pgpassword)
	const secret = "db_pw_91c3"
	urls := map[string]string{
		"user info":     "postgres://alice:" + secret + "@127.0.0.1:1/app?connect_timeout=2",
		"query":         "postgres://alice@127.0.0.1:1/app?connect_timeout=2&password=" + secret,
		"ssl password":  "postgresql://alice@127.0.0.1:1/app?connect_timeout=2&sslpassword=" + secret,
		"in a dbname":   "postgres://alice@127.0.0.1:1/app?connect_timeout=2&dbname=x%20password%3D" + secret,
		"pgpassword":    "postgres://alice@127.0.0.1:1/app?connect_timeout=2",
		"malformed url": "postgres://alice:" + secret + "%zz@127.0.0.1:1/app",
	}
	commands := [][]string{
		{"serve", "--addr", "127.0.0.1:0"},
		{"doctor"},
		{"doctor", "--json"},
		{"events"},
		{"events", "replay", "evt_1"},
		{"installations", "--json"},
		{"migrate"},
		{"schedules"},
		{"jobs"},
	}
	for name, url := range urls {
		for _, args := range commands {
			t.Run(name+"/"+strings.Join(args, " "), func(t *testing.T) {
				env := map[string]string{"APPBACKEND_DATABASE": url, "STRIPE_APP_SECRETS": "absec_redact_test"}
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				var stdout, stderr bytes.Buffer
				code := run(ctx, args, envFunc(env), &stdout, &stderr)
				require.NotEqual(t, 0, code, "exit 0 against an unreachable database; stdout:\n%s", stdout.String())
				for _, out := range []string{stdout.String(), stderr.String()} {
					for _, s := range []string{secret, pgpassword} {
						require.NotContains(t, out, s, "output shows the password %q:\n%s", s, out)
					}
				}
			})
		}
	}
}

// TestListingsNeutraliseEscapeSequences: a database file is input like any other; an
// escape sequence stored in an event must reach the terminal as '?', not as a command.
func TestListingsNeutraliseEscapeSequences(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := "sqlite:" + filepath.Join(t.TempDir(), "hostile.db")
	st, err := setup.OpenStore(ctx, db, setup.StoreOptions{})
	require.NoError(t, err)
	tx, err := st.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = st.InsertEventTx(ctx, tx, &store.Event{
		ID: "evt_\x1b]0;owned\x07", Type: "invoice.paid\x1b[2J\x1b[H", AccountID: "acct_\u009b31m",
		Created: time.Now(), Raw: []byte(`{}`), Status: store.EventPending, ReceivedAt: time.Now(),
	})
	require.NoError(t, err)
	require.NoError(t, st.PutInstallationTx(ctx, tx, store.Installation{AccountID: "acct_\x1b[31mred", Status: store.Installed}))
	require.NoError(t, tx.Commit())
	require.NoError(t, st.Close())

	for _, cmd := range []string{"events", "installations"} {
		code, out, errOut := runCmd(t, map[string]string{"APPBACKEND_DATABASE": db}, cmd)
		require.Equal(t, 0, code, errOut)
		require.NotContains(t, out, "\x1b", cmd)
		require.NotContains(t, out, "\x07", cmd)
		require.NotContains(t, out, "\u009b", cmd)
		require.Contains(t, out, "?[", cmd, "the rest of the value is shown")
	}
}
