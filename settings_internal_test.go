package appbackend

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite README.md's configuration table from the settings table")

// The README's configuration table is generated between these markers.
const (
	readmeTableBegin = "<!-- settings table: generated from settings.go by `go generate` (go test -run TestREADMEConfigurationTable -update-readme .); do not edit -->\n"
	readmeTableEnd   = "<!-- end of settings table -->\n"
)

// settingsMarkdown is the README's configuration table.
func settingsMarkdown() string {
	var b strings.Builder
	b.WriteString("| variable | flag | file key | meaning | default |\n|---|---|---|---|---|\n")
	for _, s := range settings() {
		key := "—"
		if k := s.fileKey(); k != "" {
			key = "`" + k + "`"
		}
		def := s.def
		if def == "" {
			def = "none"
		}
		b.WriteString("| `" + s.env + "` | `--" + s.flag + "` | " + key + " | " + s.help + " | " + def + " |\n")
	}
	return b.String()
}

// replaceTable puts table between the markers of readme.
func replaceTable(readme, table string) (string, bool) {
	begin := strings.Index(readme, readmeTableBegin)
	end := strings.Index(readme, readmeTableEnd)
	if begin < 0 || end < begin {
		return readme, false
	}
	return readme[:begin+len(readmeTableBegin)] + table + readme[end:], true
}

// regenerate is the command that refreshes the README's table.
const regenerate = "go generate . (which runs go test -run TestREADMEConfigurationTable -update-readme .)"

// staleREADME says what is wrong with readme's configuration table ("" when it is
// the settings table's).
func staleREADME(readme string) string {
	want, ok := replaceTable(readme, settingsMarkdown())
	switch {
	case !ok:
		return "README.md lacks the settings table's markers"
	case want != readme:
		return "README.md's configuration table is stale: run " + regenerate
	}
	return ""
}

// TestREADMEConfigurationTable: the README's configuration table is the settings
// table's; it fails when either changed without the other, and says how to fix it.
func TestREADMEConfigurationTable(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	if *updateREADME {
		fresh, ok := replaceTable(string(raw), settingsMarkdown())
		require.True(t, ok, "README.md has the settings table's markers")
		require.NoError(t, os.WriteFile("README.md", []byte(fresh), 0o644))
		return
	}
	require.Empty(t, staleREADME(string(raw)))
}

// TestREADMEStaleTableIsDetected: a row edited by hand, a setting missing from the
// README, or one the README has but the table lost, each fails the check above with
// the command that regenerates the table.
func TestREADMEStaleTableIsDetected(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	fresh, ok := replaceTable(string(raw), settingsMarkdown())
	require.True(t, ok)
	require.Empty(t, staleREADME(fresh))
	row := func(env string) string {
		i := strings.Index(fresh, "| `"+env+"` |")
		require.GreaterOrEqual(t, i, 0, env)
		return fresh[i : i+strings.Index(fresh[i:], "\n")+1]
	}
	for name, stale := range map[string]string{
		"edited by hand":     strings.Replace(fresh, row("APPBACKEND_ADDR"), strings.Replace(row("APPBACKEND_ADDR"), "listen address", "the address", 1), 1),
		"a setting missing":  strings.Replace(fresh, row("APPBACKEND_MAX_BODY"), "", 1),
		"a setting not read": strings.Replace(fresh, readmeTableEnd, "| `APPBACKEND_GONE` | `--gone` | `gone` | removed | none |\n"+readmeTableEnd, 1),
	} {
		require.Equal(t, "README.md's configuration table is stale: run "+regenerate, staleREADME(stale), name)
	}
	require.Equal(t, "README.md lacks the settings table's markers", staleREADME(strings.Replace(fresh, readmeTableEnd, "", 1)))
}

// TestSettingsTableIsConsistent: every setting has a variable, a flag, help and a
// parser; names are unique; file keys map back to their variable.
func TestSettingsTableIsConsistent(t *testing.T) {
	t.Parallel()
	envs, flags := map[string]bool{}, map[string]bool{}
	for _, s := range settings() {
		require.NotEmpty(t, s.env)
		require.NotEmpty(t, s.flag, s.env)
		require.NotEmpty(t, s.help, s.env)
		require.NotNil(t, s.set, s.env)
		require.False(t, envs[s.env], "%s twice", s.env)
		require.False(t, flags[s.flag], "--%s twice", s.flag)
		envs[s.env], flags[s.flag] = true, true
		if k := s.fileKey(); k != "" {
			require.Equal(t, s.env, ConfigFileVariable(k), "file key %s", k)
		}
		require.NotContains(t, flagUsage(s), "`", "--help has no Markdown")
	}
}

// TestDeployExamplesSetOnlySettings: every variable the deploy/ examples set (or show
// commented out) is a setting, so an example cannot teach a name serve ignores.
func TestDeployExamplesSetOnlySettings(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("deploy/*.env*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		n := 0
		for _, m := range regexp.MustCompile(`(?m)^#?\s*([A-Z][A-Z0-9_]+)=`).FindAllStringSubmatch(string(raw), -1) {
			_, ok := settingByEnv(m[1])
			require.True(t, ok, "%s sets %s, which is no setting", f, m[1])
			n++
		}
		require.NotZero(t, n, f)
	}
}
