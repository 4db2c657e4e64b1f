package webhook_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// TestNULInEnvelopeRejectedAlone: PostgreSQL's TEXT and JSONB cannot hold a NUL, so an
// event with \u0000 in a stored envelope member used to fail the whole group commit
// it joined (503 for the honest events beside it). It is answered 400 alone, and the
// same on SQLite; a NUL in data.object (a merchant's metadata) is stored as received.
func TestNULInEnvelopeRejectedAlone(t *testing.T) {
	t.Parallel()
	for name, open := range databases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := newInbox(t, open(t), webhookConfig())
			bad := map[string][]byte{
				"id":          []byte(strings.Replace(string(webhooktest.Event("customer.created")), `"id":"evt_`, `"id":"evt_\u0000`, 1)),
				"type":        []byte(strings.Replace(string(webhooktest.Event("customer.created")), `"customer.created"`, `"customer.\u0000created"`, 1)),
				"account":     webhooktest.Event("customer.created", webhooktest.Account("acct_\x00nul")),
				"api_version": webhooktest.Event("customer.created", webhooktest.APIVersion("2024-06-20\x00")),
			}
			metadataNUL := webhooktest.Event("customer.updated", webhooktest.Account("acct_honest"),
				webhooktest.Fields(map[string]any{"metadata": map[string]any{"note": "a\x00b"}}))
			require.True(t, bytes.Contains(metadataNUL, []byte(`\u0000`)), "fixture has no \\u0000: %s", metadataNUL)
			var honest [][]byte
			for range 22 {
				honest = append(honest, webhooktest.Event("invoice.paid", webhooktest.Account("acct_honest")))
			}
			honest = append(honest, metadataNUL)

			// All at once, so that on the old code they shared group commits.
			var wg sync.WaitGroup
			var mu sync.Mutex
			got := map[string]response{}
			for member, body := range bad {
				wg.Go(func() {
					r := in.b.post(t, body)
					mu.Lock()
					got["bad "+member] = r
					mu.Unlock()
				})
			}
			for i, body := range honest {
				wg.Go(func() {
					r := in.b.post(t, body)
					mu.Lock()
					got[string(rune('A'+i))] = r
					mu.Unlock()
				})
			}
			wg.Wait()
			for key, r := range got {
				if strings.HasPrefix(key, "bad ") {
					require.False(t, r.status != http.StatusBadRequest || r.errorCode() != "bad_request" || !strings.Contains(r.raw, "NUL"), "%s: %d %s, want 400 bad_request saying NUL", key, r.status, r.raw)
					continue
				}
				require.Equal(t, http.StatusOK, r.status, "honest event %s: %d %s, want 200", key, r.status, r.raw)
			}
			n := len(listEvents(t, in.st))
			require.Equal(t, len(honest), n, "stored %d events, want the %d honest ones", n, len(honest))
			ev, err := in.st.Event(t.Context(), eventID(t, metadataNUL))
			require.NoError(t, err)
			require.Equal(t, metadataNUL, ev.Raw, "stored payload differs from the body:\n got %q\nwant %q", ev.Raw, metadataNUL)
		})
	}
}
