package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVersionFromBuildInfo: the stamped version and commit win; without them Go's build
// information stands in; without either the line still says what it does not know.
func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261207120357-d41f8c73e700+dirty"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "d41f8c73e7007fba021b7e5daada854cd051288d"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tt := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            buildVersion
	}{
		{"stamped", "v1.2.3", "0123456789abcdef", vcs, buildVersion{Version: "v1.2.3", Commit: "0123456789abcdef"}},
		{"go build in a clone", "", "", vcs, buildVersion{Version: "v0.0.0-20261207120357-d41f8c73e700+dirty", Commit: "d41f8c73e7007fba021b7e5daada854cd051288d", Modified: true}},
		{"go install @version", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, buildVersion{Version: "v1.4.0"}},
		{"nothing recorded", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, buildVersion{Version: "dev"}},
	} {
		require.Equal(t, tt.want, versionFrom(tt.version, tt.commit, tt.bi), tt.name)
	}
	require.Regexp(t, `^appbackend dev commit unknown go\S+ \S+/\S+$`, buildVersion{Version: "dev"}.String())
	require.Contains(t, buildVersion{Version: "v1", Commit: "abc", Modified: true}.String(), "commit abc (modified)")
}

// TestMakeBuildStampsTheCommit: the binary `make build` makes from a git checkout prints
// the checkout's commit and a Go version derived from it, not "dev" (the machine's
// GOFLAGS may say -buildvcs=false, and a git worktree records no VCS information anyway,
// so the stamp must come from the Makefile). Outside a git checkout (a source archive)
// it builds with VERSION and COMMIT given, as a packager would: the Makefile's build is
// run and its stamp checked either way, never skipped but under -short.
func TestMakeBuildStampsTheCommit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary with make")
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	makeCmd, err := exec.LookPath("make")
	require.NoError(t, err, "make is needed to run the Makefile's build target")
	bin := filepath.Join(t.TempDir(), "appbackend")
	args := []string{"-C", root, "--no-print-directory", "-s", "build", "BIN=" + bin}
	wantVersion := regexp.MustCompile(`^appbackend v\d+\.\d+\.\d+\S* commit [0-9a-f]{40} go`)
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Logf("not a git checkout (%v): building with VERSION and COMMIT given", err)
		head = []byte("89abcdef0123456789abcdef0123456789abcdef")
		args = append(args, "VERSION=v1.2.3", "COMMIT="+string(head))
		wantVersion = regexp.MustCompile(`^appbackend v1\.2\.3 commit ` + string(head) + ` go`)
	}
	cmd := exec.Command(makeCmd, args...)
	// Not the flags of a make that runs this test (make test): this make is on its own.
	cmd.Env = withoutEnv(os.Environ(), "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make build: %s", out)
	got, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	line := strings.TrimSpace(string(got))
	require.Contains(t, line, " commit "+strings.TrimSpace(string(head))+" ", line)
	require.Regexp(t, wantVersion, line)
	require.NotContains(t, line, " dev ")
}

func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
