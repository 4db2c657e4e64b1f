package appbackend_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/secretbox"
)

type installBundle struct {
	app      *appbackendtest.App
	installs atomic.Int32
}

func setupInstall(t *testing.T, opts ...func(*appbackend.Config)) *installBundle {
	t.Helper()
	b := &installBundle{}
	key := secretbox.NewKey()
	b.app = appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnInstall(func(ctx context.Context, in appbackend.Installation) error {
			b.installs.Add(1)
			return nil
		})
		app.HandleFunc("POST /api/balance", func(w http.ResponseWriter, r *http.Request) {
			sc, err := app.Stripe(r.Context())
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			bal, err := sc.V1Balance.Retrieve(r.Context(), &stripe.BalanceRetrieveParams{})
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			appbackend.WriteJSON(w, http.StatusOK, map[string]any{"livemode": bal.Livemode})
		})
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.AppID = "ca_appbackendtest"
		cfg.PublicURL = "https://backend.example.com"
		cfg.InstallReturnURL = "https://app.example.com/welcome?from=stripe"
		cfg.EncryptionKeys = []string{key}
		for _, o := range opts {
			o(cfg)
		}
	}))
	return b
}

func TestInstallLinkRedirects(t *testing.T) {
	t.Parallel()
	b := setupInstall(t)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
		Get(b.app.URL + "/install?mode=test&plan=pro")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "marketplace.stripe.com", loc.Host)
	require.Equal(t, "ca_appbackendtest", loc.Query().Get("client_id"))
	require.Equal(t, "https://backend.example.com/install/callback", loc.Query().Get("redirect_uri"))
	require.GreaterOrEqual(t, len(loc.Query().Get("state")), 32)
	cookie := resp.Header.Get("Set-Cookie")
	require.Contains(t, cookie, "HttpOnly")
	require.Contains(t, cookie, "Secure")
	require.Contains(t, cookie, "SameSite=Lax")

	state, c := b.app.BeginInstall(t, url.Values{"mode": {"test"}, "plan": {"pro"}})
	done := b.app.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_linked1"})
	require.Equal(t, http.StatusFound, done.Status, done)
	back, err := url.Parse(done.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "app.example.com", back.Host)
	require.Equal(t, "acct_linked1", back.Query().Get("account_id"))
	require.Equal(t, "pro", back.Query().Get("plan"), "the caller's data comes back")
	require.Equal(t, "stripe", back.Query().Get("from"))
	require.Equal(t, "false", back.Query().Get("livemode"))

	in, ok := b.app.Installation(t, "acct_linked1", false)
	require.True(t, ok)
	require.EqualValues(t, "installed", in.Status)
	require.EqualValues(t, 1, b.installs.Load(), "OnInstall ran once")

	// Stripe's own event for the same install changes nothing and runs no hook again.
	b.app.Install(t, "acct_linked1", false)
	require.EqualValues(t, 1, b.installs.Load())
}

func TestInstallCallbackRefusals(t *testing.T) {
	t.Parallel()
	b := setupInstall(t)
	a := b.app
	refused := func(t *testing.T, resp *appbackendtest.Response, status int, account string) {
		t.Helper()
		require.Equal(t, status, resp.Status, resp)
		require.NotEmpty(t, resp.ErrorCode(), resp)
		_, ok := a.Installation(t, account, false)
		require.False(t, ok, "nothing recorded for %s", account)
	}

	t.Run("replayed state", func(t *testing.T) {
		state, c := a.BeginInstall(t, url.Values{"mode": {"test"}})
		ok := a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_replay1"})
		require.Equal(t, http.StatusFound, ok.Status, ok)
		refused(t, a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_replay2"}), http.StatusBadRequest, "acct_replay2")
	})
	t.Run("another browser", func(t *testing.T) {
		state, _ := a.BeginInstall(t, url.Values{"mode": {"test"}})
		_, other := a.BeginInstall(t, url.Values{"mode": {"test"}})
		refused(t, a.CompleteInstall(t, state, nil, appbackendtest.InstallRedirect{Account: "acct_nocookie"}), http.StatusBadRequest, "acct_nocookie")
		refused(t, a.CompleteInstall(t, state, other, appbackendtest.InstallRedirect{Account: "acct_othercookie"}), http.StatusBadRequest, "acct_othercookie")
	})
	t.Run("forged signature", func(t *testing.T) {
		state, c := a.BeginInstall(t, url.Values{"mode": {"test"}})
		refused(t, a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_forged", Secret: "absec_not_the_apps"}), http.StatusUnauthorized, "acct_forged")
		// Signed for another account.
		sig := appbackendtest.InstallSignature(appbackendtest.AppSecret, time.Now(), "usr_test", "acct_someone_else")
		refused(t, a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_forged", Signature: sig}), http.StatusUnauthorized, "acct_forged")
		refused(t, a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_forged", Signature: "garbage"}), http.StatusUnauthorized, "acct_forged")
		// The state was not used up by the failures: the genuine redirect still works.
		ok := a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_forged"})
		require.Equal(t, http.StatusFound, ok.Status, ok)
	})
	t.Run("expired signature", func(t *testing.T) {
		state, c := a.BeginInstall(t, url.Values{"mode": {"test"}})
		refused(t, a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_old", SignedAt: time.Now().Add(-time.Hour)}), http.StatusUnauthorized, "acct_old")
		refused(t, a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_future", SignedAt: time.Now().Add(time.Hour)}), http.StatusUnauthorized, "acct_future")
	})
	t.Run("bad input", func(t *testing.T) {
		state, c := a.BeginInstall(t, url.Values{"mode": {"test"}})
		refused(t, a.CompleteInstall(t, "unknown-state-0123456789abcdef", c, appbackendtest.InstallRedirect{Account: "acct_unknown"}), http.StatusBadRequest, "acct_unknown")
		refused(t, a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "not_an_account"}), http.StatusBadRequest, "not_an_account")
		resp, err := http.Get(a.URL + "/install/callback")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		resp, err = http.Get(a.URL + "/install?mode=sideways")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	t.Run("code exchanged twice", func(t *testing.T) {
		state, c := a.BeginInstall(t, url.Values{"mode": {"test"}})
		code := a.Fake.IssueOAuthCode("acct_code1", false)
		ok := a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_code1", OAuth: true, Code: code})
		require.Equal(t, http.StatusFound, ok.Status, ok)
		state2, c2 := a.BeginInstall(t, url.Values{"mode": {"test"}})
		refused(t, a.CompleteInstall(t, state2, c2, appbackendtest.InstallRedirect{Account: "acct_code2", OAuth: true, Code: code}), http.StatusBadRequest, "acct_code2")
		require.Equal(t, 1, a.Fake.OAuthStats().ReusedCodes)
	})
}

func TestInstallStateExpires(t *testing.T) {
	t.Parallel()
	b := setupInstall(t, func(cfg *appbackend.Config) { cfg.InstallStateTTL = time.Nanosecond })
	state, c := b.app.BeginInstall(t, url.Values{"mode": {"test"}})
	resp := b.app.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_late"})
	require.Equal(t, http.StatusBadRequest, resp.Status, resp)
	require.Contains(t, resp.String(), "expired")
	_, ok := b.app.Installation(t, "acct_late", false)
	require.False(t, ok)
}

// TestOAuthInstallCallsWithAccessToken: after an OAuth install, app.Stripe(ctx) calls
// with the account's access token and no Stripe-Account; the uninstall event deletes
// the tokens, and calls go back to the platform key.
func TestOAuthInstallCallsWithAccessToken(t *testing.T) {
	t.Parallel()
	b := setupInstall(t, func(cfg *appbackend.Config) { cfg.InstallReturnURL = "" })
	a := b.app
	page := a.InstallLink(t, "acct_oauth1", true)
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, string(page.Body), "Installed")
	require.Equal(t, 1, a.Fake.OAuthStats().Exchanges)

	res := a.As("usr_1", "acct_oauth1").Post(t, "/api/balance", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	last := lastRequest(t, a.Fake, "/v1/balance")
	require.True(t, strings.HasPrefix(last.Authorization, "Bearer oat_test_"), last.Authorization)
	require.Empty(t, last.Account, "no Stripe-Account with an OAuth token")

	a.Uninstall(t, "acct_oauth1", false)
	a.Install(t, "acct_oauth1", false)
	res = a.As("usr_1", "acct_oauth1").Post(t, "/api/balance", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	last = lastRequest(t, a.Fake, "/v1/balance")
	require.Equal(t, "Bearer "+appbackendtest.TestSecretKey, last.Authorization, "tokens are gone after the uninstall")
	require.Equal(t, "acct_oauth1", last.Account)
}

// TestOAuthReauthorizationRequired: a refused refresh marks the installation
// reauthorization_required and runs the hook; a new install link restores it.
func TestOAuthReauthorizationRequired(t *testing.T) {
	t.Parallel()
	var hooked atomic.Int32
	key := secretbox.NewKey()
	a := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnReauthorizationRequired(func(ctx context.Context, in appbackend.Installation) error {
			hooked.Add(1)
			return nil
		})
		app.HandleFunc("POST /api/balance", func(w http.ResponseWriter, r *http.Request) {
			sc, err := app.Stripe(r.Context())
			if err == nil {
				_, err = sc.V1Balance.Retrieve(r.Context(), &stripe.BalanceRetrieveParams{})
			}
			if err != nil {
				app.WriteError(w, r, err)
				return
			}
			appbackend.WriteJSON(w, http.StatusOK, map[string]any{})
		})
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.AppID, cfg.PublicURL, cfg.EncryptionKeys = "ca_x", "http://127.0.0.1", []string{key}
	}))
	a.Fake.SetOAuthTokenLifetime(time.Second) // expires within the refresh margin at once
	a.InstallLink(t, "acct_revoked", true)
	a.Fake.RevokeOAuth("acct_revoked")

	res := a.As("usr_1", "acct_revoked").Post(t, "/api/balance", nil)
	require.Equal(t, http.StatusForbidden, res.Status, res)
	require.Contains(t, res.String(), "reauthorization_required")
	in, ok := a.Installation(t, "acct_revoked", false)
	require.True(t, ok)
	require.EqualValues(t, "reauthorization_required", in.Status)
	require.EqualValues(t, 1, hooked.Load())

	a.Fake.SetOAuthTokenLifetime(time.Hour)
	a.InstallLink(t, "acct_revoked", true)
	in, _ = a.Installation(t, "acct_revoked", false)
	require.EqualValues(t, "installed", in.Status)
	res = a.As("usr_1", "acct_revoked").Post(t, "/api/balance", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
}

func lastRequest(t *testing.T, f *appbackendtest.StripeFake, path string) appbackendtest.StripeRequest {
	t.Helper()
	reqs := f.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Path == path {
			return reqs[i]
		}
	}
	require.Failf(t, "no request", "to %s", path)
	return appbackendtest.StripeRequest{}
}

// appbackendRows counts the rows of every appbackend_ table, whatever the schema
// version: what an anonymous request may have stored shows up here.
func appbackendRows(t *testing.T, a *appbackendtest.App) map[string]int {
	t.Helper()
	list := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'appbackend\_%' ESCAPE '\'`
	if a.Postgres() {
		list = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'appbackend\_%'`
	}
	rows, err := a.DB().Query(list)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	counts := map[string]int{}
	for _, name := range tables {
		var n int
		require.NoError(t, a.DB().QueryRow(`SELECT COUNT(*) FROM `+name).Scan(&n))
		counts[name] = n
	}
	return counts
}

// TestInstallStoresNothing: anonymous GET /install requests, each with the most
// return data, store no row at all (they once stored one each, kept a day: a flood
// filled the disk), and a state made among them still completes, its data intact.
func TestInstallStoresNothing(t *testing.T) {
	t.Parallel()
	b := setupInstall(t)
	a := b.app
	data := strings.Repeat("d", 2000)
	before := appbackendRows(t, a)
	var state string
	var cookie *http.Cookie
	for i := range 200 {
		s, c := a.BeginInstall(t, url.Values{"mode": {"test"}, "data": {data}})
		if i == 100 {
			state, cookie = s, c
		}
	}
	require.Equal(t, before, appbackendRows(t, a), "GET /install stored something")
	require.Less(t, len(state), 128, "the state stays short")
	require.Less(t, len(cookie.Name)+len(cookie.Value), 4000, "the cookie fits a browser's 4 KB")

	over := url.Values{"data": {strings.Repeat("d", 2100)}}
	resp, err := http.Get(a.URL + "/install?" + over.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "return data over the cap")

	done := a.CompleteInstall(t, state, cookie, appbackendtest.InstallRedirect{Account: "acct_flooded"})
	require.Equal(t, http.StatusFound, done.Status, done)
	back, err := url.Parse(done.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, data, back.Query().Get("data"))
}

// TestInstallStateTampered: a state is only accepted as this app made it: a changed
// mode or expiry, a state another app (another secret) made, or a cookie changed to
// carry other return data are refused, and nothing is recorded.
func TestInstallStateTampered(t *testing.T) {
	t.Parallel()
	b := setupInstall(t)
	a := b.app
	other := setupInstall(t, func(cfg *appbackend.Config) { cfg.AppSecrets = []string{"absec_another_app"} })
	refused := func(t *testing.T, resp *appbackendtest.Response, account string) {
		t.Helper()
		require.Equal(t, http.StatusBadRequest, resp.Status, resp)
		_, ok := a.Installation(t, account, false)
		require.False(t, ok)
	}

	state, c := a.BeginInstall(t, url.Values{"mode": {"test"}, "plan": {"basic"}})
	raw, err := base64.RawURLEncoding.DecodeString(state)
	require.NoError(t, err)
	for i := range raw {
		flipped := bytes.Clone(raw)
		flipped[i] ^= 1
		refused(t, a.CompleteInstall(t, base64.RawURLEncoding.EncodeToString(flipped), c, appbackendtest.InstallRedirect{Account: "acct_flipped"}), "acct_flipped")
	}
	foreign, fc := other.app.BeginInstall(t, url.Values{"mode": {"test"}})
	refused(t, a.CompleteInstall(t, foreign, fc, appbackendtest.InstallRedirect{Account: "acct_foreign"}), "acct_foreign")

	cv, err := base64.RawURLEncoding.DecodeString(c.Value)
	require.NoError(t, err)
	forged := &http.Cookie{Name: c.Name, Value: base64.RawURLEncoding.EncodeToString(append(cv[:16:16], "plan=enterprise"...))}
	refused(t, a.CompleteInstall(t, state, forged, appbackendtest.InstallRedirect{Account: "acct_forgedcookie"}), "acct_forgedcookie")

	ok := a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_genuine"})
	require.Equal(t, http.StatusFound, ok.Status, ok)
}

// TestInstallSignatureBindsTheState: install_signature covers
// JSON.stringify({state, user_id, account_id}), so a genuine signature completes its own
// state only; the state-less form {user_id, account_id} is accepted only for a redirect
// without a state, once. Before, the state-less form was accepted beside any state, so
// one signature completed up to four fresh states.
func TestInstallSignatureBindsTheState(t *testing.T) {
	t.Parallel()
	b := setupInstall(t)
	a := b.app
	stateless := appbackendtest.InstallSignature(appbackendtest.AppSecret, time.Now(), "usr_test", "acct_recycled")
	for range 3 {
		state, c := a.BeginInstall(t, url.Values{"mode": {"test"}})
		resp := a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_recycled", Signature: stateless})
		require.Equal(t, http.StatusUnauthorized, resp.Status, resp)
		require.Equal(t, "signature_invalid", resp.ErrorCode())
	}
	stateA, _ := a.BeginInstall(t, url.Values{"mode": {"test"}})
	stateB, cB := a.BeginInstall(t, url.Values{"mode": {"test"}})
	forA := appbackendtest.InstallSignatureWithState(appbackendtest.AppSecret, time.Now(), stateA, "usr_test", "acct_recycled")
	resp := a.CompleteInstall(t, stateB, cB, appbackendtest.InstallRedirect{Account: "acct_recycled", Signature: forA})
	require.Equal(t, http.StatusUnauthorized, resp.Status, resp)
	require.Zero(t, appbackendRows(t, a)["appbackend_install_uses"], "the refused redirects stored nothing")
	_, ok := a.Installation(t, "acct_recycled", false)
	require.False(t, ok)

	// A redirect without a state (an install link that sent none): the state-less
	// signature, once.
	first := a.CompleteInstall(t, "", nil, appbackendtest.InstallRedirect{Account: "acct_recycled", Signature: stateless})
	require.Equal(t, http.StatusFound, first.Status, first)
	in, ok := a.Installation(t, "acct_recycled", false)
	require.True(t, ok, "livemode=false on the redirect: a test install")
	require.EqualValues(t, "installed", in.Status)
	replay := a.CompleteInstall(t, "", nil, appbackendtest.InstallRedirect{Account: "acct_recycled", Signature: stateless})
	require.Equal(t, http.StatusBadRequest, replay.Status, replay)
	require.Contains(t, replay.String(), "install_signature was already used")
	require.EqualValues(t, 1, b.installs.Load())
	require.Equal(t, 1, appbackendRows(t, a)["appbackend_install_uses"])

	_, err := a.DB().Exec(`INSERT INTO appbackend_install_uses (state_hash, signature_key, account_id, user_id, signed_as, used_at, expires_at)
		VALUES ('old', 'old', 'acct_old', 'usr_old', 'user_account', 1, 1)`)
	require.NoError(t, err)
	a.InstallLink(t, "acct_next", false)
	require.Equal(t, 2, appbackendRows(t, a)["appbackend_install_uses"], "the expired row was pruned")
}

// TestInstallStateAcrossSecretRotation: a state is checked with every app secret, so
// one made before a rotation (STRIPE_APP_SECRETS=NEW,OLD) still completes, and it
// needs nothing from the database that made it: any replica takes it.
func TestInstallStateAcrossSecretRotation(t *testing.T) {
	t.Parallel()
	before := setupInstall(t, func(cfg *appbackend.Config) { cfg.AppSecrets = []string{"absec_old"} })
	after := setupInstall(t, func(cfg *appbackend.Config) { cfg.AppSecrets = []string{"absec_new", "absec_old"} })
	state, c := before.app.BeginInstall(t, url.Values{"mode": {"test"}, "plan": {"pro"}})
	done := after.app.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_rotated", Secret: "absec_old"})
	require.Equal(t, http.StatusFound, done.Status, done)
	back, err := url.Parse(done.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "pro", back.Query().Get("plan"))
	_, ok := after.app.Installation(t, "acct_rotated", false)
	require.True(t, ok)
}

// nodeInstallSignature signs each content with stripe-node's
// webhooks.generateTestHeaderString (testdata/node/peer_sign.js), as Stripe signs
// install_signature.
func nodeInstallSignature(t *testing.T, secret string, at time.Time, contents ...string) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is not on PATH; this test signs with stripe-node (run make node-deps after installing Node.js)")
	modules := os.Getenv("APPBACKEND_NODE_MODULES")
	if modules == "" {
		modules = filepath.Join("testdata", "node", "node_modules")
	}
	modules, err = filepath.Abs(modules)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(modules, "stripe", "package.json"))
	require.NoError(t, err, "stripe-node is not installed in %s: run make node-deps", modules)
	var in bytes.Buffer
	for _, c := range contents {
		line, _ := json.Marshal(map[string]any{"payload": base64.StdEncoding.EncodeToString([]byte(c)), "secret": secret, "timestamp": at.Unix()})
		in.Write(append(line, '\n'))
	}
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("testdata", "node", "peer_sign.js"))
	cmd.Env = append(os.Environ(), "APPBACKEND_NODE_MODULES="+modules)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "node peer_sign.js\nstderr: %s", stderr.String())
	var headers []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		h, ok := strings.CutPrefix(line, "ok ")
		require.True(t, ok, "peer_sign.js: %s", line)
		headers = append(headers, h)
	}
	require.Len(t, headers, len(contents))
	return headers
}

// TestInstallSignatureFromStripeNode: install_signature made by stripe-node over exactly
// JSON.stringify({state, user_id, account_id}) (and, without a state,
// JSON.stringify({user_id, account_id})) completes the install; the same signature over
// any other content does not, and its timestamp is held to the tolerance both ways.
func TestInstallSignatureFromStripeNode(t *testing.T) {
	t.Parallel()
	b := setupInstall(t)
	a := b.app
	state, c := a.BeginInstall(t, url.Values{"mode": {"test"}})
	now := time.Now()
	withState := `{"state":"` + state + `","user_id":"usr_node1","account_id":"acct_node1"}`
	sigs := nodeInstallSignature(t, appbackendtest.AppSecret, now,
		withState,
		`{"user_id":"usr_node1","account_id":"acct_node1"}`,
		`{"user_id":"usr_node1","account_id":"acct_node1","state":"`+state+`"}`,
		`{"user_id":"usr_node2","account_id":"acct_node2"}`)
	old := nodeInstallSignature(t, appbackendtest.AppSecret, now.Add(-10*time.Minute), withState)[0]
	future := nodeInstallSignature(t, appbackendtest.AppSecret, now.Add(10*time.Minute), withState)[0]
	for name, sig := range map[string]string{"state-less content beside a state": sigs[1], "another key order": sigs[2], "too old": old, "too new": future} {
		resp := a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_node1", User: "usr_node1", Signature: sig})
		require.Equal(t, http.StatusUnauthorized, resp.Status, "%s: %s", name, resp)
	}
	_, ok := a.Installation(t, "acct_node1", false)
	require.False(t, ok, "nothing stored by the refusals")

	resp := a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_node1", User: "usr_node1", Signature: sigs[0]})
	require.Equal(t, http.StatusFound, resp.Status, resp)
	_, ok = a.Installation(t, "acct_node1", false)
	require.True(t, ok)
	// Replayed: the state is used up.
	resp = a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_node1", User: "usr_node1", Signature: sigs[0]})
	require.Equal(t, http.StatusBadRequest, resp.Status, resp)
	require.Contains(t, resp.String(), "already used")

	// No state sent: the state-less content.
	resp = a.CompleteInstall(t, "", nil, appbackendtest.InstallRedirect{Account: "acct_node2", User: "usr_node2", Signature: sigs[3]})
	require.Equal(t, http.StatusFound, resp.Status, resp)
	_, ok = a.Installation(t, "acct_node2", false)
	require.True(t, ok)
	require.EqualValues(t, 2, b.installs.Load())
}

// TestInstallCancelled: a merchant who cancels on Stripe's page comes back with
// error=access_denied and lands on a page that says so, not on a JSON error.
func TestInstallCancelled(t *testing.T) {
	t.Parallel()
	b := setupInstall(t)
	state, c := b.app.BeginInstall(t, url.Values{"mode": {"test"}})
	req, err := http.NewRequest(http.MethodGet, b.app.URL+"/install/callback?"+url.Values{
		"error": {"access_denied"}, "error_description": {"The user denied <your> request"}, "state": {state},
	}.Encode(), nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, string(body), "The install was cancelled")
	require.Contains(t, string(body), "The user denied &lt;your&gt; request", "Stripe's words, escaped")
	require.Contains(t, string(body), `href="https://backend.example.com/install"`)
	require.Zero(t, appbackendRows(t, b.app)["appbackend_install_uses"])
	require.Zero(t, b.installs.Load())

	resp, err = http.Get(b.app.URL + "/install/callback?error=server_error")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
}

// TestOAuthInstallWithoutSignature: an OAuth app's redirect with code, user_id,
// account_id and stripe_user_id but no install_signature is authenticated by the code
// exchange, in the browser that started it; a code of another account, a missing
// state or no code at all are refused and store nothing.
func TestOAuthInstallWithoutSignature(t *testing.T) {
	t.Parallel()
	b := setupInstall(t)
	a := b.app
	state, c := a.BeginInstall(t, url.Values{"mode": {"test"}})
	resp := a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_nosig", OAuth: true, NoSignature: true})
	require.Equal(t, http.StatusFound, resp.Status, resp)
	in, ok := a.Installation(t, "acct_nosig", false)
	require.True(t, ok)
	require.EqualValues(t, "installed", in.Status)
	require.Equal(t, 1, a.Fake.OAuthStats().Exchanges)
	res := a.As("usr_1", "acct_nosig").Post(t, "/api/balance", nil)
	require.Equal(t, http.StatusOK, res.Status, res)
	require.True(t, strings.HasPrefix(lastRequest(t, a.Fake, "/v1/balance").Authorization, "Bearer oat_test_"))
	// The same redirect again: the state is used up, the code not presented again.
	resp = a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_nosig", OAuth: true, NoSignature: true})
	require.Equal(t, http.StatusBadRequest, resp.Status, resp)

	refused := func(t *testing.T, resp *appbackendtest.Response, account string) {
		t.Helper()
		require.Equal(t, http.StatusBadRequest, resp.Status, resp)
		require.Equal(t, "bad_request", resp.ErrorCode(), resp)
		_, ok := a.Installation(t, account, false)
		require.False(t, ok)
	}
	s2, c2 := a.BeginInstall(t, url.Values{"mode": {"test"}})
	other := a.Fake.IssueOAuthCode("acct_someone_else", false)
	refused(t, a.CompleteInstall(t, s2, c2, appbackendtest.InstallRedirect{Account: "acct_nosig2", OAuth: true, Code: other, NoSignature: true}), "acct_nosig2")
	s3, c3 := a.BeginInstall(t, url.Values{"mode": {"test"}})
	refused(t, a.CompleteInstall(t, s3, c3, appbackendtest.InstallRedirect{Account: "acct_nosig3", NoSignature: true}), "acct_nosig3")
	refused(t, a.CompleteInstall(t, "", nil, appbackendtest.InstallRedirect{Account: "acct_nosig4", OAuth: true, NoSignature: true}), "acct_nosig4")
	s5, _ := a.BeginInstall(t, url.Values{"mode": {"test"}})
	refused(t, a.CompleteInstall(t, s5, nil, appbackendtest.InstallRedirect{Account: "acct_nosig5", OAuth: true, NoSignature: true}), "acct_nosig5")
	require.EqualValues(t, 1, b.installs.Load())
}

// TestInstallCallbackAfterTheEventExchangedTheCode: an OAuth app's apps.install.created
// event may trade the install's auth_code before the browser's redirect arrives with
// the same code. The callback's own exchange then gets invalid_grant; a redirect with a
// valid install_signature, for an account and mode whose tokens are stored, is the
// install completing, not an error. Without a signature (the exchange was its only
// authentication), or without stored tokens, the refusal stands.
func TestInstallCallbackAfterTheEventExchangedTheCode(t *testing.T) {
	onEachDatabase(t, func(t *testing.T) {
		b := setupInstall(t)
		a := b.app
		code := a.Fake.IssueOAuthCode("acct_race", false)
		a.InstallCreated(t, appbackendtest.AppInstall{Account: "acct_race", AuthCode: code})
		require.Equal(t, 1, a.Fake.OAuthStats().Exchanges, "the event traded the code")
		require.EqualValues(t, 1, b.installs.Load())

		state, c := a.BeginInstall(t, url.Values{"mode": {"test"}, "plan": {"pro"}})
		resp := a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_race", OAuth: true, Code: code})
		require.Equal(t, http.StatusFound, resp.Status, resp)
		back, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, "acct_race", back.Query().Get("account_id"))
		require.Equal(t, "pro", back.Query().Get("plan"))
		require.Equal(t, 1, a.Fake.OAuthStats().ReusedCodes, "the callback did try the code")
		require.EqualValues(t, 1, b.installs.Load(), "the install hooks ran once")
		in, ok := a.Installation(t, "acct_race", false)
		require.True(t, ok)
		require.EqualValues(t, "installed", in.Status)
		res := a.As("usr_1", "acct_race").Post(t, "/api/balance", nil)
		require.Equal(t, http.StatusOK, res.Status, res)
		require.True(t, strings.HasPrefix(lastRequest(t, a.Fake, "/v1/balance").Authorization, "Bearer oat_test_"), "the event's tokens are kept")
		// The redirect is still single-use.
		resp = a.CompleteInstall(t, state, c, appbackendtest.InstallRedirect{Account: "acct_race", OAuth: true, Code: code})
		require.Equal(t, http.StatusBadRequest, resp.Status, resp)
		require.Contains(t, resp.String(), "already used")

		// Unsigned, the exchange was the redirect's only proof: still refused.
		s2, c2 := a.BeginInstall(t, url.Values{"mode": {"test"}})
		resp = a.CompleteInstall(t, s2, c2, appbackendtest.InstallRedirect{Account: "acct_race", OAuth: true, Code: code, NoSignature: true})
		require.Equal(t, http.StatusBadRequest, resp.Status, resp)
		require.Contains(t, resp.String(), "refused the authorization code")

		// Signed, but no tokens stored for the account: refused, nothing stored.
		s3, c3 := a.BeginInstall(t, url.Values{"mode": {"test"}})
		resp = a.CompleteInstall(t, s3, c3, appbackendtest.InstallRedirect{Account: "acct_race2", OAuth: true, Code: code})
		require.Equal(t, http.StatusBadRequest, resp.Status, resp)
		require.Contains(t, resp.String(), "refused the authorization code")
		_, ok = a.Installation(t, "acct_race2", false)
		require.False(t, ok)
		require.EqualValues(t, 1, b.installs.Load())
	})
}
