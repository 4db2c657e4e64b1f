package appbackend_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

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
