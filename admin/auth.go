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

// authenticated reports whether r carries the token as a bearer or a valid session.
func (h *Handler) authenticated(r *http.Request) bool {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && h.sessions.tokenMatches(strings.TrimSpace(token)) {
			return true
		}
	}
	c, err := r.Cookie(SessionCookie)
	return err == nil && h.sessions.valid(c.Value, h.cfg.Now())
}

// requireAuth answers 401 unless r is authenticated: the login form for pages, a JSON
// error for the API.
func (h *Handler) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.authenticated(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="appbackend admin"`)
		if isAPI(r) {
			apierror.Write(w, r, h.logger, apierror.New(apierror.CodeUnauthorized,
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
	if !h.sessions.tokenMatches(r.PostFormValue("token")) {
		h.logger.WarnContext(r.Context(), "admin login refused", "remote_addr", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="appbackend admin"`)
		h.renderLogin(w, r, http.StatusUnauthorized, "That is not the admin token.")
		return
	}
	ttl := h.cfg.SessionTTL
	h.setSession(w, r, h.sessions.issue(h.cfg.Now().Add(ttl)), int(ttl/time.Second))
	h.logger.InfoContext(r.Context(), "admin login", "remote_addr", r.RemoteAddr)
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
