package cli

import (
	"errors"
	"flag"
	"strings"

	"github.com/appbackend/appbackend"
)

// configHelp is the usage of --config, which every subcommand takes (each reads the
// same layers), as the settings table words it.
var configHelp = func() string {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	appbackend.RegisterConfigFlags(fs)
	return fs.Lookup("config").Usage
}()

// layerConfig reads, once per run, the TOML file that --config (anywhere in args) or
// APPBACKEND_CONFIG names and returns a getenv answering from the environment first,
// then from the file, with the file's schedules. Every subcommand reads its settings
// and its flags' defaults through it, so `migrate`, the listings and `serve` agree on
// the database; loadConfig (and serve's flags) still name a value from the file by
// its key there.
func layerConfig(args []string, getenv func(string) string) (func(string) string, *appbackend.ConfigFile, error) {
	fromFlag := false
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
		fromFlag = true
		env := getenv
		getenv = func(k string) string {
			if k == "APPBACKEND_CONFIG" {
				return value
			}
			return env(k)
		}
		break
	}
	layered, file, err := appbackend.LayerConfigFile(getenv)
	var ce *appbackend.ConfigError
	if fromFlag && errors.As(err, &ce) && ce.Name == "APPBACKEND_CONFIG" {
		ce.Source, ce.Name = appbackend.SourceFlag, "--config"
	}
	return layered, file, err
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
