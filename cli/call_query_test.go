package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appauth"
)

// TestCallSignsLivemodeInTheQuery: `call GET … --payload '{"livemode":false}'` sends the
// mode as the signed ?livemode= a server accepts for a request without a body, as the UI
// client's get does; any other payload on a GET is a usage error naming the fix.
func TestCallSignsLivemodeInTheQuery(t *testing.T) {
	t.Parallel()
	v, err := appauth.NewVerifier([]string{"absec_call_query"})
	require.NoError(t, err)
	srv := httptest.NewServer(v.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := appauth.FromContext(r.Context())
		json.NewEncoder(w).Encode(map[string]any{
			"signed_as": id.SignedAs.String(), "payload": id.Payload, "query": r.URL.RawQuery,
		})
	})))
	t.Cleanup(srv.Close)

	for _, method := range []string{"GET", "DELETE"} {
		for _, live := range []string{"false", "true"} {
			code, out, errOut := runCmd(t, nil, "call", method, srv.URL+"/api/policy?x=1", "--secret", "absec_call_query",
				"--user", "usr_1", "--account", "acct_1", "--payload", `{"livemode":`+live+`}`)
			require.Equal(t, 0, code, "%s livemode=%s: %s%s", method, live, out, errOut)
			var got struct {
				SignedAs string          `json:"signed_as"`
				Payload  json.RawMessage `json:"payload"`
				Query    string          `json:"query"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			require.Equal(t, appauth.SignedQuery.String(), got.SignedAs, "the signature covers the query's livemode")
			require.JSONEq(t, `{"livemode":`+live+`}`, string(got.Payload))
			require.Contains(t, got.Query, "livemode="+live)
			require.Contains(t, got.Query, "x=1", "the URL's own query is kept")
		}
	}

	// Without --payload a GET still signs the ids alone.
	code, out, errOut := runCmd(t, nil, "call", "GET", srv.URL+"/api/policy", "--secret", "absec_call_query",
		"--user", "usr_1", "--account", "acct_1")
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, out, "livemode")

	// Anything else cannot be proven without a body.
	code, _, errOut = runCmd(t, nil, "call", "GET", srv.URL+"/api/policy", "--secret", "absec_call_query",
		"--user", "usr_1", "--account", "acct_1", "--payload", `{"amount":1}`)
	require.Equal(t, 2, code, errOut)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	require.Contains(t, errOut, "send other data with POST")
}
