package stripeclient

import (
	"context"
	"time"

	"github.com/stripe/stripe-go/v85"
)

// Scope is where a Secret Store secret lives: shared by the account (every dashboard
// user of the account and the backend) or private to one user of it (and the backend).
// Stripe keeps at most 10 secrets per scope. Build one with AccountScope or UserScope.
type Scope struct {
	user    string
	isUser  bool
	defined bool
}

// AccountScope is the scope of secrets shared by the whole account, like a third-party
// API key.
func AccountScope() Scope { return Scope{defined: true} }

// UserScope is the scope of one dashboard user's secrets, like that user's OAuth token
// for another service. userID is the signed user (usr_…).
func UserScope(userID string) Scope { return Scope{user: userID, isUser: true, defined: true} }

func (s Scope) check() error {
	switch {
	case !s.defined:
		return refuse("", "Secret Store call without a scope: use AccountScope() or UserScope(userID)")
	case s.isUser && s.user == "":
		return refuse("", "Secret Store user scope without a user id")
	}
	return nil
}

func (s Scope) typ() *string {
	if s.isUser {
		return stripe.String(string(stripe.AppsSecretScopeTypeUser))
	}
	return stripe.String(string(stripe.AppsSecretScopeTypeAccount))
}

func (s Scope) userID() *string {
	if s.isUser {
		return stripe.String(s.user)
	}
	return nil
}

// SecretStore reaches the app's Secret Store (/v1/apps/secrets) on the client's account
// and mode.
type SecretStore struct{ c *Client }

// Secrets returns the Secret Store of the client's account and mode.
func (c *Client) Secrets() SecretStore { return SecretStore{c: c} }

// Set creates the secret name in scope, or replaces its payload if it exists. Setting
// is idempotent by nature, so Set and Delete ignore the context's idempotency key: a job
// that stores a payload it fetched anew on each attempt (a refreshed OAuth token) must
// not meet Stripe's "same key, other parameters" error.
func (s SecretStore) Set(ctx context.Context, scope Scope, name, payload string) (*stripe.AppsSecret, error) {
	return s.SetExpiring(ctx, scope, name, payload, time.Time{})
}

// SetExpiring is Set with a time after which Stripe deletes the secret (zero: never).
func (s SecretStore) SetExpiring(ctx context.Context, scope Scope, name, payload string, expiresAt time.Time) (*stripe.AppsSecret, error) {
	if err := checkSecret(scope, name); err != nil {
		return nil, err
	}
	p := &stripe.AppsSecretCreateParams{
		Name:    stripe.String(name),
		Payload: stripe.String(payload),
		Scope:   &stripe.AppsSecretCreateScopeParams{Type: scope.typ(), User: scope.userID()},
	}
	if !expiresAt.IsZero() {
		p.ExpiresAt = stripe.Int64(expiresAt.Unix())
	}
	p.SetIdempotencyKey(stripe.NewIdempotencyKey())
	return s.c.V1AppsSecrets.Create(ctx, p)
}

// Find returns the secret name in scope with its payload. A secret that does not exist
// is an error for which IsNotFound is true.
func (s SecretStore) Find(ctx context.Context, scope Scope, name string) (*stripe.AppsSecret, error) {
	if err := checkSecret(scope, name); err != nil {
		return nil, err
	}
	p := &stripe.AppsSecretFindParams{
		Name:  stripe.String(name),
		Scope: &stripe.AppsSecretFindScopeParams{Type: scope.typ(), User: scope.userID()},
	}
	p.AddExpand("payload")
	return s.c.V1AppsSecrets.Find(ctx, p)
}

// Delete removes the secret name from scope. Deleting a secret that does not exist is
// not an error, so a retried job may delete again.
func (s SecretStore) Delete(ctx context.Context, scope Scope, name string) error {
	if err := checkSecret(scope, name); err != nil {
		return err
	}
	p := &stripe.AppsSecretDeleteWhereParams{
		Name:  stripe.String(name),
		Scope: &stripe.AppsSecretDeleteWhereScopeParams{Type: scope.typ(), User: scope.userID()},
	}
	p.SetIdempotencyKey(stripe.NewIdempotencyKey())
	_, err := s.c.V1AppsSecrets.DeleteWhere(ctx, p)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// List returns the secrets of scope, without their payloads (Find reads one).
func (s SecretStore) List(ctx context.Context, scope Scope) ([]*stripe.AppsSecret, error) {
	if err := scope.check(); err != nil {
		return nil, err
	}
	p := &stripe.AppsSecretListParams{
		Scope: &stripe.AppsSecretListScopeParams{Type: scope.typ(), User: scope.userID()},
	}
	var out []*stripe.AppsSecret
	for secret, err := range s.c.V1AppsSecrets.List(ctx, p).All(ctx) {
		if err != nil {
			return nil, err
		}
		out = append(out, secret)
	}
	return out, nil
}

func checkSecret(scope Scope, name string) error {
	if err := scope.check(); err != nil {
		return err
	}
	if name == "" {
		return refuse("", "Secret Store call without a secret name")
	}
	return nil
}
