package appbackend_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
)

// TestConfigFromEnvReadsDev: a Go program that builds its Config with ConfigFromEnv
// gets development mode from APPBACKEND_DEV (or the config file's dev key), as
// `appbackend serve --dev` has it, without a flag of its own.
func TestConfigFromEnvReadsDev(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"1": true, "true": true, "TRUE": true, "0": false, "false": false, "": false} {
		cfg, err := appbackend.ConfigFromEnv(envFunc(map[string]string{"APPBACKEND_DEV": v}))
		require.NoError(t, err, v)
		require.Equal(t, want, cfg.Dev, v)
	}
	_, err := appbackend.ConfigFromEnv(envFunc(map[string]string{"APPBACKEND_DEV": "yes"}))
	require.ErrorIs(t, err, appbackend.ErrConfig)
	require.ErrorContains(t, err, "APPBACKEND_DEV")

	file := filepath.Join(t.TempDir(), "dev.toml")
	require.NoError(t, os.WriteFile(file, []byte("dev = true\n"), 0o600))
	cfg, err := appbackend.ConfigFromEnv(envFunc(map[string]string{"APPBACKEND_CONFIG": file}))
	require.NoError(t, err)
	require.True(t, cfg.Dev)
}

// TestDevIsRefusedWithProductionSettings: development mode generates and prints
// secrets; with a public domain or a live key the configuration is a production one,
// and New refuses it rather than serve it so.
func TestDevIsRefusedWithProductionSettings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "unused.db")
	db := "sqlite:" + path
	for name, cfg := range map[string]appbackend.Config{
		"domain":   {Database: db, Dev: true, Production: appbackend.Production{Domains: []string{"api.example.com"}}},
		"live key": {Database: db, Dev: true, SecretKey: "sk_live_devrefused"},
	} {
		_, err := appbackend.New(cfg)
		require.ErrorIs(t, err, appbackend.ErrConfig, name)
		require.ErrorIs(t, err, appbackend.ErrDevInProduction, name)
		require.NotContains(t, err.Error(), "sk_live_devrefused")
	}
	_, err := os.Stat(path)
	require.True(t, errors.Is(err, os.ErrNotExist), "nothing was created: %v", err)

	// A test key is development's.
	_, err = appbackend.New(appbackend.Config{Database: db, Dev: true, TestSecretKey: "sk_test_devok"})
	require.NoError(t, err)
}

// TestConfigFromLayersReadsTheFileOnce: a program that layered the file itself (the
// CLI, for its flags' defaults) builds the Config from those layers without reading
// the file a second time.
func TestConfigFromLayersReadsTheFileOnce(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "app.toml")
	require.NoError(t, os.WriteFile(file, []byte("database = \"sqlite:fromfile.db\"\nevent_max_attempts = 4\n"), 0o600))
	env := envFunc(map[string]string{"APPBACKEND_CONFIG": file, "APPBACKEND_EVENT_MAX_ATTEMPTS": "6"})
	getenv, layers, err := appbackend.LayerConfigFile(env)
	require.NoError(t, err)
	require.NoError(t, os.Remove(file))

	cfg, err := appbackend.ConfigFromLayers(getenv, layers)
	require.NoError(t, err, "the file was read again")
	require.Equal(t, "sqlite:fromfile.db", cfg.Database)
	require.Equal(t, 6, cfg.EventMaxAttempts, "the environment wins")

	_, err = appbackend.ConfigFromEnv(env)
	require.ErrorIs(t, err, appbackend.ErrConfig, "ConfigFromEnv reads the file, now gone")
}

// TestConfigErrorNamesTheSettingAsGiven: an invalid value is refused naming the
// setting the way the user gave it, the flag, the variable or the file's key, whether
// the value does not parse (LoadConfig) or breaks a rule (Validate); the flag wins
// over the variable, which wins over the file.
func TestConfigErrorNamesTheSettingAsGiven(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "app.toml")
	require.NoError(t, os.WriteFile(file, []byte("max_body = 0\ndatabase = \"mysql://file\"\n"), 0o600))
	for _, tt := range []struct {
		name       string
		args       []string
		env        map[string]string
		source     appbackend.ConfigSource
		want       string
		validation bool
	}{
		{"flag", []string{"--max-body", "0"}, nil, appbackend.SourceFlag, `--max-body "0" is not a positive number of bytes`, false},
		{"env", nil, map[string]string{"APPBACKEND_MAX_BODY": "0"}, appbackend.SourceEnv, `APPBACKEND_MAX_BODY "0" is not a positive number of bytes`, false},
		{"file", []string{"--config", file}, nil, appbackend.SourceFile, file + `: max_body "0" is not a positive number of bytes`, false},
		{"file from the environment", nil, map[string]string{"APPBACKEND_CONFIG": file}, appbackend.SourceFile, file + `: max_body "0"`, false},
		{"flag over env and file", []string{"--max-body", "0"}, map[string]string{"APPBACKEND_CONFIG": file, "APPBACKEND_MAX_BODY": "10"}, appbackend.SourceFlag, `--max-body "0"`, false},
		{"env over file", nil, map[string]string{"APPBACKEND_CONFIG": file, "APPBACKEND_MAX_BODY": "0"}, appbackend.SourceEnv, `APPBACKEND_MAX_BODY "0"`, false},

		{"flag, validated", []string{"--database", "mysql://flag"}, nil, appbackend.SourceFlag, "--database must be sqlite:PATH or a postgres:// URL", true},
		{"env, validated", nil, map[string]string{"APPBACKEND_DATABASE": "mysql://env"}, appbackend.SourceEnv, "APPBACKEND_DATABASE must be sqlite:PATH", true},
		{"file, validated", nil, map[string]string{"APPBACKEND_CONFIG": file, "APPBACKEND_MAX_BODY": "10"}, appbackend.SourceFile, file + ": database must be sqlite:PATH", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := appbackend.LoadConfig(tt.args, envFunc(tt.env))
			if tt.validation {
				require.NoError(t, err)
				err = cfg.Validate()
			}
			require.ErrorIs(t, err, appbackend.ErrConfig)
			var ce *appbackend.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.source, ce.Source)
			require.Contains(t, err.Error(), tt.want)
			require.Equal(t, 1, strings.Count(err.Error()+"\n", "\n"), "one line")
		})
	}

	// A rule between two settings names both as given; a Config built in Go names
	// its variables.
	// (Other files: the subtests above run once this function returns.)
	file = filepath.Join(t.TempDir(), "dev.toml")
	require.NoError(t, os.WriteFile(file, []byte("dev = true\n"), 0o600))
	cfg, err := appbackend.LoadConfig([]string{"--domain", "api.example.com"}, envFunc(map[string]string{"APPBACKEND_CONFIG": file}))
	require.NoError(t, err)
	err = cfg.Validate()
	require.ErrorIs(t, err, appbackend.ErrDevInProduction)
	require.ErrorContains(t, err, "unset "+file+": dev or --domain")
	err = appbackend.Config{Dev: true, Production: appbackend.Production{Domains: []string{"api.example.com"}}}.Validate()
	require.ErrorContains(t, err, "unset APPBACKEND_DEV or APPBACKEND_DOMAIN")

	// ConfigFromLayers, on a getenv LayerConfigFile layered, still tells the file's
	// values from the environment's without reading the file again.
	file = filepath.Join(t.TempDir(), "attempts.toml")
	require.NoError(t, os.WriteFile(file, []byte("event_max_attempts = \"many\"\n"), 0o600))
	getenv, layers, err := appbackend.LayerConfigFile(envFunc(map[string]string{"APPBACKEND_CONFIG": file}))
	require.NoError(t, err)
	_, err = appbackend.ConfigFromLayers(getenv, layers)
	require.ErrorContains(t, err, file+`: event_max_attempts "many" is not a positive number`)
	getenv, layers, err = appbackend.LayerConfigFile(envFunc(map[string]string{"APPBACKEND_CONFIG": file, "APPBACKEND_EVENT_MAX_ATTEMPTS": "lots"}))
	require.NoError(t, err)
	_, err = appbackend.ConfigFromLayers(getenv, layers)
	require.ErrorContains(t, err, `APPBACKEND_EVENT_MAX_ATTEMPTS "lots"`)
}

// TestValidateChecksWhatGoSets: Validate applies the settings table's rules to a
// Config built in Go too, naming each setting by its variable.
func TestValidateChecksWhatGoSets(t *testing.T) {
	t.Parallel()
	base := appbackend.Config{AppSecrets: []string{"absec_x"}}
	for _, tt := range []struct {
		edit func(*appbackend.Config)
		want string
	}{
		{func(c *appbackend.Config) { c.MaxBody = -1 }, `APPBACKEND_MAX_BODY "-1" is not a positive number of bytes`},
		{func(c *appbackend.Config) { c.InstallReconcileInterval = time.Second }, `APPBACKEND_INSTALL_RECONCILE_INTERVAL "1s" is not a duration of at least 1m`},
		{func(c *appbackend.Config) { c.EventMaxAttempts = -2 }, `APPBACKEND_EVENT_MAX_ATTEMPTS "-2" is not a positive number`},
		{func(c *appbackend.Config) { c.AppSecrets = []string{"whsec_x"} }, "STRIPE_APP_SECRETS entry 1 is a whsec_… secret: move it to STRIPE_WEBHOOK_SECRETS"},
		{func(c *appbackend.Config) { c.AdminToken = "short" }, "APPBACKEND_ADMIN_TOKEN is shorter than 16 characters"},
		{func(c *appbackend.Config) { c.AlertSecret = "whsec_x" }, "APPBACKEND_ALERT_SECRET is "},
		{func(c *appbackend.Config) { c.Gateway.Upstream = "http://127.0.0.1:9" }, "APPBACKEND_UPSTREAM_SECRET is required with APPBACKEND_UPSTREAM"},
		{func(c *appbackend.Config) { c.Domains = []string{"https://x"} }, `APPBACKEND_DOMAIN "https://x" is not a domain name`},
	} {
		cfg := base
		tt.edit(&cfg)
		err := cfg.Validate()
		require.ErrorIs(t, err, appbackend.ErrConfig, tt.want)
		require.ErrorContains(t, err, tt.want)
		require.NotContains(t, err.Error(), "short\"", "a secret is not repeated")
	}
	require.NoError(t, base.Validate())
}
