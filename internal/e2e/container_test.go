package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/stretchr/testify/require"
)

// TestContainerImage builds the image from the Containerfile with podman and runs it as
// a container platform would: `serve --dev` on a new named volume at /data, a signed
// call and a signed webhook through the published port, the health check, a stop, and
// a new container on the same volume that still has the secrets and the installation.
// It also checks what FROM scratch would lack: the binary's CA roots and time zones.
//
// The image is built from a builder image of the host's own Go toolchain
// (scripts/podman.sh go-image; APPBACKEND_CONTAINER_GO_IMAGE names another, such as
// golang:1.26 where a registry is reachable), with podman's layer and Go build caches,
// so that a run on an unchanged tree does not compile again. Without podman it skips,
// and fails when APPBACKEND_REQUIRE_PODMAN is set (make test sets it after
// scripts/podman.sh installed podman).
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a container image")
	}
	t.Parallel()
	pm := newPodman(t)
	root, err := filepath.Abs("../..")
	require.NoError(t, err)

	goImage := os.Getenv("APPBACKEND_CONTAINER_GO_IMAGE")
	if goImage == "" {
		out, err := exec.Command(filepath.Join(root, "scripts", "podman.sh"), "go-image").Output()
		if err != nil {
			require.FailNow(t, fmt.Sprintf("scripts/podman.sh go-image: %v\n%s", err, exitStderr(err)))
		}
		goImage = strings.TrimSpace(string(out))
	}
	version, commit := gitVersion(t, root)

	start := time.Now()
	iid := filepath.Join(t.TempDir(), "iid")
	pm.must(10*time.Minute, "build", "--format", "docker", "-f", filepath.Join(root, "Containerfile"),
		"--iidfile", iid, "--build-arg", "GO_IMAGE="+goImage,
		"--build-arg", "VERSION="+version, "--build-arg", "COMMIT="+commit, root)
	raw, err := os.ReadFile(iid)
	require.NoError(t, err)
	image := strings.TrimSpace(string(raw))
	t.Logf("podman build: %s (image %.19s)", time.Since(start).Round(100*time.Millisecond), image)

	checkImageConfig(t, pm, image)
	if commit != "" {
		line := pm.must(time.Minute, "run", "--rm", image, "version")
		require.Contains(t, line, " commit "+commit+" ", "version in the image = %q, want version %s and commit %s", line, version, commit)
		require.True(t, strings.HasPrefix(line, "appbackend "+version+" "), "version in the image = %q, want version %s and commit %s", line, version, commit)
	}
	checkCARoots(t, pm, image)
	checkTimeZones(t, pm, image)

	volume := "appbackend-e2e-" + randomHex(t)
	pm.must(time.Minute, "volume", "create", volume)
	t.Cleanup(func() { pm.run(time.Minute, "volume", "rm", "--force", volume) })

	// First container: a new volume, so --dev generates the secrets.
	start = time.Now()
	c := startContainer(t, pm, image, volume)
	t.Logf("container up in %s", time.Since(start).Round(100*time.Millisecond))
	if !regexp.MustCompile(`appbackend listening on http://(\[::\]|0\.0\.0\.0):8080\b`).MatchString(c.banner) {
		require.FailNow(t, fmt.Sprintf("the server does not listen on all the container's interfaces on :8080:\n%s", c.banner))
	}
	const account = "acct_container"
	whoami := e2etest.RunCLI(t, []string{}, "call", "POST", c.url+"/api/whoami",
		"--secret", c.appSecret, "--user", "usr_container", "--account", account)
	require.Equal(t, 0, whoami.Code, "signed call through the container: exit %d\n%s%s", whoami.Code, whoami.Stdout, whoami.Stderr)
	require.Contains(t, whoami.Stdout, `"account_id":"`+account+`"`, "signed call through the container: exit %d\n%s%s", whoami.Code, whoami.Stdout, whoami.Stderr)
	trigger := e2etest.RunCLI(t, []string{}, "trigger", "account.application.authorized", "--account", account,
		"--url", c.url+"/webhooks/stripe", "--secret", c.webhookSecret)
	require.Equal(t, 0, trigger.Code, "signed webhook through the container: exit %d\n%s%s", trigger.Code, trigger.Stdout, trigger.Stderr)
	if !e2etest.WaitFor(30*time.Second, func() bool { return c.installed(t, account) }) {
		require.FailNow(t, fmt.Sprintf("the installation was not recorded; server log:\n%s", c.stderr()))
	}
	// The image's HEALTHCHECK, as the engine runs it: /appbackend healthcheck inside.
	if out, err := pm.run(time.Minute, "healthcheck", "run", c.name); err != nil {
		require.FailNow(t, fmt.Sprintf("podman healthcheck run: %v: %s", err, out))
	}
	status := pm.must(time.Minute, "inspect", "--format", "{{.State.Health.Status}}", c.name)
	require.Equal(t, "healthy", status, "health status = %q, want healthy", status)
	c.stop(t)

	// Second container on the same volume: the database, its secrets and the
	// installation are kept.
	c2 := startContainer(t, pm, image, volume)
	if c2.appSecret != c.appSecret || c2.webhookSecret != c.webhookSecret {
		require.FailNow(t, fmt.Sprintf("the restarted container generated new secrets instead of keeping them in /data:\n%s", c2.banner))
	}
	require.True(t, c2.installed(t, account), "the restarted container lost the installation of %s", account)
	list := pm.must(time.Minute, "exec", c2.name, "/appbackend", "installations", "--json")
	require.False(t, !strings.Contains(list, `"account_id":"`+account+`"`) && !strings.Contains(list, `"account_id": "`+account+`"`), "installations --json in the container lacks %s:\n%s", account, list)
	c2.stop(t)
}

// checkImageConfig checks the image's metadata: a non-root user, the /data volume, the
// listen address and the shell-less health check.
func checkImageConfig(t *testing.T, pm *podman, image string) {
	t.Helper()
	var inspect []struct {
		Size   int64
		Config struct {
			User       string
			Env        []string
			Volumes    map[string]any
			Entrypoint []string
			Cmd        []string
		}
		HealthCheck struct {
			Test []string
		}
	}
	err := json.Unmarshal([]byte(pm.must(time.Minute, "image", "inspect", image)), &inspect)
	require.NoError(t, err, "podman image inspect")
	require.Len(t, inspect, 1, "podman image inspect: %v", err)
	img := inspect[0]
	t.Logf("image size: %.1f MB", float64(img.Size)/1e6)
	require.False(t, img.Config.User == "" || strings.HasPrefix(img.Config.User, "0") || strings.HasPrefix(img.Config.User, "root"), "the image runs as %q, want a non-root user", img.Config.User)
	_, ok := img.Config.Volumes["/data"]
	require.True(t, ok, "the image declares volumes %v, want /data", img.Config.Volumes)
	env := strings.Join(img.Config.Env, "\n")
	for _, want := range []string{"APPBACKEND_ADDR=:8080", "APPBACKEND_DATABASE=sqlite:/data/"} {
		require.Contains(t, env, want, "the image's environment lacks %s:\n%s", want, env)
	}
	got := strings.Join(img.HealthCheck.Test, " ")
	require.Equal(t, "CMD /appbackend healthcheck", got, "HEALTHCHECK = %q, want CMD /appbackend healthcheck (exec form: the image has no shell)", got)
}

// checkCARoots calls an HTTPS server of the test's from inside the image: the
// certificate is the test's own, so the call must fail, and the error says whether
// the binary had CA roots to check it against (FROM scratch has no certificate store:
// without embedded roots Go fails to load any).
func checkCARoots(t *testing.T, pm *podman, image string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	out, err := pm.run(time.Minute, "run", "--rm", "--network=host", image,
		"call", "GET", srv.URL+"/api/whoami", "--secret", "absec_roots", "--user", "usr_roots", "--account", "acct_roots")
	switch {
	case err == nil:
		require.FailNow(t, fmt.Sprintf("a call to an untrusted certificate succeeded: %s", out))
	case strings.Contains(out, "failed to load system roots"):
		require.FailNow(t, fmt.Sprintf("the image has no CA roots: %s", out))
	case !strings.Contains(out, "certificate signed by unknown authority"):
		require.FailNow(t, fmt.Sprintf("the call to an untrusted certificate failed otherwise than expected: %s", out))
	}
}

// checkTimeZones looks for the time-zone database in the image's binary, the only file
// there is (the server itself logs in UTC, so no output shows a zone): time/tzdata
// embeds a zip of zoneinfo files, stored, so a zone's name is followed by its data.
func checkTimeZones(t *testing.T, pm *podman, image string) {
	t.Helper()
	id := pm.must(time.Minute, "create", image)
	defer pm.run(time.Minute, "rm", "--force", id)
	bin := filepath.Join(t.TempDir(), "appbackend")
	pm.must(time.Minute, "cp", id+":/appbackend", bin)
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.True(t, bytes.Contains(b, []byte("Asia/KolkataTZif")), "the image's binary carries no time-zone database (time/tzdata)")
}

// gitVersion is what the Makefile stamps: scripts/version.sh and the HEAD commit, both
// empty outside a git checkout.
func gitVersion(t *testing.T, root string) (version, commit string) {
	t.Helper()
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", ""
	}
	v, err := exec.Command(filepath.Join(root, "scripts", "version.sh")).Output()
	if err != nil {
		require.FailNow(t, fmt.Sprintf("scripts/version.sh: %v\n%s", err, exitStderr(err)))
	}
	return strings.TrimSpace(string(v)), strings.TrimSpace(string(head))
}

// podman runs podman with a containers.conf of the settings this kind of machine needs:
// runc (crun refuses a cgroup v1 host) and no default ulimits (refused in a container).
type podman struct {
	t   *testing.T
	bin string
	env []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		require.Equal(t, "", os.Getenv("APPBACKEND_REQUIRE_PODMAN"), "podman is missing; scripts/podman.sh installs it (make test runs it first)")
		t.Skip("podman is missing (scripts/podman.sh installs it)")
	}
	env := os.Environ()
	if os.Getenv("CONTAINERS_CONF") == "" {
		conf := "[containers]\ndefault_ulimits = []\n"
		if _, err := exec.LookPath("runc"); err == nil {
			conf += "[engine]\nruntime = \"runc\"\n"
		} else if _, err := os.Stat("/usr/sbin/runc"); err == nil {
			conf += "[engine]\nruntime = \"/usr/sbin/runc\"\n"
		}
		path := filepath.Join(t.TempDir(), "containers.conf")
		require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
		env = append(env, "CONTAINERS_CONF="+path)
	}
	return &podman{t: t, bin: bin, env: env}
}

func (p *podman) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Env = p.env
	return cmd
}

// run runs podman and returns its combined output, trimmed.
func (p *podman) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := p.command(ctx, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// must is run that fails the test on an error, and returns standard output only.
func (p *podman) must(timeout time.Duration, args ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := p.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(p.t, cmd.Run(), "podman %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	return strings.TrimSpace(stdout.String())
}

// container is a running `serve --dev` container, attached: its standard output is
// read line by line (the banner), its standard error kept (the log).
type container struct {
	pm            *podman
	name          string
	url           string // the published port on the host's loopback
	banner        string
	appSecret     string
	webhookSecret string
	cmd           *exec.Cmd
	done          chan struct{}
	logMu         sync.Mutex
	log           bytes.Buffer
}

var (
	bannerAppSecret     = regexp.MustCompile(`STRIPE_APP_SECRETS=(absec_\S+)`)
	bannerWebhookSecret = regexp.MustCompile(`STRIPE_WEBHOOK_SECRETS=(whsec_\S+)`)
)

func startContainer(t *testing.T, pm *podman, image, volume string) *container {
	t.Helper()
	c := &container{pm: pm, name: "appbackend-e2e-" + randomHex(t), done: make(chan struct{})}
	// -p 127.0.0.1::8080: podman picks a free host port, so runs side by side never
	// collide; the health check's own timer is off (no systemd here) and is run below.
	c.cmd = pm.command(context.Background(), "run", "--rm", "--name", c.name,
		"-p", "127.0.0.1::8080", "-v", volume+":/data",
		"--health-interval", "disable", image, "serve", "--dev")
	stdout, err := c.cmd.StdoutPipe()
	require.NoError(t, err)
	c.cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		c.logMu.Lock()
		defer c.logMu.Unlock()
		return c.log.Write(p)
	})
	require.NoError(t, c.cmd.Start(), "podman run")
	t.Cleanup(func() {
		pm.run(time.Minute, "rm", "--force", "--time", "0", c.name)
		<-c.done
	})
	lines := make(chan string)
	go func() {
		defer close(c.done)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_ = c.cmd.Wait()
	}()
	var banner strings.Builder
	timeout := time.After(2 * time.Minute)
	for !strings.Contains(banner.String(), " trigger ") {
		select {
		case line, ok := <-lines:
			if !ok {
				require.FailNow(t, fmt.Sprintf("the container exited before its --dev banner:\n%s\n%s", banner.String(), c.stderr()))
			}
			banner.WriteString(line + "\n")
		case <-timeout:
			require.FailNow(t, fmt.Sprintf("no --dev banner from the container in 2 minutes:\n%s\n%s", banner.String(), c.stderr()))
		}
	}
	go func() { // the rest of standard output, unread, must not block the container
		for range lines {
		}
	}()
	c.banner = banner.String()
	if m := bannerAppSecret.FindStringSubmatch(c.banner); m != nil {
		c.appSecret = m[1]
	}
	if m := bannerWebhookSecret.FindStringSubmatch(c.banner); m != nil {
		c.webhookSecret = m[1]
	}
	if c.appSecret == "" || c.webhookSecret == "" {
		require.FailNow(t, fmt.Sprintf("the --dev banner lacks the secrets:\n%s", c.banner))
	}
	c.url = "http://" + pm.must(time.Minute, "port", c.name, "8080/tcp")
	return c
}

func (c *container) stderr() string {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	return c.log.String()
}

// installed asks the signed GET /api/installation whether account is installed live.
func (c *container) installed(t *testing.T, account string) bool {
	t.Helper()
	res := e2etest.RunCLI(t, []string{}, "sign", "--secret", c.appSecret, "--user", "usr_container", "--account", account)
	require.Equal(t, 0, res.Code, "appbackend sign: %s", res.Stderr)
	req, err := http.NewRequest(http.MethodGet, c.url+"/api/installation?user_id=usr_container&account_id="+account, nil)
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", strings.SplitN(res.Stdout, "\n", 2)[0])
	resp, err := e2etest.HTTPClient.Do(req)
	require.NoError(t, err, "GET /api/installation")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		require.FailNow(t, fmt.Sprintf("GET /api/installation = %d %s", resp.StatusCode, body))
	}
	var state e2etest.InstallationState
	require.NoError(t, json.Unmarshal(body, &state), "GET /api/installation body %s", body)
	return state.Live != nil && state.Live.Status == "installed"
}

// stop stops the container as an engine does (SIGTERM, then a grace period) and wants
// a clean exit.
func (c *container) stop(t *testing.T) {
	t.Helper()
	c.pm.must(2*time.Minute, "stop", "--time", "30", c.name)
	<-c.done
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		require.FailNow(t, fmt.Sprintf("the container exited with %d on stop:\n%s", code, c.stderr()))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// exitStderr is what a command that exited non-zero printed on standard error.
func exitStderr(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(exit.Stderr)
	}
	return fmt.Sprint(err)
}
