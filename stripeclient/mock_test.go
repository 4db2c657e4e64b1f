package stripeclient_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/stripeclient"
)

// mockClient is a client bound to account in test mode against stripe-mock, which
// validates every request against Stripe's OpenAPI spec.
func mockClient(t *testing.T, account string) (*stripeclient.Clients, *stripeclient.Client) {
	t.Helper()
	clients, err := stripeclient.New(stripeclient.Config{
		Keys:    stripeclient.Keys{Test: appbackendtest.TestSecretKey},
		APIBase: appbackendtest.StripeMockURL(t),
	})
	require.NoError(t, err)
	sc, err := clients.Client(account, stripeclient.Test)
	require.NoError(t, err)
	return clients, sc
}

func TestStripeMockShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(t *testing.T, sc *stripeclient.Client)
	}{
		{"customer create on an account", func(t *testing.T, sc *stripeclient.Client) {
			cus, err := sc.V1Customers.Create(stripeclient.WithJob(t.Context(), 1), &stripe.CustomerCreateParams{
				Email: stripe.String("jenny@example.test"),
				Name:  stripe.String("Jenny Rosen"),
			})
			require.NoError(t, err)
			require.NotEmpty(t, cus.ID)
			require.Equal(t, "customer", cus.Object)
		}},
		{"account retrieve by id", func(t *testing.T, sc *stripeclient.Client) {
			acct, err := sc.V1Accounts.GetByID(t.Context(), sc.Account(), nil)
			require.NoError(t, err)
			require.Equal(t, "account", acct.Object)
		}},
		{"account display name", func(t *testing.T, sc *stripeclient.Client) {
			_, err := sc.DisplayName(t.Context())
			require.NoError(t, err)
		}},
		{"balance retrieve", func(t *testing.T, sc *stripeclient.Client) {
			bal, err := sc.V1Balance.Retrieve(t.Context(), nil)
			require.NoError(t, err)
			require.Equal(t, "balance", bal.Object)
		}},
		{"customer list pages", func(t *testing.T, sc *stripeclient.Client) {
			p := &stripe.CustomerListParams{}
			p.Limit = stripe.Int64(3)
			p.Single = true
			n := 0
			for cus, err := range sc.V1Customers.List(t.Context(), p).All(t.Context()) {
				require.NoError(t, err)
				require.NotEmpty(t, cus.ID)
				n++
			}
			require.Positive(t, n)
		}},
		{"invalid parameters are the caller's 400", func(t *testing.T, sc *stripeclient.Client) {
			p := &stripe.CustomerCreateParams{}
			p.AddExtra("no_such_parameter", "x")
			_, err := sc.V1Customers.Create(t.Context(), p)
			var e *stripeclient.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, 400, e.Status)
			require.Equal(t, apierror.CodeBadRequest, e.Code)
			require.False(t, stripeclient.IsRetryable(err))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, sc := mockClient(t, "acct_mockmerchant")
			tt.call(t, sc)
		})
	}
}

func TestStripeMockSecretStoreShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		scope stripeclient.Scope
	}{
		{"account scope", stripeclient.AccountScope()},
		{"user scope", stripeclient.UserScope("usr_mockuser")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, sc := mockClient(t, "acct_mockmerchant")
			ctx := t.Context()
			secrets := sc.Secrets()
			set, err := secrets.Set(ctx, tt.scope, "oauth_token", "tok_123")
			require.NoError(t, err)
			require.Equal(t, "apps.secret", set.Object)
			_, err = secrets.SetExpiring(ctx, tt.scope, "oauth_token", "tok_123", time.Now().Add(24*time.Hour))
			require.NoError(t, err)
			found, err := secrets.Find(ctx, tt.scope, "oauth_token")
			require.NoError(t, err)
			require.Equal(t, "apps.secret", found.Object)
			list, err := secrets.List(ctx, tt.scope)
			require.NoError(t, err)
			require.NotEmpty(t, list)
			require.NoError(t, secrets.Delete(ctx, tt.scope, "oauth_token"))
		})
	}
}

func TestStripeMockPing(t *testing.T) {
	t.Parallel()
	clients, _ := mockClient(t, "acct_mockmerchant")
	require.NoError(t, clients.Ping(t.Context()))
}
