package appbackend_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPrometheusRules checks deploy/prometheus-rules.yml with promtool (its syntax and
// expressions, then its unit tests in deploy/prometheus-rules.test.yml), and that every
// metric it names is one the server registers, so that a renamed metric cannot leave
// an alert that never fires.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool is not on PATH: run scripts/promtool.sh (make test does) to install Debian's prometheus, which has it")
	for _, args := range [][]string{
		{"check", "rules", "prometheus-rules.yml"},
		{"test", "rules", "prometheus-rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "deploy"
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %s\n%s", strings.Join(args, " "), out)
	}

	rules, err := os.ReadFile(filepath.Join("deploy", "prometheus-rules.yml"))
	require.NoError(t, err)
	registered := registeredMetrics(t)
	used := regexp.MustCompile(`\bappbackend_[a-z_]+`).FindAllString(string(rules), -1)
	require.NotEmpty(t, used, "the rules name no appbackend_ metric")
	for _, name := range used {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(registered, b) {
				base = b
			}
		}
		require.True(t, slices.Contains(registered, base), "the rules use %s, which the server does not export (it registers %v)", name, registered)
	}
}

// registeredMetrics reads the metric names the server's source registers: the Name of
// each collector and of each scrape-time reading (operational.go), all in internal/metrics.
func registeredMetrics(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("internal", "metrics", "*.go"))
	require.NoError(t, err)
	var names []string
	named := regexp.MustCompile(`Name:\s*"([a-z_]+)"|Namespace\+"_([a-z_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range named.FindAllStringSubmatch(string(src), -1) {
			names = append(names, "appbackend_"+m[1]+m[2])
		}
	}
	return names
}
