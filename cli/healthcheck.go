package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/appbackend/appbackend"
)

// runHealthcheck asks the running server's GET /readyz and exits 0 when it answers 200,
// 1 otherwise, with one line either way. It is the container image's HEALTHCHECK, which
// has no shell or curl to run: the server's own binary probes it on the address the
// same configuration makes it listen on.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("healthcheck", "appbackend healthcheck [--addr HOST:PORT] [--timeout D]", stdout)
	f.notes = "Exit status 0 when GET /readyz answers 200 (the database is reachable and has room), 1 otherwise."
	addr := f.String("addr", "", "the server's listen address (default APPBACKEND_ADDR, as serve reads it)")
	timeout := f.Duration("timeout", 5*time.Second, "how long the probe may take")
	if rest, err := f.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	if *addr == "" {
		cfg, err := loadConfig(getenv, nil)
		if err != nil {
			return err
		}
		*addr = listenAddr(cfg)
	}
	target, err := probeURL(*addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	client := &http.Client{
		// Straight to the server: a proxy from HTTP_PROXY is no judge of its health.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		// The plain listener answers /readyz itself even when it redirects the rest to
		// HTTPS: a redirect is a misdirected probe, not health.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return err // *url.Error: Get "http://…/readyz": dial tcp …: connection refused
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %d: %s", target, resp.StatusCode, readyReason(body))
	}
	fmt.Fprintf(stdout, "healthy: GET %s answered 200\n", target)
	return nil
}

// listenAddr is the address serve listens on for cfg, its defaults included.
func listenAddr(cfg appbackend.Config) string {
	switch {
	case cfg.Addr != "":
		return cfg.Addr
	case len(cfg.Domains) > 0:
		return appbackend.DefaultHTTPAddrWithDomain
	}
	return appbackend.DefaultAddr
}

// probeURL is the /readyz URL for a listen address: a wildcard host (":8080",
// "0.0.0.0:8080", "[::]:8080") is probed on loopback, where the server also listens.
func probeURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil || port == "" || port == "0" {
		return "", usagef("cannot probe listen address %q: want HOST:PORT with a port, e.g. :8080", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// readyReason is the contract's error message in a /readyz answer, or the start of the
// body when it is not one (another program on the port).
func readyReason(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}
