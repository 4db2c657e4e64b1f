package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServeRefusesBadOTELValues: an OTEL_* value that does not parse stops serve at
// start with one line naming the variable, and exit status 2, before anything opens.
func TestServeRefusesBadOTELValues(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"endpoint": {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
		"protocol": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"},
		"sampler":  {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "sometimes"},
	} {
		dir := t.TempDir()
		env["STRIPE_APP_SECRETS"] = "absec_x"
		env["APPBACKEND_DATABASE"] = "sqlite:" + filepath.Join(dir, "app.db")
		code, _, errOut := runCmd(t, env, "serve", "--addr", "127.0.0.1:0")
		require.Equal(t, 2, code, name+": "+errOut)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, name+": one line: "+errOut)
		require.Contains(t, errOut, "OTEL_", name)
		require.NoFileExists(t, filepath.Join(dir, "app.db"), name)
	}
}
