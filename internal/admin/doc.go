// Package admin is appbackend's operator dashboard and its JSON API, served under
// /admin/ behind APPBACKEND_ADMIN_TOKEN.
//
// # Pages
//
//	GET  /admin/               installations: installs and uninstalls per day (an SVG
//	                           chart drawn on the server), active installs by mode, and a
//	                           searchable table of accounts
//	GET  /admin/events         the inbox, filtered by status, type, account and mode
//	GET  /admin/events/{id}    one event: its raw JSON, attempts, last error, a replay button
//	POST /admin/events/{id}/replay
//	GET  /admin/jobs           River jobs (recent, failing, next) and schedules
//	POST /admin/login, POST /admin/logout
//
// The pages are rendered with html/template; their stylesheet is embedded and inlined
// under a per-response CSP nonce, and they use no JavaScript at all, so the dashboard
// works offline and with scripts disabled. An event page refreshes itself (a meta
// refresh) while the event waits to be processed.
//
// # JSON API
//
//	GET  /admin/api/installations?q=&mode=&status=&limit=
//	GET  /admin/api/events?status=&type=&account=&mode=&limit=
//	GET  /admin/api/events/{id}
//	POST /admin/api/events/{id}/replay
//	GET  /admin/api/jobs
//	GET  /admin/api/schedules
//	GET  /admin/api/stats
//
// Listings answer {"data":[…],"has_more":bool}; errors are the contract's
// {"error":{"code","message"}}.
//
// # Authentication
//
// A request is authenticated by `Authorization: Bearer <token>` (any route, meant for
// the API) or by the session cookie that the login form sets. The cookie holds an
// expiry and an HMAC of it under a key derived from the token — never the token — so
// changing the token ends every session. It is HttpOnly, SameSite=Strict, limited to
// /admin/, and Secure when the request came over TLS or through a proxy that says
// X-Forwarded-Proto: https (on plain-HTTP loopback development a Secure cookie would
// never be sent back). The server passes that header, and X-Forwarded-For (the
// client address the sign-in is throttled by), only from APPBACKEND_TRUSTED_PROXIES. Without either, every route answers 401: a page with the login
// form, the API with a JSON error. Only POST /admin/login is reachable without them.
//
// State-changing routes (login, logout, replay) are behind
// [http.CrossOriginProtection]: a cross-origin browser POST is refused with 403 — a
// reverse proxy must keep the Host header, or list the public origin in
// Config.TrustedOrigins. No admin route sends CORS headers. The token is never
// written into a page, a URL or a log line; tokens are compared in constant time.
package admin
