package cli

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The first start on a new database prints what a person needs and nothing else at
// the default level: the address, the dev secrets, the dashboard, and commands that
// work as printed; migrations and River report at debug, and one line says the
// database is ready.
func TestFirstDevStartIsQuiet(t *testing.T) {
	t.Parallel()
	db := "sqlite:" + filepath.Join(t.TempDir(), "quiet.db")
	env := map[string]string{"APPBACKEND_DATABASE": db}
	s := startServe(t, env, "--dev")
	// The banner follows the listening line; it ends with the test event's command.
	require.Eventually(t, func() bool { return strings.Contains(s.stdout.String(), " trigger ") }, 10*time.Second, 5*time.Millisecond, s.stdout.String())

	addr := regexp.QuoteMeta(strings.TrimPrefix(s.url, "http://"))
	hex := `[0-9a-f]{48}`
	want := []string{
		`appbackend listening on http://` + addr,
		`development mode: secrets are kept in the database; do not use --dev in production`,
		`  STRIPE_APP_SECRETS=(absec_dev_` + hex + `)`,
		`  STRIPE_WEBHOOK_SECRETS=(whsec_dev_` + hex + `)`,
		`  APPBACKEND_ADMIN_TOKEN=(` + hex + `)`,
		`dashboard: (http://` + addr + `/admin/) \(sign in with the APPBACKEND_ADMIN_TOKEN\)`,
		`call a signed route:`,
		`  go run github.com/appbackend/appbackend/cmd/appbackend (call POST http://` + addr + `/api/whoami --secret absec_dev_` + hex + ` --user usr_dev --account acct_dev)`,
		`send a test event:`,
		`  go run github.com/appbackend/appbackend/cmd/appbackend (trigger customer.created --account acct_dev --test --url http://` + addr + `/webhooks/stripe --secret whsec_dev_` + hex + `)`,
	}
	got := matchLines(t, "stdout", s.stdout.String(), want)
	// The server is up and has logged one line (River's producer adds its job counts
	// every 5 s; it reports through the same quieted logger as "River client started",
	// which the debug start below finds).
	matchLines(t, "stderr", s.stderr.String(), []string{
		`time=\S+ level=INFO msg="database ready" database=` + regexp.QuoteMeta(db) + ` migrations_applied=([1-9][0-9]*)`,
	})
	appSecret, webhookSecret, dashboard, callArgs, triggerArgs := got[2][1], got[3][1], got[5][1], got[7][1], got[9][1]
	require.Contains(t, callArgs, appSecret)
	require.Contains(t, triggerArgs, webhookSecret)

	// The test binary is not the CLI, so the banner names the CLI's package (see
	// cliCommandFor in internal/devmode for the go run and executable forms); what follows works.
	code, out, errOut := runCmd(t, nil, strings.Fields(callArgs)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `"user_id":"usr_dev"`)
	code, out, errOut = runCmd(t, nil, strings.Fields(triggerArgs)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "customer.created")
	require.Contains(t, out, "200 OK")
	resp, err := http.Get(dashboard)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, string(page), `name="token"`, "the dashboard asks for the admin token")
	req, err := http.NewRequest(http.MethodGet, dashboard, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+got[4][1])
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the printed admin token signs in")

	require.Equal(t, 0, s.stop(), s.stderr.String())

	// A restart applies nothing and says so; at debug, what was quiet is there.
	s2 := startServe(t, env, "--dev", "--log-level", "debug")
	require.Equal(t, 0, s2.stop(), s2.stderr.String())
	logs := s2.stderr.String()
	require.Contains(t, logs, `msg="database ready" database=`+db+` migrations_applied=0`)
	require.Contains(t, logs, `level=DEBUG msg="River client started"`)
	require.Contains(t, logs, `level=DEBUG msg=listening`)
}

// matchLines requires text to be exactly the lines of want (regular expressions, each
// matching a whole line) and returns their submatches.
func matchLines(t *testing.T, name, text string, want []string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	require.Len(t, lines, len(want), "%s:\n%s", name, text)
	var got [][]string
	for i, w := range want {
		m := regexp.MustCompile(`^` + w + `$`).FindStringSubmatch(lines[i])
		require.NotNil(t, m, "%s line %d:\n%s\nwant %s", name, i+1, lines[i], w)
		got = append(got, m)
	}
	return got
}
