package cli

import (
	"errors"
	"strings"

	"github.com/appbackend/appbackend"
)

// configHelp is the usage of --config, which every subcommand takes: each reads the
// same layers, the environment over the file.
const configHelp = "TOML file of settings (and [[schedule]]s for serve); the environment overrides it (APPBACKEND_CONFIG)"

// layerConfig reads, once per run, the TOML file that --config (anywhere in args) or
// APPBACKEND_CONFIG names and returns a getenv answering from the environment first,
// then from the file, with the file's schedules. Every subcommand reads its settings
// and its flags' defaults through it, so `migrate`, the listings and `serve` agree on
// the database.
func layerConfig(args []string, getenv func(string) string) (func(string) string, *appbackend.ConfigFile, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, nil, errors.New("--config needs a file")
			}
			value = args[i+1]
		}
		env := getenv
		getenv = func(k string) string {
			if k == "APPBACKEND_CONFIG" {
				return value
			}
			return env(k)
		}
		break
	}
	return appbackend.LayerConfigFile(getenv)
}

// loadConfig is the configuration of a getenv that layerConfig returned (the file is
// not read again); an invalid setting is a usage error.
func loadConfig(getenv func(string) string, file *appbackend.ConfigFile) (appbackend.Config, error) {
	cfg, err := appbackend.ConfigFromLayers(getenv, file)
	if err != nil {
		return cfg, usageError{err.Error()}
	}
	return cfg, nil
}
