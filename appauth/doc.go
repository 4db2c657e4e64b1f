// Package appauth authenticates requests from a Stripe App's UI extension, and checks
// webhook signatures with the same machinery.
//
// # How a UI extension signs a request
//
// A UI extension calls fetchStripeSignature(payload?). Stripe adds the signed-in user and
// their account and returns a Stripe-Signature header value:
//
//	Stripe-Signature: t=1700000000,v1=95d377f7216b002bc8462ad7ad1c21ae33f54bfd7f12f1fe86f43cfd56123df3
//
// where v1 is HMAC-SHA256, keyed with the whole app signing secret (absec_…), over
// "<t>.<signed string>". Without a payload the signed string is exactly
//
//	{"user_id":"usr_…","account_id":"acct_…"}
//
// and the extension sends user_id and account_id in its JSON body, usually beside other
// request data that the signature does NOT cover. With a payload the signed string is
// JavaScript's JSON.stringify({...payload, user_id, account_id}) and the extension sends
// exactly that string as the body. While a secret is being expired Stripe signs with both
// the old and the new secret and puts one v1 per secret in the header.
//
// # What the Verifier accepts
//
// A Verifier holds one or more secrets (NewVerifier). VerifyRequest parses the header
// (ParseHeader), requires its timestamp to lie within the tolerance — 300 seconds by default
// — in the past or the future, reads the claimed user_id and account_id from the body's
// top level (or, for a request without a body such as GET or DELETE, from the query string
// ?user_id=…&account_id=…), and accepts the request when any v1 is the signature, under
// any secret, of one of these candidate strings, tried in order:
//
//	(a) the default {"user_id":…,"account_id":…} built from the claimed identity;
//	(b) the raw body bytes;
//	(c) the body printed exactly as JSON.stringify prints it (integer-like keys first,
//	    JavaScript string escaping and number formatting), so that a body that was
//	    pretty-printed or re-encoded on its way still verifies.
//
// Identity.SignedAs records which one matched. Only (b) and (c) authenticate the rest of
// the body: after (a), nothing but the user and account is trusted, and Identity.Payload
// and Identity.Roles stay nil.
//
// A request without a body can sign one thing besides the ids: its Stripe mode. The
// extension calls fetchStripeSignature({livemode}) and sends
// ?livemode=true|false&user_id=…&account_id=… (parameters in any order); the string the
// Verifier rebuilds is then {"livemode":…,"user_id":…,"account_id":…}, livemode first,
// and a match is SignedQuery with Identity.Payload {"livemode":…} (QueryFor builds the
// query for tools and tests). A query livemode that the signature does not cover is
// ErrLivemodeNotSigned (401 signature_invalid, saying how to sign it): it is neither
// trusted nor dropped, since serving the request in a mode picked otherwise would answer
// for the wrong mode. Roles come from the ids (never the names) of a signed
// stripe_roles payload key; Stripe refuses to sign roles the user does not hold.
//
// Comparisons are constant-time. Checking a default-signed request (VerifySignature, the
// check inside VerifyRequest) or a webhook payload (VerifyPayload, for whsec_… secrets)
// allocates nothing: each secret's HMAC pad state is computed once and reused, the header
// is decoded in place, and the body is scanned for its identity without building a value,
// by a scanner that never disagrees with the full JSON.parse-strict parser (it defers to
// it whenever it is not sure). VerifyRequest then allocates only the Identity and its two
// strings.
//
// What an unsigned request can cost is bounded by its body, not by its shape: until a
// signature matches, the body is never built into a tree. Candidate (c) is printed
// straight from the body's bytes (in O(n) time, with scratch space that is reused), the
// identity of a body the scanner is unsure about is looked up, not parsed, and requests
// with a body over LargeBody bytes are checked at most GOMAXPROCS/2 at a time
// (WithLargeBodyLimit; ErrBusy once the wait runs out), so that a flood of large forged
// bodies leaves CPU to the small requests of honest callers.
//
// Errors for bad input wrap one of the exported sentinels (ErrNotSigned,
// ErrMalformedHeader, ErrNoTimestamp, ErrNoSignatures, ErrTooOld, ErrTooNew,
// ErrNoValidSignature, ErrLivemodeNotSigned, ErrBadBody, ErrNoIdentity, ErrBadLivemode,
// ErrBusy), so callers can use errors.Is;
// SignatureFailure sorts the signature failures into missing, malformed, expired and
// invalid (for metrics and logs), and HTTPError maps them to the contract's codes. No
// error text contains a secret, a signature or a piece of the header.
//
// # HTTP
//
// Protect (or Middleware, its func(http.Handler) http.Handler form) wraps any net/http
// handler: it answers CORS preflights, sets Access-Control-Allow-Origin: * on every
// response of the route (the extension runs with a null origin), refuses a header that
// cannot verify before reading any of the body, limits and reads the body (its buffer grows
// with the bytes that arrive, not with the Content-Length announced), verifies the
// request, answers failures with the JSON errors of the public contract
//
//	401 signature_missing   no Stripe-Signature header
//	401 signature_invalid   malformed header, or no signature matches
//	401 signature_expired   timestamp outside the tolerance, past or future
//	400 bad_request         body not JSON, no string user_id/account_id, or a query
//	                        livemode that is not true or false (ErrBadLivemode)
//	413 body_too_large      body over the limit (1 MiB by default)
//	503 unavailable         large body while every large-body slot stayed busy (Retry-After)
//
// and otherwise calls the handler with the Identity in the request context (FromContext)
// and the body readable again. RequireRole adds a 403 role_required check on top (any of
// the listed role ids admits). When a router sends OPTIONS elsewhere (a ServeMux pattern
// such as "POST /api/whoami" does), mount Preflight for "OPTIONS /api/"; CORS wraps the
// rest of a signed subtree (its 404s, say) so that every response carries the header.
//
// # Roles
//
// A UI extension proves its user's Dashboard roles by signing them: it passes
// userContext.roles to fetchStripeSignature under the payload key stripe_roles, a list
// of RoleDefinition objects,
//
//	{"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"},
//	                 {"id":"role_1Abc","name":"Refunds","type":"custom"}], …}
//
// where type is "builtIn" for Stripe's built-in roles (admin, super_admin, developer,
// view_only, analyst, …) and "custom" for a role the account defined. Stripe refuses to
// sign a role the user does not hold, so a verified stripe_roles proves the user has
// those roles; a missing role proves nothing. The Verifier reads only the ids
// (Identity.Roles, Identity.HasRole); names and types are ignored. RequireRole guards a
// route with them:
//
//	mux.Handle("POST /api/refunds", verifier.Protect(appauth.RequireRole("admin", "super_admin")(refunds)))
//
// or, on an appbackend.App, app.Handle("POST /api/refunds", appauth.RequireRole("admin")(refunds)).
// `appbackend call … --role admin` and appbackendtest's Caller.WithRoles sign roles in
// this shape for tests and local development.
//
// # Signing
//
// Sign produces what Stripe and the SDK would: the header (one v1 per secret, in the order
// given) and the exact body, so that a backend can be tested without Stripe. Its output
// passes stripe-go's webhook.ValidatePayload and stripe-node's
// webhooks.signature.verifyHeader.
package appauth
