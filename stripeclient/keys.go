package stripeclient

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/appbackend/appbackend/internal/setup"
)

// Mode is a Stripe mode: live or test. Each has its own API key, objects, rate limits
// and installations.
type Mode string

// The two Stripe modes.
const (
	Live Mode = "live"
	Test Mode = "test"
)

// ModeOf returns the mode of a livemode flag, as Stripe objects and events carry it.
func ModeOf(livemode bool) Mode {
	if livemode {
		return Live
	}
	return Test
}

// Livemode reports whether m is live mode.
func (m Mode) Livemode() bool { return m == Live }

func (m Mode) valid() bool { return m == Live || m == Test }

// Environment variables of the public contract, named in configuration errors.
const (
	EnvSecretKey     = "STRIPE_SECRET_KEY"
	EnvTestSecretKey = "STRIPE_TEST_SECRET_KEY"
	EnvAPIBase       = "STRIPE_API_BASE"
)

// ErrConfig marks an invalid Stripe configuration (a key of the wrong kind or mode, a bad
// API base). It is appbackend.ErrConfig, the one sentinel of every configuration
// error. Its messages never contain a key.
var ErrConfig = setup.ErrConfig

// Keys are the platform's secret API keys, one per mode. Either may be empty: calls in a
// mode without a key fail with a clear error instead of reaching Stripe.
type Keys struct {
	// Live is a live-mode key: sk_live_… or rk_live_… (STRIPE_SECRET_KEY).
	Live string
	// Test is a test-mode key: sk_test_… or rk_test_… (STRIPE_TEST_SECRET_KEY).
	Test string
}

// Validate checks that each key present is a secret or restricted key of its own mode.
// The error names the variable and the kind of key found, never the key itself.
func (k Keys) Validate() error {
	if err := checkKey(EnvSecretKey, k.Live, Live); err != nil {
		return err
	}
	return checkKey(EnvTestSecretKey, k.Test, Test)
}

// key returns the key of mode m ("" when none is configured).
func (k Keys) key(m Mode) string {
	if m == Live {
		return k.Live
	}
	return k.Test
}

// envName is the variable that holds the key of mode m.
func envName(m Mode) string {
	if m == Live {
		return EnvSecretKey
	}
	return EnvTestSecretKey
}

func checkKey(env, key string, want Mode) error {
	if key == "" {
		return nil
	}
	wantPrefixes := "sk_" + string(want) + "_… or rk_" + string(want) + "_…"
	kind, mode, ok := describeKey(key)
	switch {
	case !ok:
		return fmt.Errorf("%w: %s does not look like a Stripe secret key (want %s)", ErrConfig, env, wantPrefixes)
	case kind != "sk" && kind != "rk":
		return fmt.Errorf("%w: %s is a %s key; use a secret (sk_) or restricted (rk_) key: %s", ErrConfig, env, keyKindName(kind), wantPrefixes)
	case mode != want:
		return fmt.Errorf("%w: %s holds a %s-mode key (%s_%s_…); it must be a %s-mode key (%s)", ErrConfig, env, mode, kind, mode, want, wantPrefixes)
	case strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("%w: %s contains whitespace or control characters", ErrConfig, env)
	}
	return nil
}

// describeKey splits a Stripe key into its kind (sk, rk, pk) and mode.
func describeKey(key string) (kind string, mode Mode, ok bool) {
	parts := strings.SplitN(key, "_", 3)
	if len(parts) != 3 || parts[2] == "" {
		return "", "", false
	}
	switch parts[0] {
	case "sk", "rk", "pk":
	default:
		return "", "", false
	}
	m := Mode(parts[1])
	if !m.valid() {
		return "", "", false
	}
	return parts[0], m, true
}

func keyKindName(kind string) string {
	if kind == "pk" {
		return "publishable"
	}
	return kind
}

// ParseAPIBase checks a Stripe API base URL (STRIPE_API_BASE): an absolute http or https
// URL with a host and no query, fragment or credentials. It returns the URL without a
// trailing slash; "" stays "" (Stripe's own API).
func ParseAPIBase(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %s must be an http:// or https:// URL such as http://127.0.0.1:12111", ErrConfig, EnvAPIBase)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%w: %s %q must be an http:// or https:// URL", ErrConfig, EnvAPIBase, u.Redacted())
	case u.Host == "":
		return "", fmt.Errorf("%w: %s %q has no host", ErrConfig, EnvAPIBase, u.Redacted())
	case u.User != nil:
		return "", fmt.Errorf("%w: %s must not carry credentials", ErrConfig, EnvAPIBase)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%w: %s %q must not have a query or fragment", ErrConfig, EnvAPIBase, u.Redacted())
	}
	return strings.TrimRight(s, "/"), nil
}
