package appbackend

import "github.com/appbackend/appbackend/internal/oauth"

// RestrictedKeyRoute is the built-in signed route of restricted-key apps
// (stripe_api_access_type "restricted_api_key"): on install Stripe shows the merchant a
// restricted key that they paste into the app's settings view. POST stores the
// merchant's key ({"restricted_key":"rk_…"} in the signed payload) once Stripe confirms
// it is the signed account's, in the signed mode; GET tells which key is stored (its
// last 4 characters at most). From then on Stripe(ctx) calls with that key. The route
// is internal/oauth's RestrictedKeys service.
const RestrictedKeyRoute = oauth.RestrictedKeyRoute
