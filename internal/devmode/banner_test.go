package devmode

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// The banner's commands work as typed by whoever started the server.
func TestCLICommand(t *testing.T) {
	t.Parallel()
	const root = "/home/dev/appbackend"
	inRepo := func(dir string) (string, string) { return root, "github.com/appbackend/appbackend" }
	noModule := func(dir string) (string, string) { return "", "" }
	cli := func(mainPath, version string) *debug.BuildInfo {
		return &debug.BuildInfo{Path: cliPackage, Main: debug.Module{Path: mainPath, Version: version}}
	}
	app := &debug.BuildInfo{Path: "example.com/myapp", Main: debug.Module{Path: "example.com/myapp", Version: "(devel)"}}
	goRun := "/tmp/go-build1234/b001/exe/appbackend"
	for _, tc := range []struct {
		name, arg0, wd string
		bi             *debug.BuildInfo
		module         func(string) (string, string)
		want           string
	}{
		{"built binary, as invoked", "./appbackend", "/srv", cli("github.com/appbackend/appbackend", "(devel)"), noModule, "./appbackend"},
		{"installed on PATH", "appbackend", "/srv", cli("github.com/appbackend/appbackend", "v1.4.0"), noModule, "appbackend"},
		{"absolute path", "/usr/local/bin/appbackend", "/", cli("github.com/appbackend/appbackend", "(devel)"), noModule, "/usr/local/bin/appbackend"},
		{"go run ./cmd/appbackend at the repository's root", goRun, root, cli("github.com/appbackend/appbackend", "(devel)"), inRepo, "go run ./cmd/appbackend"},
		{"go run in a folder of the repository", goRun, root + "/examples", cli("github.com/appbackend/appbackend", "(devel)"), inRepo, "go run " + cliPackage},
		{"go run with a version, anywhere", goRun, "/tmp", cli("github.com/appbackend/appbackend", "v1.4.0"), noModule, "go run " + cliPackage + "@v1.4.0"},
		{"go run from the app's module", goRun, "/home/dev/myapp", cli("example.com/myapp", "(devel)"), noModule, "go run " + cliPackage},
		{"an app's own binary", "./myapp", "/home/dev/myapp", app, noModule, "go run " + cliPackage},
		{"an app started by go run", goRun, "/home/dev/myapp", app, noModule, "go run " + cliPackage},
		{"no build information", "./x", "/", nil, noModule, "go run " + cliPackage},
	} {
		got := cliCommandFor(tc.arg0, tc.wd, tc.bi, tc.module)
		require.Equal(t, tc.want, got, tc.name)
	}
	require.True(t, goRunExecutable("/tmp/go-build99/b001/appbackend.test"), "goRunExecutable: want go test's executable, not another folder")
	require.False(t, goRunExecutable("/opt/go-builder/appbackend"), "goRunExecutable: want go test's executable, not another folder")
}
