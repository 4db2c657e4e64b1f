// Package striperoles builds the stripe_roles payload key a UI extension signs to prove
// its user's Dashboard roles, for the test kit and `appbackend call --role`.
//
// A UI extension passes userContext.roles to fetchStripeSignature under stripe_roles: a
// list of RoleDefinition objects
//
//	[{"id":"admin","name":"Administrator","type":"builtIn"},{"id":"role_…","name":"Refunds","type":"custom"}]
//
// Stripe refuses to sign a role the user does not hold. appbackend's verifier trusts the
// ids only; names and types are there because Stripe sends them.
package striperoles

import (
	"strings"

	"github.com/appbackend/appbackend/internal/jsjson"
)

// Key is the payload key that holds the roles.
const Key = "stripe_roles"

// builtIn are the ids of Stripe's built-in Dashboard roles.
var builtIn = map[string]bool{
	"admin": true, "super_admin": true, "developer": true, "analyst": true, "view_only": true,
	"support_specialist": true, "dispute_analyst": true, "iam_admin": true, "refund_analyst": true,
	"tax_analyst": true, "connect_onboarding_analyst": true, "sandbox_admin": true, "sandbox_user": true,
}

// Type is "builtIn" for one of Stripe's built-in role ids, "custom" for any other.
func Type(id string) string {
	if builtIn[id] {
		return "builtIn"
	}
	return "custom"
}

// Name is a readable name for a role id: "super_admin" → "Super admin".
func Name(id string) string {
	name := strings.ReplaceAll(id, "_", " ")
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// Value returns the stripe_roles value for ids, in their order:
// [{"id","name","type"}, …].
func Value(ids []string) jsjson.Value {
	list := jsjson.NewArray()
	for _, id := range ids {
		role := jsjson.NewObject()
		role.Members.Set("id", jsjson.StringValue(id))
		role.Members.Set("name", jsjson.StringValue(Name(id)))
		role.Members.Set("type", jsjson.StringValue(Type(id)))
		list.Elems = append(list.Elems, role)
	}
	return list
}
