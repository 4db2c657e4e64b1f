package stripeclient_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/stripeclient"
)

// BenchmarkClient is the cost of app.Stripe(ctx): binding a client to an account.
func BenchmarkClient(b *testing.B) {
	clients, err := stripeclient.New(stripeclient.Config{Keys: stripeclient.Keys{Test: testKey}})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := clients.Client("acct_bench", stripeclient.Test); err != nil {
			require.FailNow(b, fmt.Sprint(err))
		}
	}
}

// BenchmarkCall compares a bound call with a plain stripe-go call on the same loopback
// fake: the cost of binding, the concurrency limit and the error mapping per call.
func BenchmarkCall(b *testing.B) {
	fake := setupBench(b)
	b.Run("bound", func(b *testing.B) {
		clients, err := stripeclient.New(stripeclient.Config{Keys: stripeclient.Keys{Test: testKey}, APIBase: fake})
		require.NoError(b, err)
		sc, err := clients.Client("acct_bench", stripeclient.Test)
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sc.V1Balance.Retrieve(b.Context(), nil); err != nil {
				require.FailNow(b, fmt.Sprint(err))
			}
		}
	})
	b.Run("plain-stripe-go", func(b *testing.B) {
		sc := stripe.NewClient(testKey, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
			URL: stripe.String(fake), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		})))
		b.ReportAllocs()
		for b.Loop() {
			p := &stripe.BalanceRetrieveParams{}
			p.SetStripeAccount("acct_bench")
			_, err := sc.V1Balance.Retrieve(b.Context(), p)
			require.NoError(b, err)
		}
	})
}

func setupBench(b *testing.B) string {
	b.Helper()
	fake := appbackendtest.NewStripeFake(b)
	return fake.URL
}
