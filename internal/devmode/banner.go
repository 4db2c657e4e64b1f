// Package devmode is what `serve --dev` tells the developer once the server listens:
// the secrets it generated or reloaded, where the dashboard is, and commands that call
// the server and send it a test event, each working as typed from where it started.
package devmode

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
)

// cliPackage is the import path of the appbackend command.
const cliPackage = "github.com/appbackend/appbackend/cmd/appbackend"

// Secrets are the secrets --dev generated or reloaded (appbackend.DevSecrets, converted).
type Secrets struct {
	AppSecret      string
	WebhookSecret  string
	AdminToken     string
	UpstreamSecret string
}

// Banner is what Print prints: the server's address, whether the admin dashboard is
// on, and the command that runs the appbackend CLI as the developer would type it.
type Banner struct {
	Addr    net.Addr
	Secrets Secrets
	Admin   bool   // the dashboard is served (an admin token is set)
	CLI     string // "go run ./cmd/appbackend", "./appbackend", … (CLICommand)
}

// Print tells the developer, once the server listens, the secrets --dev
// generated or reloaded, where the dashboard is and commands that call the server and
// send it a test event, each working as typed.
func Print(w io.Writer, b Banner) {
	base := "http://" + b.Addr.String()
	s := b.Secrets
	fmt.Fprintln(w, "development mode: secrets are kept in the database; do not use --dev in production")
	if s.AppSecret != "" {
		fmt.Fprintf(w, "  STRIPE_APP_SECRETS=%s\n", s.AppSecret)
	}
	if s.WebhookSecret != "" {
		fmt.Fprintf(w, "  STRIPE_WEBHOOK_SECRETS=%s\n", s.WebhookSecret)
	}
	if s.AdminToken != "" {
		fmt.Fprintf(w, "  APPBACKEND_ADMIN_TOKEN=%s\n", s.AdminToken)
	}
	if s.UpstreamSecret != "" {
		fmt.Fprintf(w, "  APPBACKEND_UPSTREAM_SECRET=%s\n", s.UpstreamSecret)
	}
	if b.Admin {
		fmt.Fprintf(w, "dashboard: %s/admin/ (sign in with the APPBACKEND_ADMIN_TOKEN)\n", base)
	}
	if s.AppSecret != "" {
		fmt.Fprintf(w, "call a signed route:\n  %s call POST %s/api/whoami --secret %s --user usr_dev --account acct_dev\n", b.CLI, base, s.AppSecret)
	}
	if s.WebhookSecret != "" {
		fmt.Fprintf(w, "send a test event:\n  %s trigger customer.created --account acct_dev --test --url %s/webhooks/stripe --secret %s\n", b.CLI, base, s.WebhookSecret)
	}
}

// CLICommand is how the developer runs the appbackend CLI from where this process
// started: the executable as invoked when this is the CLI, `go run …` when it was
// started by go run (its executable is a temporary file), and the CLI's package
// through go run when this is an app built on the library.
func CLICommand() string {
	bi, _ := debug.ReadBuildInfo()
	wd, _ := os.Getwd()
	return cliCommandFor(os.Args[0], wd, bi, readModulePath)
}

// cliCommandFor is CLICommand on its inputs: the executable as invoked, the working
// directory, the build information, and a function that finds the module a directory
// is in (its root and path).
func cliCommandFor(arg0, wd string, bi *debug.BuildInfo, module func(dir string) (root, path string)) string {
	isCLI := bi != nil && bi.Path == cliPackage
	if isCLI && !goRunExecutable(arg0) {
		return arg0
	}
	if isCLI && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		// go run github.com/appbackend/appbackend/cmd/appbackend@VERSION, which works
		// from any folder.
		return "go run " + cliPackage + "@" + bi.Main.Version
	}
	if !isCLI || bi.Main.Path != "github.com/appbackend/appbackend" {
		// An app's own binary, or the CLI run from the app's module, which requires
		// appbackend: go run finds the package there.
		return "go run " + cliPackage
	}
	// go run inside appbackend's own module: at its root, as the README types it;
	// elsewhere in it, the package path, which go run finds from any folder of it.
	if root, path := module(wd); path == bi.Main.Path && root != "" && filepath.Clean(root) == filepath.Clean(wd) {
		return "go run ./cmd/appbackend"
	}
	return "go run " + cliPackage
}

// goBuildExe matches the temporary executables of go run
// ($GOTMPDIR/go-build…/b001/exe/NAME) and go test ($GOTMPDIR/go-build…/b001/NAME.test).
var goBuildExe = regexp.MustCompile(`(^|/)go-build[0-9]+/b[0-9]+/`)

// goRunExecutable reports whether arg0 is a temporary executable of the go command.
func goRunExecutable(arg0 string) bool { return goBuildExe.MatchString(filepath.ToSlash(arg0)) }

// readModulePath finds the go.mod at or above dir and returns its folder and module
// path; empty when there is none.
func readModulePath(dir string) (root, path string) {
	for d := dir; ; {
		f, err := os.Open(filepath.Join(d, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if p, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return d, strings.Trim(strings.TrimSpace(p), `"`)
				}
			}
			return d, ""
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", ""
		}
		d = parent
	}
}
