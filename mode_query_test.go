package appbackend_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/appbackendtest"
)

// signedGet sends a GET of path signed over payload the way the UI client does: the
// signature from fetchStripeSignature(payload), the ids and any livemode in the query.
func signedGet(t *testing.T, app *appbackendtest.App, path string, payload string, query url.Values) *http.Response {
	t.Helper()
	var p []byte
	if payload != "" {
		p = []byte(payload)
	}
	header, _, err := appauth.Sign([]string{appbackendtest.AppSecret}, time.Now(), "usr_policy", "acct_both", p)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodGet, app.URL+path+"?"+query.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set(appauth.SignatureHeader, header)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func errorOf(t *testing.T, res *http.Response) (code, message string) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, jsonDecode(res, &body))
	return body.Error.Code, body.Error.Message
}

// TestSignedGetNamesItsMode (issue 26.2): with both keys configured and the app installed
// in both modes, a GET says its mode with a signed ?livemode=; before, the query's
// livemode was not part of any signed string, so such a GET failed verification and a
// default-signed one answered mode_required with advice a GET cannot follow.
func TestSignedGetNamesItsMode(t *testing.T) {
	t.Parallel()
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.HandleFunc("GET /api/policy", func(w http.ResponseWriter, r *http.Request) {
			_, live, err := app.Account(r.Context())
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			appbackend.WriteJSON(w, http.StatusOK, map[string]bool{"livemode": live})
		})
		app.HandleFunc("POST /api/policy", func(w http.ResponseWriter, r *http.Request) {
			_, _, err := app.Account(r.Context())
			app.WriteError(w, r, err)
		})
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) { cfg.SecretKey = "sk_live_policy" }))
	app.Install(t, "acct_both", true)
	app.Install(t, "acct_both", false)
	ids := url.Values{"user_id": {"usr_policy"}, "account_id": {"acct_both"}}
	with := func(live string) url.Values {
		q := url.Values{"livemode": {live}}
		for k, v := range ids {
			q[k] = v
		}
		return q
	}

	for _, live := range []bool{false, true} {
		payload := `{"livemode":false}`
		if live {
			payload = `{"livemode":true}`
		}
		q, err := appauth.QueryFor("usr_policy", "acct_both", []byte(payload))
		require.NoError(t, err)
		res := signedGet(t, app, "/api/policy", payload, q)
		require.Equal(t, http.StatusOK, res.StatusCode)
		var got struct{ Livemode bool }
		require.NoError(t, jsonDecode(res, &got))
		require.Equal(t, live, got.Livemode)
	}

	// The test kit signs a GET's mode the same way.
	kit := app.As("usr_policy", "acct_both").WithLivemode(true).Get(t, "/api/policy")
	require.Equal(t, http.StatusOK, kit.Status, kit)
	require.JSONEq(t, `{"livemode":true}`, string(kit.Body))

	// No livemode: the error says how a GET names its mode.
	res := signedGet(t, app, "/api/policy", "", ids)
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	code, msg := errorOf(t, res)
	require.Equal(t, "mode_required", code)
	require.Contains(t, msg, "add livemode=true|false to the query, signed")
	require.Contains(t, msg, "get and del")

	// A livemode the signature does not cover is refused, not trusted nor ignored.
	res = signedGet(t, app, "/api/policy", "", with("true"))
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	code, msg = errorOf(t, res)
	require.Equal(t, "signature_invalid", code)
	require.Contains(t, msg, "fetchStripeSignature({livemode})")

	// A request with a body is told to sign livemode in its payload.
	post := app.As("usr_policy", "acct_both").Post(t, "/api/policy", nil)
	require.Equal(t, http.StatusBadRequest, post.Status, post)
	require.Equal(t, "mode_required", post.ErrorCode())
	require.Contains(t, string(post.Body), "sign a boolean livemode in the payload")
}

func jsonDecode(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }
