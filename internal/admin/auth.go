package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/appbackend/appbackend/internal/apierror"
)

// SessionCookie is the name of the login cookie.
const SessionCookie = "appbackend_admin_session"

// maxLoginBody bounds the login form; a token is far shorter.
const maxLoginBody = 4 << 10

// sessionKey signs session cookies. It is derived from the token, so that the cookie
// proves knowledge of the token without holding it, and a new token ends old sessions.
type sessionKey struct {
	mac         []byte
	tokenDigest [sha256.Size]byte
}

func newSessionKey(token string) sessionKey {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("appbackend admin session v1"))
	return sessionKey{mac: m.Sum(nil), tokenDigest: sha256.Sum256([]byte(token))}
}

// tokenMatches compares a presented token with the configured one in constant time
// (digests first, so that not even the length leaks).
func (k sessionKey) tokenMatches(presented string) bool {
	d := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(d[:], k.tokenDigest[:]) == 1
}

func (k sessionKey) sign(payload string) string {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue returns a session value valid until exp: "v1.<unix expiry>.<mac>".
func (k sessionKey) issue(exp time.Time) string {
	payload := "v1." + strconv.FormatInt(exp.Unix(), 10)
	return payload + "." + k.sign(payload)
}

// valid reports whether v is an unexpired session issued with this key.
func (k sessionKey) valid(v string, now time.Time) bool {
	i := strings.LastIndexByte(v, '.')
	if i < 0 {
		return false
	}
	payload, mac := v[:i], v[i+1:]
	if !hmac.Equal([]byte(mac), []byte(k.sign(payload))) {
		return false
	}
	exp, err := strconv.ParseInt(strings.TrimPrefix(payload, "v1."), 10, 64)
	return err == nil && strings.HasPrefix(payload, "v1.") && now.Unix() < exp
}

// authenticated reports whether r carries the token as a bearer or a valid session;
// wait is non-zero when r's address is throttled and its bearer token was not tried.
// A session cookie is checked even then: its MAC cannot be guessed, and an admin
// behind the same address as a guesser keeps working.
func (h *Handler) authenticated(r *http.Request) (ok bool, wait time.Duration) {
	if c, err := r.Cookie(SessionCookie); err == nil && h.sessions.valid(c.Value, h.Now()) {
		return true, 0
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			addr, now := clientAddr(r), h.Now()
			if wait := h.throttle.wait(addr, now); wait > 0 {
				h.failures.record(addr, true)
				return false, wait
			}
			if h.sessions.tokenMatches(strings.TrimSpace(token)) {
				return true, 0
			}
			h.throttle.fail(addr, now)
			h.failures.record(addr, false)
		}
	}
	return false, 0
}

// throttled answers 429 with Retry-After: rate_limited JSON for the API, the login
// page with a message otherwise.
func (h *Handler) throttled(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := retryAfter(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	msg := "Too many failed sign-ins from this address; try again in " + strconv.Itoa(secs) + " seconds."
	if isAPI(r) {
		apierror.Write(w, r, h.Logger(), &apierror.Error{Code: apierror.CodeRateLimited, Message: msg})
		return
	}
	h.renderLogin(w, r, http.StatusTooManyRequests, msg)
}

// requireAuth answers 401 unless r is authenticated: the login form for pages, a JSON
// error for the API.
func (h *Handler) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := h.authenticated(r)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		if wait > 0 {
			h.throttled(w, r, wait)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="appbackend admin"`)
		if isAPI(r) {
			apierror.Write(w, r, h.Logger(), apierror.New(apierror.CodeUnauthorized,
				"admin authentication required: send Authorization: Bearer <APPBACKEND_ADMIN_TOKEN>"))
			return
		}
		h.renderLogin(w, r, http.StatusUnauthorized, "")
	})
}

// secureRequest reports whether the browser reached us over HTTPS, directly or
// through a proxy. A Secure cookie is not sent back over plain HTTP, so local
// development on http://127.0.0.1 gets a cookie without it.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/admin/",
		MaxAge:   maxAge,
		Secure:   secureRequest(r),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

// login is POST /admin/login: the token from the form, a session cookie in return.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		h.renderLogin(w, r, http.StatusBadRequest, "The form could not be read; try again.")
		return
	}
	addr, now := clientAddr(r), h.Now()
	if wait := h.throttle.wait(addr, now); wait > 0 {
		h.failures.record(addr, true)
		h.throttled(w, r, wait)
		return
	}
	if !h.sessions.tokenMatches(r.PostFormValue("token")) {
		h.throttle.fail(addr, now)
		h.failures.record(addr, false)
		w.Header().Set("WWW-Authenticate", `Bearer realm="appbackend admin"`)
		h.renderLogin(w, r, http.StatusUnauthorized, "That is not the admin token.")
		return
	}
	ttl := h.cfg.SessionTTL
	h.setSession(w, r, h.sessions.issue(h.Now().Add(ttl)), int(ttl/time.Second))
	h.Logger().InfoContext(r.Context(), "admin login", "remote_addr", r.RemoteAddr)
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

// logout is POST /admin/logout. Sessions are stateless: this removes the browser's
// cookie; changing the token ends every session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	h.setSession(w, r, "", -1)
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

// loginPage is GET /admin/login once logged in: there is nothing to do there.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}
