package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped at build time by the Makefile's build target and by
// the Containerfile: -ldflags "-X github.com/appbackend/appbackend/cli.version=v1.2.3 -X github.com/appbackend/appbackend/cli.commit=<full hash>"
// (scripts/version.sh computes the version). Left empty, the build information Go
// records stands in: the module version of `go install …@v1.2.3`, and the revision of
// a `go build` in a git clone (which a git worktree or -buildvcs=false does not record).
var (
	version string
	commit  string
)

// buildVersion is what `appbackend version` reports.
type buildVersion struct {
	Version  string // "v1.2.3", a Go pseudo-version, or "dev" when nothing recorded one
	Commit   string // the full revision, or "" when unknown
	Modified bool   // built from a working tree with uncommitted changes (Go's vcs.modified)
}

func currentVersion() buildVersion {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(version, commit, bi)
}

// versionFrom is currentVersion on its inputs: the stamped values win over the build
// information.
func versionFrom(stampedVersion, stampedCommit string, bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: stampedVersion, Commit: stampedCommit}
	if bi != nil {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && v.Commit == "":
				v.Commit = s.Value
			case s.Key == "vcs.modified" && stampedCommit == "":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

// String is the one line `appbackend version` prints, e.g.
// "appbackend v1.2.3 commit 0123… go1.26.0 linux/amd64".
func (v buildVersion) String() string {
	c := v.Commit
	switch {
	case c == "":
		c = "unknown"
	case v.Modified:
		c += " (modified)"
	}
	return fmt.Sprintf("appbackend %s commit %s %s %s/%s", v.Version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func versionString() string { return currentVersion().String() }
