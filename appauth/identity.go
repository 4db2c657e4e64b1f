package appauth

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/appbackend/appbackend/internal/jsjson"
)

// SignedAs says which candidate string a request's signature covered.
type SignedAs uint8

const (
	// SignedDefault: only {"user_id":…,"account_id":…} was signed. Nothing else in the body
	// is authenticated.
	SignedDefault SignedAs = iota + 1
	// SignedBody: the raw body bytes were signed; the whole body is authenticated.
	SignedBody
	// SignedStringified: the body, printed as JSON.stringify prints it, was signed; the
	// whole body is authenticated (it was re-encoded on the way, e.g. pretty-printed).
	SignedStringified
	// SignedQuery: a request without a body whose query string carries livemode, signed
	// as {"livemode":…,"user_id":…,"account_id":…}: what fetchStripeSignature({livemode})
	// signs. The mode is authenticated (Identity.Payload is {"livemode":…}); there is no
	// body.
	SignedQuery
)

// String returns "default", "body", "stringified" or "query".
func (s SignedAs) String() string {
	switch s {
	case SignedDefault:
		return "default"
	case SignedBody:
		return "body"
	case SignedStringified:
		return "stringified"
	case SignedQuery:
		return "query"
	}
	return "unsigned"
}

// CoversBody reports whether the signature authenticates more than the user and account:
// the whole body (SignedBody, SignedStringified), or, for a request without a body, the
// query's livemode (SignedQuery). Identity.Payload then holds what was signed besides the
// user and account.
func (s SignedAs) CoversBody() bool {
	return s == SignedBody || s == SignedStringified || s == SignedQuery
}

// Identity is what a verified UI-extension request proves: a Dashboard user of an account
// asked for it, at SignedAt.
type Identity struct {
	UserID    string
	AccountID string
	// Roles holds the ids of the roles in a signed stripe_roles payload key (built-in ids
	// such as "admin" or "view_only", or a custom role's id). Stripe refuses to sign a role
	// the user does not have, so each one is proven; a role missing from the list proves
	// nothing. Role names are ignored: a custom role named "admin" is not the built-in admin.
	// Nil unless the signature covers the body.
	Roles []string
	// Payload is the signed object without user_id and account_id, printed as
	// JSON.stringify prints it; nil when only the default pair was signed. For a request
	// without a body signed with its query's livemode (SignedQuery) it is
	// {"livemode":true} or {"livemode":false}.
	Payload json.RawMessage
	// SignedAs records which candidate string the signature covered.
	SignedAs SignedAs
	// FromQuery reports that the request had no body (a GET, a DELETE): the user, the
	// account and a signed livemode came from its query string. Such a request names its
	// mode with ?livemode=, signed (SignedQuery), not in a payload.
	FromQuery bool
	// SignedAt is the signature's timestamp.
	SignedAt time.Time
}

// HasRole reports whether the identity holds at least one of ids (any-of).
func (id *Identity) HasRole(ids ...string) bool {
	if id == nil {
		return false
	}
	for _, want := range ids {
		if slices.Contains(id.Roles, want) {
			return true
		}
	}
	return false
}

type contextKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the Identity that Protect (or NewContext) stored in ctx.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(contextKey{}).(*Identity)
	return id, ok && id != nil
}

// rolesOf returns the string ids of the objects in body's top-level stripe_roles array.
// Entries without a string id (or that are not objects) prove no role and are skipped.
func rolesOf(body jsjson.Value) []string {
	if body.Kind != jsjson.Object {
		return nil
	}
	list, ok := body.Members.Get("stripe_roles")
	if !ok || list.Kind != jsjson.Array {
		return nil
	}
	var roles []string
	for _, role := range list.Elems {
		if role.Kind != jsjson.Object {
			continue
		}
		if id, ok := role.Members.Get("id"); ok && id.Kind == jsjson.String && id.Text != "" {
			roles = append(roles, id.Text)
		}
	}
	return roles
}
