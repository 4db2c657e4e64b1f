package appbackend

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
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
	"github.com/appbackend/appbackend/internal/hook"
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

// installCookie binds a state to the browser that asked for it and carries the
// caller's return data.
const installCookie = "appbackend_install"

// maxReturnQuery bounds the caller's data GET /install gives back on the return. It
// travels in the cookie (nothing is stored), whose value must stay under the 4 KB
// browsers keep per cookie.
const maxReturnQuery = 2048

// maxUsesPerSignature is how many states one install_signature may complete. A
// genuine signature (Stripe's, for one user and account at one second) stays valid for
// the timestamp tolerance, so without a cap its holder could pair it with any number
// of fresh states and store a use row for each; a few allow the same user's second
// install within the same second.
const maxUsesPerSignature = 4

// InstallSignedAs says what authenticated an install, recorded with it: an
// install_signature over InstallSignedContent with or without the state, or, for an
// OAuth app redirected without install_signature, the code exchange.
const (
	InstallSignedUserAccount      = "user_account"       // {"user_id":…,"account_id":…}: no state was sent
	InstallSignedStateUserAccount = "state_user_account" // {"state":…,"user_id":…,"account_id":…}
	InstallSignedOAuthCode        = "oauth_code"         // no install_signature; Stripe's code exchange vouched
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
	if err := a.onReauth.Trigger(store.WithTx(ctx, tx), in); err != nil {
		return fmt.Errorf("reauthorization hook for %s: %w", accountID, err)
	}
	return nil
}

// OnReauthorizationRequired registers h to run when Stripe refuses an OAuth
// installation's refresh token (invalid_grant) and the installation becomes
// reauthorization_required, in the transaction that records it. Tell the merchant to
// install again (GET /install). It panics on a nil h or after Run (see OnEvent).
func (a *App) OnReauthorizationRequired(h InstallHook) {
	a.mustRegister("OnReauthorizationRequired")
	a.onReauth.Bind("OnReauthorizationRequired", hook.Default, bindInstallHook("OnReauthorizationRequired", h))
}

// deleteOAuthTokens is the uninstall hook that forgets an account's tokens.
func (a *App) deleteOAuthTokens(ctx context.Context, in store.Installation) error {
	tx, ok := store.TxFrom(ctx)
	if !ok || a.oauth == nil {
		return nil
	}
	return a.oauth.DeleteTx(ctx, tx, in.AccountID, in.Livemode)
}

// accountClient returns the client of (account, mode) when the account calls Stripe
// with its own credentials: its OAuth access token (an OAuth app) or the restricted key
// its merchant pasted (a restricted-key app); else nil, for the platform key.
func (a *App) accountClient(ctx context.Context, account string, livemode bool) (*StripeClient, error) {
	if a.oauth == nil {
		return nil, nil
	}
	kind, err := a.oauth.AuthKind(ctx, account, livemode)
	if err != nil {
		return nil, err
	}
	switch kind {
	case oauth.AuthOAuth:
		return a.stripe.OAuthClient(account, stripeclient.ModeOf(livemode), func(ctx context.Context, stale string) (string, error) {
			tok, err := a.oauth.AccessToken(ctx, account, livemode, stale)
			if errors.Is(err, oauth.ErrReauthorizationRequired) {
				return "", apierror.New(apierror.CodeForbidden, "the account "+account+" must install the app again: its authorization was revoked (reauthorization_required)")
			}
			return tok, err
		})
	case oauth.AuthRestrictedKey:
		return a.stripe.RestrictedKeyClient(account, stripeclient.ModeOf(livemode), func(ctx context.Context, stale string) (string, error) {
			key, err := a.oauth.RestrictedAPIKey(ctx, account, livemode, stale)
			if errors.Is(err, oauth.ErrRestrictedKeyRejected) {
				return "", apierror.New(apierror.CodeForbidden, "the account "+account+" must paste a new restricted key in the app's settings: Stripe rejected the stored one (reauthorization_required)")
			}
			return key, err
		})
	}
	return nil, nil
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

// handleInstall is GET /install: a fresh state, signed and bound to this browser by a
// cookie, then a 302 to Stripe's install page. It stores nothing: anyone may call it,
// as often as they like. ?mode=test asks for a test-mode install; every other query
// parameter is given back on the return to APPBACKEND_INSTALL_RETURN_URL.
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
	ttl := a.cfg.InstallStateTTL
	if ttl <= 0 {
		ttl = DefaultInstallStateTTL
	}
	cookie := newInstallCookie(returnQuery)
	state := a.signInstallState(installState{livemode: livemode, expiresAt: time.Now().Add(ttl)}, cookie)

	http.SetCookie(w, &http.Cookie{
		Name: installCookie, Value: cookie, Path: "/install", MaxAge: int(ttl / time.Second),
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

// The install state is what the server once kept in a row, sealed in the token itself:
//
//	base64url( version | flags | expiry (µs, big-endian int64) | browser binding | MAC )
//	           1 byte    1 byte  8 bytes                         16 bytes          16 bytes
//
// 56 characters, well inside the callback's state pattern and opaque to Stripe, which
// gives it back as is. The browser binding is a hash of the cookie set with it; the
// cookie holds a random nonce (which makes every state unique) and the return data, so
// the MAC also vouches for the return data, and a state completes only in the browser
// that started it. The MAC is HMAC-SHA256 (truncated to 128 bits) with a key derived
// from an app secret: every replica has it, no key is stored, and a rotation
// (STRIPE_APP_SECRETS=NEW,OLD) keeps the states made with OLD valid while it is listed.
const (
	stateVersion    = 1
	stateFlagLive   = 1
	stateBindingLen = 16
	stateMACLen     = 16
	stateLen        = 2 + 8 + stateBindingLen + stateMACLen
	cookieNonceLen  = 16
)

// installStateKey derives the state-signing key from an app secret, labelled so that it
// signs nothing else.
func installStateKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("appbackend install state v1"))
	return m.Sum(nil)
}

func newInstallCookie(returnQuery string) string {
	b := make([]byte, cookieNonceLen, cookieNonceLen+len(returnQuery))
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(append(b, returnQuery...))
}

// cookieReturnQuery is the return data a cookie made by newInstallCookie carries.
func cookieReturnQuery(cookie string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || len(b) < cookieNonceLen {
		return "", false
	}
	return string(b[cookieNonceLen:]), true
}

func browserBinding(cookie string) []byte {
	sum := sha256.Sum256([]byte("appbackend install browser\x00" + cookie))
	return sum[:stateBindingLen]
}

func stateMAC(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)[:stateMACLen]
}

// signInstallState makes the state of st for the browser holding cookie, signed with
// the first app secret.
func (a *App) signInstallState(st installState, cookie string) string {
	b := make([]byte, 0, stateLen)
	flags := byte(0)
	if st.livemode {
		flags |= stateFlagLive
	}
	b = append(b, stateVersion, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(st.expiresAt.UnixMicro()))
	b = append(b, browserBinding(cookie)...)
	b = append(b, stateMAC(installStateKey(a.cfg.AppSecrets[0]), b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

var (
	errStateUnknown  = errors.New("unknown state: start the install again from /install")
	errStateExpired  = errors.New("this install link expired: start the install again from /install")
	errStateBrowser  = errors.New("this install was started in another browser: start it again from /install in this one")
	errStateUsed     = errors.New("this install link was already used: start the install again from /install")
	errSignatureUsed = errors.New("this install_signature was already used: start the install again from /install")
)

// openInstallState checks a state (made by this app with one of its secrets, unexpired,
// bound to cookie, "" for none) and returns what it holds.
func (a *App) openInstallState(state, cookie string, now time.Time) (installState, error) {
	var st installState
	b, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(b) != stateLen || b[0] != stateVersion {
		return st, errStateUnknown
	}
	body, mac := b[:stateLen-stateMACLen], b[stateLen-stateMACLen:]
	ok := false
	for _, s := range a.cfg.AppSecrets {
		if hmac.Equal(mac, stateMAC(installStateKey(s), body)) {
			ok = true
		}
	}
	if !ok {
		return st, errStateUnknown
	}
	st.livemode = b[1]&stateFlagLive != 0
	st.expiresAt = time.UnixMicro(int64(binary.BigEndian.Uint64(b[2:10])))
	if now.After(st.expiresAt) {
		return st, errStateExpired
	}
	if cookie == "" || subtle.ConstantTimeCompare(browserBinding(cookie), b[10:10+stateBindingLen]) != 1 {
		return st, errStateBrowser
	}
	if st.returnQuery, ok = cookieReturnQuery(cookie); !ok {
		return st, errStateBrowser
	}
	return st, nil
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

// installState is what a state says: the mode asked for, when it expires, and (from
// the cookie it is bound to) the return data.
type installState struct {
	livemode    bool
	returnQuery string
	expiresAt   time.Time
}

// InstallSignedContent is the exact string an install_signature covers, as Stripe's
// install-link documentation (and its Ruby sample) verifies it:
// JSON.stringify({state, user_id, account_id}), in that order, or
// JSON.stringify({user_id, account_id}) when the install link sent no state. Nothing
// else is accepted: the state is bound to the signature whenever there is one.
func InstallSignedContent(state, userID, accountID string) []byte {
	// The ids and the state are checked to be plain ASCII without quotes or escapes, so
	// JSON.stringify and encoding/json write the same bytes.
	if state == "" {
		b, _ := json.Marshal(struct {
			UserID    string `json:"user_id"`
			AccountID string `json:"account_id"`
		}{userID, accountID})
		return b
	}
	b, _ := json.Marshal(struct {
		State     string `json:"state"`
		UserID    string `json:"user_id"`
		AccountID string `json:"account_id"`
	}{state, userID, accountID})
	return b
}

// verifyInstallSignature checks install_signature (t=…,v1=…, HMAC-SHA256 with the app's
// signing secrets, timestamps refused beyond the tolerance either way) over
// InstallSignedContent and returns the name of the content and the signature's key: a
// hash of its timestamp and signed content, the same however the header is spelled.
func (a *App) verifyInstallSignature(sig, state, userID, accountID string) (string, string, error) {
	p := InstallSignedContent(state, userID, accountID)
	at, err := a.verifier.VerifyPayload(sig, p)
	if err != nil {
		return "", "", err
	}
	name := InstallSignedStateUserAccount
	if state == "" {
		name = InstallSignedUserAccount
	}
	return name, hashHex(fmt.Sprintf("%d\n%s", at.Unix(), p)), nil
}

// handleInstallCallback is GET /install/callback, where Stripe sends the browser back
// after an install: it checks the state (this browser's, unexpired, unused), verifies
// install_signature over JSON.stringify({state, user_id, account_id}) (without state
// when none was sent), exchanges an OAuth app's code for tokens, and then, in one
// transaction, uses the state up, records the installation and the tokens and runs the
// install hooks. An OAuth app's redirect without install_signature is authenticated by
// the code exchange instead (the code is single-use and short-lived, the state binds it
// to this browser). A cancelled install lands on a page saying so; any other failure
// answers a JSON error and records nothing.
func (a *App) handleInstallCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if err := a.installConfigured(); err != nil {
		a.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		a.installCancelled(w, e, q.Get("error_description"))
		return
	}
	state, userID, accountID, sig, code := q.Get("state"), q.Get("user_id"), q.Get("account_id"), q.Get("install_signature"), q.Get("code")
	switch {
	case state != "" && !statePattern.MatchString(state):
		a.writeError(w, r, installError("malformed state: start the install again from /install"))
		return
	case !accountIDPattern.MatchString(accountID):
		a.writeError(w, r, installError("missing or malformed account_id"))
		return
	case !userIDPattern.MatchString(userID):
		a.writeError(w, r, installError("missing or malformed user_id"))
		return
	case sig == "" && code == "":
		a.writeError(w, r, installError("missing install_signature"))
		return
	case sig == "" && state == "":
		a.writeError(w, r, installError("an OAuth redirect without install_signature must carry the state GET /install sent: start the install again from /install"))
		return
	case q.Has("stripe_user_id") && q.Get("stripe_user_id") != accountID:
		a.writeError(w, r, installError("stripe_user_id and account_id name different accounts"))
		return
	}
	// Stripe adds livemode=false to a test-mode install's redirect. Unsigned, it can only
	// misstate the mode of the installer's own account; an OAuth code exchange corrects it.
	var redirectLive *bool
	switch q.Get("livemode") {
	case "":
	case "true", "false":
		live := q.Get("livemode") == "true"
		redirectLive = &live
	default:
		a.writeError(w, r, installError(`livemode must be "true" or "false"`))
		return
	}

	// Without a state (an install link that sent none) nothing binds the redirect to a
	// browser; the signature alone vouches for it, once.
	st := installState{livemode: true}
	if state != "" {
		var cookie string
		if c, err := r.Cookie(installCookie); err == nil {
			cookie = c.Value
		}
		var err error
		if st, err = a.openInstallState(state, cookie, time.Now()); err != nil {
			a.writeError(w, r, installError(err.Error()))
			return
		}
	}
	livemode := st.livemode
	if redirectLive != nil {
		livemode = *redirectLive
	}

	signedAs, sigKey := InstallSignedOAuthCode, hashHex("oauth code\n"+code)
	if sig != "" {
		var err error
		if signedAs, sigKey, err = a.verifyInstallSignature(sig, state, userID, accountID); err != nil {
			msg := "install_signature does not verify with the app's signing secrets"
			if errors.Is(err, appauth.ErrTooOld) || errors.Is(err, appauth.ErrTooNew) {
				msg = "install_signature is outside the time tolerance: start the install again from /install"
			}
			a.writeError(w, r, apierror.New(apierror.CodeSignatureInvalid, msg))
			return
		}
	}
	// What makes this redirect single-use: its state, else its signature.
	useKey := state
	if useKey == "" {
		useKey = "signature:" + sigKey
	}

	// Before a code is spent on it: a state used before is refused (the transaction
	// below checks again, against a concurrent use).
	var used int
	err := a.db.DB().QueryRowContext(ctx, a.sqlText(`SELECT COUNT(*) FROM appbackend_install_uses WHERE state_hash = ?`), hashHex(useKey)).Scan(&used)
	switch {
	case err != nil:
		a.writeError(w, r, fmt.Errorf("load install state use: %w", err))
		return
	case used > 0 && state == "":
		a.writeError(w, r, installError(errSignatureUsed.Error()))
		return
	case used > 0:
		a.writeError(w, r, installError(errStateUsed.Error()))
		return
	}

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
		case sig == "" && t.StripeUserID == "":
			// The exchange is what authenticates this redirect: it must name the account.
			a.writeError(w, r, installError("Stripe's code exchange did not say which account installed: start the install again from /install"))
			return
		}
		livemode = t.Livemode
		tok = &t
	}

	now := time.Now()
	err = store.InTx(ctx, a.db.DB(), func(tx *sql.Tx) error {
		if err := a.useInstallState(ctx, tx, useKey, sigKey, accountID, userID, signedAs, st, now); err != nil {
			return err
		}
		hctx := store.WithTx(ctx, tx)
		if err := a.lifecycle.Record(hctx, accountID, livemode, a.cfg.AppID, hashHex(useKey)[:16], now); err != nil {
			return err
		}
		if tok != nil {
			return a.oauth.SaveTx(ctx, tx, accountID, livemode, userID, *tok)
		}
		return nil
	})
	if errors.Is(err, errStateUsed) || errors.Is(err, errSignatureUsed) {
		a.writeError(w, r, installError(err.Error()))
		return
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// Uses no state or signature would pass any more go with the next install; a
	// failure here changes nothing that matters. The minute covers replicas' clocks.
	_, _ = a.db.DB().ExecContext(ctx, a.sqlText(`DELETE FROM appbackend_install_uses WHERE expires_at < ?`), now.Add(-time.Minute).UnixMicro())
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

// useInstallState records, in tx, that state was used with the install_signature
// whose key is sigKey, or fails with errStateUsed if the state was used before, or
// with errSignatureUsed if the signature already completed maxUsesPerSignature states.
// Only a verified signature gets here, so the rows are bounded by genuine Stripe
// redirects, and each goes once neither its state nor its signature can pass again.
func (a *App) useInstallState(ctx context.Context, tx *sql.Tx, state, sigKey, accountID, userID, signedAs string, st installState, now time.Time) error {
	if kind, _, _ := setup.ParseDatabase(a.cfg.Database); kind == "postgres" {
		// Concurrent uses of one signature take turns, so the count below is exact;
		// SQLite's write transactions take turns anyway, from the INSERT on.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "appbackend.install_signature:"+sigKey); err != nil {
			return fmt.Errorf("lock install signature: %w", err)
		}
	}
	// A signature's timestamp may lie up to the tolerance ahead, and passes until the
	// tolerance after it.
	expires := now.Add(2 * appauth.DefaultTolerance)
	if st.expiresAt.After(expires) {
		expires = st.expiresAt
	}
	res, err := tx.ExecContext(ctx, a.sqlText(`INSERT INTO appbackend_install_uses
		(state_hash, signature_key, account_id, user_id, signed_as, used_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (state_hash) DO NOTHING`),
		hashHex(state), sigKey, accountID, userID, signedAs, now.UnixMicro(), expires.UnixMicro())
	if err != nil {
		return fmt.Errorf("record install state use: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errStateUsed
	}
	var uses int
	if err := tx.QueryRowContext(ctx, a.sqlText(`SELECT COUNT(*) FROM appbackend_install_uses WHERE signature_key = ?`), sigKey).Scan(&uses); err != nil {
		return fmt.Errorf("count install signature uses: %w", err)
	}
	if uses > maxUsesPerSignature {
		return errSignatureUsed
	}
	return nil
}

// installCancelled answers a redirect that carries error=… (the merchant cancelled, or
// Stripe could not complete the install) with a page a person can read: nothing
// happened, and how to try again.
func (a *App) installCancelled(w http.ResponseWriter, code, description string) {
	http.SetCookie(w, &http.Cookie{Name: installCookie, Value: "", Path: "/install", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	status := http.StatusBadRequest
	title := "The install did not complete"
	if code == "access_denied" {
		status = http.StatusOK // the merchant's own choice, not a failure
		title = "The install was cancelled"
	}
	w.WriteHeader(status)
	_ = cancelledPage.Execute(w, struct{ Title, Code, Description, Again, Back string }{
		title, trimFor(code), trimFor(description), strings.TrimRight(a.cfg.PublicURL, "/") + "/install", a.cfg.InstallReturnURL,
	})
}

var cancelledPage = template.Must(template.New("cancelled").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body><h1>{{.Title}}</h1>
<p>Nothing was installed.{{if .Description}} Stripe said: {{.Description}}{{end}}</p>
<p><a href="{{.Again}}">Start the install again</a>{{if .Back}} or <a href="{{.Back}}">go back to the app</a>{{end}}.</p>
<!-- error: {{.Code}} -->
</body></html>
`))

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
