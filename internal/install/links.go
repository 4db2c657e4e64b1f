package install

import (
	"cmp"
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
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/store"
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

// LinksConfig configures [Links].
type LinksConfig struct {
	// AppID is STRIPE_APP_ID, the client_id of the install page; PublicURL is
	// APPBACKEND_PUBLIC_URL, where Stripe sends the browser back (/install/callback).
	AppID, PublicURL string
	// InstallURL replaces DefaultInstallURL (a fake in tests); ReturnURL is
	// APPBACKEND_INSTALL_RETURN_URL ("" shows an "installed" page).
	InstallURL, ReturnURL string
	// StateTTL is how long a state stays usable (zero: DefaultInstallStateTTL).
	StateTTL time.Duration
	// AppSecrets sign the states (the first) and verify them (any).
	AppSecrets []string
	// Verifier checks install_signature with the app's signing secrets.
	Verifier  *appauth.Verifier
	Store     store.Store
	Lifecycle *Lifecycle
	// Tokens stores an OAuth app's tokens; nil when the App has none.
	Tokens *oauth.Manager
	// WriteErrorFunc answers a request with err (the App's error writer).
	WriteErrorFunc func(w http.ResponseWriter, r *http.Request, err error)
	Archetype      *baseservice.Archetype
}

// Links serves install links: GET /install starts one, GET /install/callback
// completes it (Mount registers both).
type Links struct {
	baseservice.Base
	cfg LinksConfig
}

// NewLinks returns the install-link service.
func NewLinks(cfg LinksConfig) *Links {
	l := &Links{cfg: cfg}
	l.Init(cfg.Archetype)
	return l
}

// Mount registers GET /install and GET /install/callback on mux.
func (l *Links) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /install", l.ServeInstall)
	mux.HandleFunc("GET /install/callback", l.ServeCallback)
}

func installError(message string) error { return apierror.New(apierror.CodeBadRequest, message) }

func (l *Links) configured() error {
	if l.cfg.AppID == "" || l.cfg.PublicURL == "" {
		return apierror.New(apierror.CodeUnavailable, "install links are not configured: set STRIPE_APP_ID and APPBACKEND_PUBLIC_URL")
	}
	return nil
}

func (l *Links) redirectURI() string {
	return strings.TrimRight(l.cfg.PublicURL, "/") + "/install/callback"
}

// ServeInstall is GET /install: a fresh state, signed and bound to this browser by a
// cookie, then a 302 to Stripe's install page. It stores nothing: anyone may call it,
// as often as they like. ?mode=test asks for a test-mode install; every other query
// parameter is given back on the return to APPBACKEND_INSTALL_RETURN_URL.
func (l *Links) ServeInstall(w http.ResponseWriter, r *http.Request) {
	if err := l.configured(); err != nil {
		l.cfg.WriteErrorFunc(w, r, err)
		return
	}
	q := r.URL.Query()
	livemode := true
	switch q.Get("mode") {
	case "", "live":
	case "test":
		livemode = false
	default:
		l.cfg.WriteErrorFunc(w, r, installError(`mode must be "live" or "test"`))
		return
	}
	q.Del("mode")
	returnQuery := q.Encode()
	if len(returnQuery) > maxReturnQuery {
		l.cfg.WriteErrorFunc(w, r, installError(fmt.Sprintf("the return data is over %d bytes", maxReturnQuery)))
		return
	}
	ttl := l.cfg.StateTTL
	if ttl <= 0 {
		ttl = DefaultInstallStateTTL
	}
	cookie := newInstallCookie(returnQuery)
	state := l.signState(installState{livemode: livemode, expiresAt: time.Now().Add(ttl)}, cookie)

	http.SetCookie(w, &http.Cookie{
		Name: installCookie, Value: cookie, Path: "/install", MaxAge: int(ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(l.cfg.PublicURL, "https://"),
	})
	target := l.cfg.InstallURL
	if target == "" {
		target = DefaultInstallURL
	}
	u, err := url.Parse(target)
	if err != nil {
		l.cfg.WriteErrorFunc(w, r, fmt.Errorf("install URL: %w", err))
		return
	}
	tq := u.Query()
	tq.Set("client_id", l.cfg.AppID)
	tq.Set("redirect_uri", l.redirectURI())
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

// signState makes the state of st for the browser holding cookie, signed with
// the first app secret.
func (l *Links) signState(st installState, cookie string) string {
	b := make([]byte, 0, stateLen)
	flags := byte(0)
	if st.livemode {
		flags |= stateFlagLive
	}
	b = append(b, stateVersion, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(st.expiresAt.UnixMicro()))
	b = append(b, browserBinding(cookie)...)
	b = append(b, stateMAC(installStateKey(l.cfg.AppSecrets[0]), b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

var (
	errStateUnknown = errors.New("unknown state: start the install again from /install")
	errStateExpired = errors.New("this install link expired: start the install again from /install")
	errStateBrowser = errors.New("this install was started in another browser: start it again from /install in this one")
	errStateUsed    = errors.New("this install link was already used: start the install again from /install")
	// errCodeRefused: Stripe refused the OAuth code, and no stored tokens show that
	// the install's event traded it.
	errCodeRefused   = installError("Stripe refused the authorization code (already used or expired): start the install again from /install")
	errSignatureUsed = errors.New("this install_signature was already used: start the install again from /install")
)

// openState checks a state (made by this app with one of its secrets, unexpired,
// bound to cookie, "" for none) and returns what it holds.
func (l *Links) openState(state, cookie string, now time.Time) (installState, error) {
	var st installState
	b, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(b) != stateLen || b[0] != stateVersion {
		return st, errStateUnknown
	}
	body, mac := b[:stateLen-stateMACLen], b[stateLen-stateMACLen:]
	ok := false
	for _, s := range l.cfg.AppSecrets {
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

// installState is what a state says: the mode asked for, when it expires, and (from
// the cookie it is bound to) the return datl.
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

// verifySignature checks install_signature (t=…,v1=…, HMAC-SHA256 with the app's
// signing secrets, timestamps refused beyond the tolerance either way) over
// InstallSignedContent and returns the name of the content and the signature's key: a
// hash of its timestamp and signed content, the same however the header is spelled.
func (l *Links) verifySignature(sig, state, userID, accountID string) (string, string, error) {
	p := InstallSignedContent(state, userID, accountID)
	at, err := l.cfg.Verifier.VerifyPayload(sig, p)
	if err != nil {
		return "", "", err
	}
	name := InstallSignedStateUserAccount
	if state == "" {
		name = InstallSignedUserAccount
	}
	return name, hashHex(fmt.Sprintf("%d\n%s", at.Unix(), p)), nil
}

// ServeCallback is GET /install/callback, where Stripe sends the browser back
// after an install: it checks the state (this browser's, unexpired, unused), verifies
// install_signature over JSON.stringify({state, user_id, account_id}) (without state
// when none was sent), exchanges an OAuth app's code for tokens, and then, in one
// transaction, uses the state up, records the installation and the tokens and runs the
// install hooks. An OAuth app's redirect without install_signature is authenticated by
// the code exchange instead (the code is single-use and short-lived, the state binds it
// to this browser). A cancelled install lands on a page saying so; any other failure
// answers a JSON error and records nothing.
func (l *Links) ServeCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if err := l.configured(); err != nil {
		l.cfg.WriteErrorFunc(w, r, err)
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		l.cancelled(w, e, q.Get("error_description"))
		return
	}
	state, userID, accountID, sig, code := q.Get("state"), q.Get("user_id"), q.Get("account_id"), q.Get("install_signature"), q.Get("code")
	switch {
	case state != "" && !statePattern.MatchString(state):
		l.cfg.WriteErrorFunc(w, r, installError("malformed state: start the install again from /install"))
		return
	case !accountIDPattern.MatchString(accountID):
		l.cfg.WriteErrorFunc(w, r, installError("missing or malformed account_id"))
		return
	case !userIDPattern.MatchString(userID):
		l.cfg.WriteErrorFunc(w, r, installError("missing or malformed user_id"))
		return
	case sig == "" && code == "":
		l.cfg.WriteErrorFunc(w, r, installError("missing install_signature"))
		return
	case sig == "" && state == "":
		l.cfg.WriteErrorFunc(w, r, installError("an OAuth redirect without install_signature must carry the state GET /install sent: start the install again from /install"))
		return
	case q.Has("stripe_user_id") && q.Get("stripe_user_id") != accountID:
		l.cfg.WriteErrorFunc(w, r, installError("stripe_user_id and account_id name different accounts"))
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
		l.cfg.WriteErrorFunc(w, r, installError(`livemode must be "true" or "false"`))
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
		if st, err = l.openState(state, cookie, time.Now()); err != nil {
			l.cfg.WriteErrorFunc(w, r, installError(err.Error()))
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
		if signedAs, sigKey, err = l.verifySignature(sig, state, userID, accountID); err != nil {
			msg := "install_signature does not verify with the app's signing secrets"
			if errors.Is(err, appauth.ErrTooOld) || errors.Is(err, appauth.ErrTooNew) {
				msg = "install_signature is outside the time tolerance: start the install again from /install"
			}
			l.cfg.WriteErrorFunc(w, r, apierror.New(apierror.CodeSignatureInvalid, msg))
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
	used, err := l.cfg.Store.InstallStateUsed(ctx, hashHex(useKey))
	switch {
	case err != nil:
		l.cfg.WriteErrorFunc(w, r, err)
		return
	case used && state == "":
		l.cfg.WriteErrorFunc(w, r, installError(errSignatureUsed.Error()))
		return
	case used:
		l.cfg.WriteErrorFunc(w, r, installError(errStateUsed.Error()))
		return
	}

	var tok *oauth.Token
	exchangedElsewhere := false
	if code != "" {
		if l.cfg.Tokens == nil || l.cfg.Tokens.Keys().Empty() {
			l.cfg.WriteErrorFunc(w, r, apierror.New(apierror.CodeUnavailable, "this is an OAuth install, but APPBACKEND_ENCRYPTION_KEY is not set to store its tokens"))
			return
		}
		t, err := l.cfg.Tokens.Endpoint().Exchange(ctx, livemode, code)
		switch {
		case errors.Is(err, oauth.ErrInvalidGrant) && sig != "":
			// The install's apps.install.created event may have traded this very code
			// before the browser got here. The signature vouches for the redirect;
			// the transaction below completes it if that account's tokens are stored
			// in this mode, and refuses it as before if not.
			exchangedElsewhere = true
		case errors.Is(err, oauth.ErrInvalidGrant):
			l.cfg.WriteErrorFunc(w, r, errCodeRefused)
			return
		case err != nil:
			l.Logger().WarnContext(ctx, "OAuth code exchange failed", "account_id", accountID, "err", err)
			l.cfg.WriteErrorFunc(w, r, apierror.New(apierror.CodeStripeError, "the code exchange with Stripe failed; try again"))
			return
		case t.StripeUserID != "" && t.StripeUserID != accountID:
			l.cfg.WriteErrorFunc(w, r, installError("the authorization code is for another account"))
			return
		case sig == "" && t.StripeUserID == "":
			// The exchange is what authenticates this redirect: it must name the account.
			l.cfg.WriteErrorFunc(w, r, installError("Stripe's code exchange did not say which account installed: start the install again from /install"))
			return
		}
		if !exchangedElsewhere {
			livemode = t.Livemode
			tok = &t
		}
	}

	now := time.Now()
	err = store.InTx(ctx, l.cfg.Store.DB(), func(tx *sql.Tx) error {
		if err := l.useState(ctx, tx, useKey, sigKey, accountID, userID, signedAs, st, now); err != nil {
			return err
		}
		if exchangedElsewhere {
			// Locked first: an event still trading the code holds the installation
			// until its tokens commit, and this waits for them.
			if _, err := l.cfg.Store.LockInstallationTx(ctx, tx, accountID, livemode); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if ok, err := l.cfg.Tokens.ActiveTx(ctx, tx, accountID, livemode); err != nil || !ok {
				return cmp.Or(err, errCodeRefused)
			}
		}
		hctx := store.WithTx(ctx, tx)
		if err := l.cfg.Lifecycle.Record(hctx, accountID, livemode, l.cfg.AppID, hashHex(useKey)[:16], now); err != nil {
			return err
		}
		if tok != nil {
			return l.cfg.Tokens.SaveTx(ctx, tx, accountID, livemode, userID, *tok)
		}
		return nil
	})
	if errors.Is(err, errCodeRefused) {
		l.cfg.WriteErrorFunc(w, r, err)
		return
	}
	if errors.Is(err, errStateUsed) || errors.Is(err, errSignatureUsed) {
		l.cfg.WriteErrorFunc(w, r, installError(err.Error()))
		return
	}
	if err != nil {
		l.cfg.WriteErrorFunc(w, r, err)
		return
	}
	// Uses no state or signature would pass any more go with the next install; a
	// failure here changes nothing that matters. The minute covers replicas' clocks.
	_, _ = l.cfg.Store.DeleteInstallUses(ctx, now.Add(-time.Minute))
	l.Logger().InfoContext(ctx, "installed through an install link", "account_id", accountID, "user_id", userID,
		"livemode", livemode, "oauth", tok != nil, "signed_as", signedAs)
	http.SetCookie(w, &http.Cookie{Name: installCookie, Value: "", Path: "/install", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})

	if l.cfg.ReturnURL == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = installedPage.Execute(w, struct{ Account string }{accountID})
		return
	}
	u, err := url.Parse(l.cfg.ReturnURL)
	if err != nil {
		l.cfg.WriteErrorFunc(w, r, fmt.Errorf("APPBACKEND_INSTALL_RETURN_URL: %w", err))
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

// useState records, in tx, that state was used with the install_signature
// whose key is sigKey, or fails with errStateUsed if the state was used before, or
// with errSignatureUsed if the signature already completed maxUsesPerSignature states.
// Only a verified signature gets here, so the rows are bounded by genuine Stripe
// redirects, and each goes once neither its state nor its signature can pass again.
func (l *Links) useState(ctx context.Context, tx *sql.Tx, state, sigKey, accountID, userID, signedAs string, st installState, now time.Time) error {
	// A signature's timestamp may lie up to the tolerance ahead, and passes until the
	// tolerance after it.
	expires := now.Add(2 * appauth.DefaultTolerance)
	if st.expiresAt.After(expires) {
		expires = st.expiresAt
	}
	inserted, uses, err := l.cfg.Store.UseInstallStateTx(ctx, tx, store.InstallUse{
		StateHash: hashHex(state), SignatureKey: sigKey, AccountID: accountID, UserID: userID,
		SignedAs: signedAs, UsedAt: now, ExpiresAt: expires,
	})
	switch {
	case err != nil:
		return err
	case !inserted:
		return errStateUsed
	case uses > maxUsesPerSignature:
		return errSignatureUsed
	}
	return nil
}

// cancelled answers a redirect that carries error=… (the merchant cancelled, or
// Stripe could not complete the install) with a page a person can read: nothing
// happened, and how to try again.
func (l *Links) cancelled(w http.ResponseWriter, code, description string) {
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
		title, trimFor(code), trimFor(description), strings.TrimRight(l.cfg.PublicURL, "/") + "/install", l.cfg.ReturnURL,
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
