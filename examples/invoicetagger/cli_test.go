package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/appbackendtest"
)

// TestProgramServesTheTaggerWhenStartedBare: the binary without arguments is `serve`
// with the tagger registered on its embedded migrations: its own route answers from
// its own table.
func TestProgramServesTheTaggerWhenStartedBare(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STRIPE_APP_SECRETS":     appbackendtest.AppSecret,
		"STRIPE_TEST_SECRET_KEY": "sk_test_tagger",
		"APPBACKEND_DATABASE":    "sqlite:" + filepath.Join(t.TempDir(), "tagger.db"),
		"APPBACKEND_ADDR":        "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := &appbackendtest.SyncBuffer{}, &appbackendtest.SyncBuffer{}
	done := make(chan int, 1)
	go func() { done <- program.Run(ctx, nil, func(k string) string { return env[k] }, stdout, stderr) }()
	listening := regexp.MustCompile(`appbackend listening on (http://\S+)`)
	var url string
	deadline := time.After(appbackendtest.WaitTimeout)
	for url == "" {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case code := <-done:
			require.FailNow(t, "the program exited before listening", "exit %d: %s", code, stderr)
		case <-deadline:
			require.FailNow(t, "the program did not listen in time", stderr.String())
		case <-time.After(5 * time.Millisecond): // polls stdout, which has no notification
		}
	}

	header, _, err := appauth.Sign([]string{appbackendtest.AppSecret}, time.Now(), "usr_1", "acct_1Bare", nil)
	require.NoError(t, err)
	query, err := appauth.QueryFor("usr_1", "acct_1Bare", nil)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/invoices/in_1/tags?"+query.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", header)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		InvoiceID string            `json:"invoice_id"`
		Tags      []json.RawMessage `json:"tags"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, http.StatusOK, resp.StatusCode, stderr.String())
	require.Equal(t, "in_1", body.InvoiceID)
	require.Empty(t, body.Tags)

	cancel()
	require.Equal(t, 0, <-done, stderr.String())
}

// TestProgramRefusesABadConfiguration: an invalid setting of the tagger's own is a
// configuration error, as an invalid appbackend setting is: exit 2, its name on the
// last line of stderr.
func TestProgramRefusesABadConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, key, value, want string
	}{
		{"summary spec", "INVOICETAGGER_SUMMARY_SPEC", "every night", `schedule "invoicetagger.summary": invalid schedule spec "every night"`},
		{"default tag", "INVOICETAGGER_DEFAULT_TAG", "not a tag", "appbackend serve: invalid configuration: INVOICETAGGER_DEFAULT_TAG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"STRIPE_APP_SECRETS":  appbackendtest.AppSecret,
				"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(t.TempDir(), "tagger.db"),
				tc.key:                tc.value,
			}
			ctx, cancel := context.WithTimeout(t.Context(), appbackendtest.WaitTimeout)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := program.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &stdout, &stderr)
			require.Equal(t, 2, code, stderr.String())
			// serve logs as it starts; the failure is its last line.
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			require.Contains(t, lines[len(lines)-1], tc.want)
			require.True(t, strings.HasPrefix(lines[len(lines)-1], "appbackend serve: "), stderr.String())
		})
	}
}
