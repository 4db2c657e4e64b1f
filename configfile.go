package appbackend

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/appbackend/appbackend/internal/gateway"
)

// Gateway defaults of the public contract.
const (
	DefaultUpstreamEventsPath = "/appbackend/events"
	DefaultUpstreamAPIAddr    = "127.0.0.1:3001"
)

// GatewayConfig puts appbackend in front of the app's own server (the upstream), in
// any language: unhandled signed /api requests are proxied to it, and events, the
// config file's schedules and the jobs it enqueues are delivered to it as Standard
// Webhooks-signed calls. Gateway mode is on when Upstream is set.
type GatewayConfig struct {
	// Upstream is the base URL of the app's server (APPBACKEND_UPSTREAM), possibly with
	// a base path prefixed to every forwarded path.
	Upstream string
	// Secret is the Standard Webhooks secret (APPBACKEND_UPSTREAM_SECRET, whsec_ and the
	// base64 of at least 24 bytes) that signs every call to the upstream and that the
	// upstream presents as a bearer token to the upstream API. --dev generates one.
	Secret string
	// EventsPath is where events are POSTed (APPBACKEND_UPSTREAM_EVENTS_PATH, default
	// /appbackend/events).
	EventsPath string
	// APIAddr is the upstream API's listen address (APPBACKEND_UPSTREAM_API_ADDR,
	// default 127.0.0.1:3001); APIListener, when set, is served instead.
	APIAddr     string
	APIListener net.Listener
	// Timeout bounds each call to the upstream (APPBACKEND_UPSTREAM_TIMEOUT, default
	// 30s): a proxied request past it is a 504 upstream_timeout, a delivery is retried.
	Timeout time.Duration
	// Schedules are called on the upstream ([[schedule]] in the config file).
	Schedules []UpstreamSchedule
}

// UpstreamSchedule is a [[schedule]] of the config file: at each slot of Every (as
// App.Every takes it), Call ("POST /jobs/refresh") is made on the upstream, once, or
// once per installed account and mode when PerAccount.
type UpstreamSchedule struct {
	Name       string `toml:"name"`
	Every      string `toml:"every"`
	PerAccount bool   `toml:"per_account"`
	Call       string `toml:"call"`
}

func (g GatewayConfig) withDefaults() GatewayConfig {
	if g.EventsPath == "" {
		g.EventsPath = DefaultUpstreamEventsPath
	}
	if g.APIAddr == "" {
		g.APIAddr = DefaultUpstreamAPIAddr
	}
	if g.Timeout == 0 {
		g.Timeout = gateway.DefaultTimeout
	}
	return g
}

// validate checks the rules between the gateway's settings (each one's own rule is
// in the settings table): the secret may be missing only in dev mode, which generates
// it, and the config file's schedules need an upstream.
func (g GatewayConfig) validate(c Config) error {
	if g.Upstream == "" {
		if len(g.Schedules) > 0 {
			return c.crossError("APPBACKEND_UPSTREAM", errRequired, "the config file's schedules call the upstream: set %s", "APPBACKEND_UPSTREAM")
		}
		return nil
	}
	if g.Secret == "" && !c.Dev {
		return c.crossError("APPBACKEND_UPSTREAM_SECRET", errRequired, "%s is required with %s (whsec_ and the base64 of 24 to 64 random bytes), or run with --dev", "APPBACKEND_UPSTREAM_SECRET", "APPBACKEND_UPSTREAM")
	}
	names := map[string]bool{}
	for i, s := range g.Schedules {
		if strings.TrimSpace(s.Name) == "" || strings.TrimSpace(s.Every) == "" {
			return fmt.Errorf("%w: schedule %d: name and every are required", ErrConfig, i+1)
		}
		if names[s.Name] {
			return fmt.Errorf("%w: schedule %q is defined twice", ErrConfig, s.Name)
		}
		names[s.Name] = true
		if _, _, err := gateway.ParseCall(s.Call); err != nil {
			return fmt.Errorf("%w: schedule %q: %v", ErrConfig, s.Name, err)
		}
	}
	return nil
}

// ConfigFile is what a TOML config file (APPBACKEND_CONFIG, --config) holds besides
// the settings, which LayerConfigFile serves as variables.
type ConfigFile struct {
	Schedules []UpstreamSchedule
}

// ConfigFileVariable is the environment variable a config file key stands for: the
// key in upper case, with the APPBACKEND_ prefix unless it starts with stripe_
// ("upstream" → APPBACKEND_UPSTREAM, "stripe_app_secrets" → STRIPE_APP_SECRETS).
func ConfigFileVariable(key string) string {
	name := strings.ToUpper(key)
	if strings.HasPrefix(name, "STRIPE_") {
		return name
	}
	return "APPBACKEND_" + name
}

// LayerConfigFile reads the TOML file that APPBACKEND_CONFIG names (none: getenv is
// returned as is) and returns a getenv that answers from the environment first, then
// from the file, and the file's schedules. A list becomes a comma-separated value.
// ConfigFromLayers on that getenv knows which values came from the file.
func LayerConfigFile(getenv func(string) string) (func(string) string, *ConfigFile, error) {
	path := strings.TrimSpace(getenv("APPBACKEND_CONFIG"))
	if path == "" {
		return getenv, nil, nil
	}
	values, file, err := readConfigFile(path)
	if err != nil {
		return nil, nil, Config{origins: map[string]origin{"APPBACKEND_CONFIG": {source: SourceEnv}}}.configFileError(path, err)
	}
	return func(name string) string {
		switch {
		case name == layeredKey:
			return "1"
		case strings.HasPrefix(name, layerFromKey):
			if name = strings.TrimPrefix(name, layerFromKey); getenv(name) == "" && values[name] != "" {
				return "1"
			}
			return ""
		}
		if v := getenv(name); v != "" {
			return v
		}
		return values[name]
	}, file, nil
}

func parseConfigFile(text string) (map[string]string, *ConfigFile, error) {
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		return nil, nil, err
	}
	var typed struct {
		Schedule []UpstreamSchedule `toml:"schedule"`
	}
	md, err := toml.Decode(text, &typed)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range md.Undecoded() {
		if len(k) > 1 && k[0] == "schedule" {
			return nil, nil, fmt.Errorf("unknown key %q in a [[schedule]] (want name, every, per_account, call)", k[len(k)-1])
		}
	}
	known := map[string]bool{}
	for _, s := range settings() {
		if s.fileKey() != "" {
			known[s.env] = true
		}
	}
	values := map[string]string{}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "schedule" {
			continue
		}
		if k == "config" || k != strings.ToLower(k) {
			return nil, nil, fmt.Errorf("key %q: keys are the variables' names in lower case without APPBACKEND_ (upstream, database, stripe_app_secrets, …)", k)
		}
		name := ConfigFileVariable(k)
		if !known[name] {
			// A typo must not leave a setting silently at its default.
			return nil, nil, fmt.Errorf("unknown key %q: no setting %s", k, name)
		}
		v, err := configValue(raw[k])
		if err != nil {
			return nil, nil, fmt.Errorf("key %q: %v", k, err)
		}
		values[name] = v
	}
	return values, &ConfigFile{Schedules: typed.Schedule}, nil
}

func configValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case bool:
		return strconv.FormatBool(v), nil
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", errors.New("a list must hold strings")
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("want a string, an integer, a boolean or a list of strings, not %T", v)
}
