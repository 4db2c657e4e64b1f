package stripeclient_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/stripeclient"
)

func TestKeysValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		keys    stripeclient.Keys
		wantErr string // substring; "" means valid
	}{
		{name: "none", keys: stripeclient.Keys{}},
		{name: "both secret keys", keys: stripeclient.Keys{Live: "sk_live_abc123", Test: "sk_test_abc123"}},
		{name: "restricted keys", keys: stripeclient.Keys{Live: "rk_live_abc123", Test: "rk_test_abc123"}},
		{name: "test only", keys: stripeclient.Keys{Test: "sk_test_abc123"}},
		{name: "live key as test key", keys: stripeclient.Keys{Test: "sk_live_abc123"},
			wantErr: "STRIPE_TEST_SECRET_KEY holds a live-mode key (sk_live_…); it must be a test-mode key"},
		{name: "test key as live key", keys: stripeclient.Keys{Live: "rk_test_abc123"},
			wantErr: "STRIPE_SECRET_KEY holds a test-mode key (rk_test_…); it must be a live-mode key"},
		{name: "publishable key", keys: stripeclient.Keys{Test: "pk_test_abc123"},
			wantErr: "STRIPE_TEST_SECRET_KEY is a publishable key"},
		{name: "not a key", keys: stripeclient.Keys{Live: "whsec_abc123"},
			wantErr: "STRIPE_SECRET_KEY does not look like a Stripe secret key"},
		{name: "prefix only", keys: stripeclient.Keys{Test: "sk_test_"},
			wantErr: "STRIPE_TEST_SECRET_KEY does not look like a Stripe secret key"},
		{name: "inner whitespace", keys: stripeclient.Keys{Test: "sk_test_abc 123"},
			wantErr: "STRIPE_TEST_SECRET_KEY contains whitespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.keys.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, stripeclient.ErrConfig)
			require.Contains(t, err.Error(), tt.wantErr)
			require.NotContains(t, err.Error(), "abc", "the error must not repeat the key")
			require.NotContains(t, err.Error(), "\n", "one line")

			_, err = stripeclient.New(stripeclient.Config{Keys: tt.keys})
			require.ErrorIs(t, err, stripeclient.ErrConfig, "New validates the keys too")
		})
	}
}

func TestParseAPIBase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "empty is Stripe's", in: "", want: ""},
		{name: "loopback http", in: "http://127.0.0.1:12111", want: "http://127.0.0.1:12111"},
		{name: "trailing slash dropped", in: "https://api.example.test/", want: "https://api.example.test"},
		{name: "path prefix kept", in: "http://proxy.test/stripe/", want: "http://proxy.test/stripe"},
		{name: "no scheme", in: "127.0.0.1:12111", wantErr: "must be an http:// or https:// URL"},
		{name: "other scheme", in: "ftp://example.test", wantErr: "must be an http:// or https:// URL"},
		{name: "no host", in: "http://", wantErr: "has no host"},
		{name: "credentials", in: "https://user:sk_test_abc@example.test", wantErr: "must not carry credentials"},
		{name: "query", in: "https://example.test/?a=b", wantErr: "must not have a query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := stripeclient.ParseAPIBase(tt.in)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, stripeclient.ErrConfig)
				require.Contains(t, err.Error(), tt.wantErr)
				require.Contains(t, err.Error(), "STRIPE_API_BASE")
				require.NotContains(t, err.Error(), "sk_test_abc")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestModeOf(t *testing.T) {
	t.Parallel()
	require.Equal(t, stripeclient.Live, stripeclient.ModeOf(true))
	require.Equal(t, stripeclient.Test, stripeclient.ModeOf(false))
	require.True(t, stripeclient.Live.Livemode())
	require.False(t, stripeclient.Test.Livemode())
}

func TestScrub(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"secret key", "Invalid API Key provided: sk_live_51Habc", "Invalid API Key provided: sk_live_[redacted]"},
		{"masked key", "key sk_test_****1234 expired", "key sk_test_[redacted] expired"},
		{"restricted key", "rk_test_abc,", "rk_test_[redacted],"},
		{"signing secrets", "whsec_abc and absec_def_1", "whsec_[redacted] and absec_[redacted]"},
		{"nothing secret", "No such customer: 'cus_123'", "No such customer: 'cus_123'"},
		{"not a key prefix", "task_test_1", "task_test_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := stripeclient.Scrub(tt.in)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestErrorsIsSentinels(t *testing.T) {
	t.Parallel()
	c, err := stripeclient.New(stripeclient.Config{Keys: stripeclient.Keys{Test: "sk_test_x1"}})
	require.NoError(t, err)
	_, err = c.Client("acct_1", stripeclient.Live)
	require.ErrorIs(t, err, stripeclient.ErrNoKey)
	require.True(t, strings.Contains(err.Error(), "STRIPE_SECRET_KEY"), "names the variable to set: %v", err)
	_, err = c.Client("cus_1", stripeclient.Test)
	require.ErrorIs(t, err, stripeclient.ErrNoAccount)
	require.False(t, errors.Is(err, stripeclient.ErrNoKey))
}
