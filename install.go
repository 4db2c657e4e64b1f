package appbackend

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// DefaultInstallURL is Stripe's install/authorize page for install links and OAuth apps.
const DefaultInstallURL = "https://marketplace.stripe.com/oauth/v2/authorize"

// DefaultInstallStateTTL is how long a state from GET /install stays usable.
const DefaultInstallStateTTL = 15 * time.Minute

// installCookie binds a state to the browser that asked for it.
const installCookie = "appbackend_install"

// maxReturnQuery bounds the caller's data GET /install keeps for the return.
const maxReturnQuery = 2048

// InstallSignedAs says which content an install_signature covered. Stripe's install-link
// documentation verifies the signature like a UI request's default signature, over
// JSON.stringify({user_id, account_id}); a variant that also carries the state is
// accepted as the only other candidate. The matched one is recorded with the install.
const (
	InstallSignedUserAccount      = "user_account"       // {"user_id":…,"account_id":…}
	InstallSignedStateUserAccount = "state_user_account" // {"state":…,"user_id":…,"account_id":…}
)

var (
	accountIDPattern = regexp.MustCompile(`^acct_[A-Za-z0-9]{1,64}$`)
	userIDPattern    = regexp.MustCompile(`^usr_[A-Za-z0-9]{1,64}$`)
	statePattern     = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)
)

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// openOAuth builds the token manager over the database.
func (a *App) openOAuth() error {
	keys, err := secretbox.Parse(strings.Join(a.cfg.EncryptionKeys, ","))
	if err != nil {
		return fmt.Errorf("%w: APPBACKEND_ENCRYPTION_KEY: %v", ErrConfig, err)
	}
	kind, _, _ := setup.ParseDatabase(a.cfg.Database)
	a.oauth = oauth.New(oauth.Config{
		DB:       a.db.DB(),
		Postgres: kind == "postgres",
		Keys:     keys,
		Endpoint: &oauth.Endpoint{APIBase: a.cfg.APIBase, Key: func(live bool) string {
			if live {
				return a.cfg.SecretKey
			}
			return a.cfg.TestSecretKey
		}},
		Logger:                    a.logger,
		OnReauthorizationRequired: a.markReauthorizationRequired,
	})
	return nil
}

// markReauthorizationRequired records an invalid_grant on the installation, in the
// refresh's transaction, and runs the OnReauthorizationRequired hooks.
func (a *App) markReauthorizationRequired(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) error {
	if a.lifecycle == nil {
		return nil
	}
	in, changed, err := a.lifecycle.MarkReauthorizationRequired(ctx, tx, accountID, livemode)
	if err != nil || !changed {
		return err
	}
	hctx := stripeclient.Bind(store.WithTx(ctx, tx), accountID, livemode, 0)
	for _, h := range a.reauthHooks {
		if err := h(hctx, in); err != nil {
			return fmt.Errorf("reauthorization hook for %s: %w", accountID, err)
		}
	}
	return nil
}

// OnReauthorizationRequired registers h to run when Stripe refuses an OAuth
// installation's refresh token (invalid_grant) and the installation becomes
// reauthorization_required, in the transaction that records it. Tell the merchant to
// install again (GET /install).
func (a *App) OnReauthorizationRequired(h InstallHook) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mustNotBeStarted("OnReauthorizationRequired")
	a.reauthHooks = append(a.reauthHooks, h)
}

// deleteOAuthTokens is the uninstall hook that forgets an account's tokens.
func (a *App) deleteOAuthTokens(ctx context.Context, in store.Installation) error {
	tx, ok := store.TxFrom(ctx)
	if !ok || a.oauth == nil {
		return nil
	}
	return a.oauth.DeleteTx(ctx, tx, in.AccountID, in.Livemode)
}

// oauthClient returns the OAuth-token client of (account, mode) when the account
// installed as an OAuth app, else nil.
func (a *App) oauthClient(ctx context.Context, account string, livemode bool) (*StripeClient, error) {
	if a.oauth == nil {
		return nil, nil
	}
	has, err := a.oauth.Has(ctx, account, livemode)
	if err != nil || !has {
		return nil, err
	}
	return a.stripe.OAuthClient(account, stripeclient.ModeOf(livemode), func(ctx context.Context, stale string) (string, error) {
		tok, err := a.oauth.AccessToken(ctx, account, livemode, stale)
		if errors.Is(err, oauth.ErrReauthorizationRequired) {
			return "", apierror.New(apierror.CodeForbidden, "the account "+account+" must install the app again: its authorization was revoked (reauthorization_required)")
		}
		return tok, err
	})
}

// refreshTokens refreshes, every minute until ctx ends, the OAuth tokens that expire
// within the next ten, so that request paths seldom wait for a refresh. Replicas may
// all run it: the row lock lets one refresh and the others find the token fresh.
func (a *App) refreshTokens(ctx context.Context) {
	if a.oauth == nil {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := a.oauth.RefreshDue(ctx, 10*time.Minute); err != nil && ctx.Err() == nil {
			a.logger.WarnContext(ctx, "refreshing OAuth tokens", "err", err, "refreshed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func installError(message string) error { return apierror.New(apierror.CodeBadRequest, message) }

func (a *App) installConfigured() error {
	if a.cfg.AppID == "" || a.cfg.PublicURL == "" {
		return apierror.New(apierror.CodeUnavailable, "install links are not configured: set STRIPE_APP_ID and APPBACKEND_PUBLIC_URL")
	}
	return nil
}

func (a *App) installRedirectURI() string {
	return strings.TrimRight(a.cfg.PublicURL, "/") + "/install/callback"
}

// handleInstall is GET /install: a fresh state, kept server-side (hashed) with an
// expiry, bound to this browser by a cookie, then a 302 to Stripe's install page.
// ?mode=test asks for a test-mode install; every other query parameter is given back
// on the return to APPBACKEND_INSTALL_RETURN_URL.
func (a *App) handleInstall(w http.ResponseWriter, r *http.Request) {
	if err := a.installConfigured(); err != nil {
		a.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	livemode := true
	switch q.Get("mode") {
	case "", "live":
	case "test":
		livemode = false
	default:
		a.writeError(w, r, installError(`mode must be "live" or "test"`))
		return
	}
	q.Del("mode")
	returnQuery := q.Encode()
	if len(returnQuery) > maxReturnQuery {
		a.writeError(w, r, installError(fmt.Sprintf("the return data is over %d bytes", maxReturnQuery)))
		return
	}
	state, nonce := randomToken(), randomToken()
	now := time.Now()
	ttl := a.cfg.InstallStateTTL
	if ttl <= 0 {
		ttl = DefaultInstallStateTTL
	}
	_, err := a.db.DB().ExecContext(r.Context(), a.sqlText(`INSERT INTO appbackend_install_states
		(state_hash, browser_hash, livemode, return_query, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`),
		hashHex(state), hashHex(nonce), livemode, returnQuery, now.UnixMicro(), now.Add(ttl).UnixMicro())
	if err != nil {
		a.writeError(w, r, fmt.Errorf("store install state: %w", err))
		return
	}
	// Old states go with the next ones; a failure here changes nothing that matters.
	_, _ = a.db.DB().ExecContext(r.Context(), a.sqlText(`DELETE FROM appbackend_install_states WHERE expires_at < ?`), now.Add(-24*time.Hour).UnixMicro())

	http.SetCookie(w, &http.Cookie{
		Name: installCookie, Value: nonce, Path: "/install", MaxAge: int(ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(a.cfg.PublicURL, "https://"),
	})
	target := a.cfg.InstallURL
	if target == "" {
		target = DefaultInstallURL
	}
	u, err := url.Parse(target)
	if err != nil {
		a.writeError(w, r, fmt.Errorf("install URL: %w", err))
		return
	}
	tq := u.Query()
	tq.Set("client_id", a.cfg.AppID)
	tq.Set("redirect_uri", a.installRedirectURI())
	tq.Set("state", state)
	u.RawQuery = tq.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// sqlText rewrites ? placeholders for PostgreSQL.
func (a *App) sqlText(q string) string {
	if kind, _, _ := setup.ParseDatabase(a.cfg.Database); kind != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

type installState struct {
	browserHash string
	livemode    bool
	returnQuery string
	expiresAt   time.Time
	used        bool
}

// InstallSignatureCandidates are the exact strings an install_signature may cover, in
// the order they are tried, with the name each is recorded under.
func InstallSignatureCandidates(state, userID, accountID string) (names []string, payloads [][]byte) {
	// The ids and the state are checked to be plain ASCII without quotes or escapes, so
	// JSON.stringify and encoding/json write the same bytes.
	ua, _ := json.Marshal(struct {
		UserID    string `json:"user_id"`
		AccountID string `json:"account_id"`
	}{userID, accountID})
	sua, _ := json.Marshal(struct {
		State     string `json:"state"`
		UserID    string `json:"user_id"`
		AccountID string `json:"account_id"`
	}{state, userID, accountID})
	return []string{InstallSignedUserAccount, InstallSignedStateUserAccount}, [][]byte{ua, sua}
}

// verifyInstallSignature checks install_signature (t=…,v1=…, HMAC-SHA256 with the app's
// signing secrets, timestamps refused beyond the tolerance either way) over each
// candidate and returns the name of the one that matched.
func (a *App) verifyInstallSignature(sig, state, userID, accountID string) (string, error) {
	names, payloads := InstallSignatureCandidates(state, userID, accountID)
	var last error
	for i, p := range payloads {
		_, err := a.verifier.VerifyPayload(sig, p)
		if err == nil {
			return names[i], nil
		}
		if !errors.Is(err, appauth.ErrNoValidSignature) {
			return "", err // malformed, or outside the tolerance: the same for every candidate
		}
		last = err
	}
	return "", last
}

// handleInstallCallback is GET /install/callback, where Stripe sends the browser back
// after an install: it checks the state (this browser's, unexpired, unused), verifies
// install_signature, exchanges an OAuth app's code for tokens, and then, in one
// transaction, uses the state up, records the installation and the tokens and runs the
// install hooks. Any failure answers a JSON error and records nothing.
func (a *App) handleInstallCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if err := a.installConfigured(); err != nil {
		a.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		a.writeError(w, r, installError("the install did not complete: "+trimFor(e+" "+q.Get("error_description"))))
		return
	}
	state, userID, accountID, sig, code := q.Get("state"), q.Get("user_id"), q.Get("account_id"), q.Get("install_signature"), q.Get("code")
	switch {
	case !statePattern.MatchString(state):
		a.writeError(w, r, installError("missing or malformed state: start the install again from /install"))
		return
	case !accountIDPattern.MatchString(accountID):
		a.writeError(w, r, installError("missing or malformed account_id"))
		return
	case userID != "" && !userIDPattern.MatchString(userID):
		a.writeError(w, r, installError("malformed user_id"))
		return
	case sig == "":
		a.writeError(w, r, installError("missing install_signature"))
		return
	}

	st, err := a.loadInstallState(ctx, state)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.writeError(w, r, installError("unknown state: start the install again from /install"))
		return
	case err != nil:
		a.writeError(w, r, err)
		return
	case st.used:
		a.writeError(w, r, installError("this install link was already used: start the install again from /install"))
		return
	case time.Now().After(st.expiresAt):
		a.writeError(w, r, installError("this install link expired: start the install again from /install"))
		return
	}
	cookie, err := r.Cookie(installCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(hashHex(cookie.Value)), []byte(st.browserHash)) != 1 {
		a.writeError(w, r, installError("this install was started in another browser: start it again from /install in this one"))
		return
	}
	signedAs, err := a.verifyInstallSignature(sig, state, userID, accountID)
	if err != nil {
		msg := "install_signature does not verify with the app's signing secrets"
		if errors.Is(err, appauth.ErrTooOld) || errors.Is(err, appauth.ErrTooNew) {
			msg = "install_signature is outside the time tolerance: start the install again from /install"
		}
		a.writeError(w, r, apierror.New(apierror.CodeSignatureInvalid, msg))
		return
	}

	livemode := st.livemode
	var tok *oauth.Token
	if code != "" {
		if a.oauth == nil || a.oauth.Keys().Empty() {
			a.writeError(w, r, apierror.New(apierror.CodeUnavailable, "this is an OAuth install, but APPBACKEND_ENCRYPTION_KEY is not set to store its tokens"))
			return
		}
		t, err := a.oauth.Endpoint().Exchange(ctx, livemode, code)
		switch {
		case errors.Is(err, oauth.ErrInvalidGrant):
			a.writeError(w, r, installError("Stripe refused the authorization code (already used or expired): start the install again from /install"))
			return
		case err != nil:
			a.logger.WarnContext(ctx, "OAuth code exchange failed", "account_id", accountID, "err", err)
			a.writeError(w, r, apierror.New(apierror.CodeStripeError, "the code exchange with Stripe failed; try again"))
			return
		case t.StripeUserID != "" && t.StripeUserID != accountID:
			a.writeError(w, r, installError("the authorization code is for another account"))
			return
		}
		livemode = t.Livemode
		tok = &t
	}

	err = store.InTx(ctx, a.db.DB(), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, a.sqlText(`UPDATE appbackend_install_states SET used_at = ?, account_id = ?, user_id = ?, signed_as = ?
			WHERE state_hash = ? AND used_at IS NULL`), time.Now().UnixMicro(), accountID, userID, signedAs, hashHex(state))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errStateUsed
		}
		hctx := store.WithTx(ctx, tx)
		if err := a.lifecycle.Record(hctx, accountID, livemode, a.cfg.AppID, hashHex(state)[:16], time.Now()); err != nil {
			return err
		}
		if tok != nil {
			return a.oauth.SaveTx(ctx, tx, accountID, livemode, userID, *tok)
		}
		return nil
	})
	if errors.Is(err, errStateUsed) {
		a.writeError(w, r, installError("this install link was already used: start the install again from /install"))
		return
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.logger.InfoContext(ctx, "installed through an install link", "account_id", accountID, "user_id", userID,
		"livemode", livemode, "oauth", tok != nil, "signed_as", signedAs)
	http.SetCookie(w, &http.Cookie{Name: installCookie, Value: "", Path: "/install", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})

	if a.cfg.InstallReturnURL == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = installedPage.Execute(w, struct{ Account string }{accountID})
		return
	}
	u, err := url.Parse(a.cfg.InstallReturnURL)
	if err != nil {
		a.writeError(w, r, fmt.Errorf("APPBACKEND_INSTALL_RETURN_URL: %w", err))
		return
	}
	rq := u.Query()
	if orig, err := url.ParseQuery(st.returnQuery); err == nil {
		for k, vs := range orig {
			for _, v := range vs {
				rq.Add(k, v)
			}
		}
	}
	rq.Set("account_id", accountID)
	rq.Set("livemode", fmt.Sprint(livemode))
	u.RawQuery = rq.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

var errStateUsed = errors.New("install state already used")

func trimFor(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func (a *App) loadInstallState(ctx context.Context, state string) (installState, error) {
	var st installState
	var expires int64
	var used sql.NullInt64
	err := a.db.DB().QueryRowContext(ctx, a.sqlText(`SELECT browser_hash, livemode, return_query, expires_at, used_at
		FROM appbackend_install_states WHERE state_hash = ?`), hashHex(state)).
		Scan(&st.browserHash, &st.livemode, &st.returnQuery, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return st, store.ErrNotFound
	}
	if err != nil {
		return st, fmt.Errorf("load install state: %w", err)
	}
	st.expiresAt = time.UnixMicro(expires)
	st.used = used.Valid
	return st, nil
}

var installedPage = template.Must(template.New("installed").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Installed</title></head>
<body><h1>Installed</h1><p>The app is installed on {{.Account}}. You can close this page.</p></body></html>
`))

// validateInstall checks the install-link settings without repeating a key.
func (c Config) validateInstall() error {
	if _, err := secretbox.Parse(strings.Join(c.EncryptionKeys, ",")); err != nil {
		return fmt.Errorf("%w: APPBACKEND_ENCRYPTION_KEY: %v", ErrConfig, err)
	}
	for name, v := range map[string]string{"APPBACKEND_PUBLIC_URL": c.PublicURL, "APPBACKEND_INSTALL_RETURN_URL": c.InstallReturnURL} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%w: %s %q is not an absolute http(s) URL", ErrConfig, name, v)
		}
	}
	return nil
}
