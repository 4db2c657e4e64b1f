package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Call is a delivery to the upstream: a method and a path under its base URL, a
// webhook-id, a body and extra headers.
type Call struct {
	Method string
	Path   string
	// ID is the webhook-id: the same on every retry of one delivery, so that the
	// upstream can deduplicate.
	ID     string
	Body   []byte
	Header http.Header
}

// Answer is a 2xx answer of the upstream.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// maxAnswer bounds how much of an answer a delivery keeps.
const maxAnswer = 1 << 20

// StatusError is the upstream's answer to a delivery that was not a 2xx.
type StatusError struct {
	Status int
	Body   string
	// Location is a redirect's target (3xx), which deliveries do not follow.
	Location string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("upstream answered %d", e.Status)
	if e.Status >= 300 && e.Status <= 399 {
		loc := e.Location
		if loc == "" {
			loc = "nowhere (no Location)"
		}
		msg += " redirecting to " + loc + "; deliveries do not follow redirects, answer 2xx on the path itself"
	}
	if e.Body == "" {
		return msg
	}
	return msg + ": " + e.Body
}

// Deliver sends c to the upstream, signed, and returns its answer when it is a 2xx;
// anything else is an error (a *StatusError for a non-2xx answer), for the caller's
// job to retry.
func (g *Gateway) Deliver(ctx context.Context, c Call) (*Answer, error) {
	req, err := http.NewRequestWithContext(ctx, c.Method, g.URL(c.Path), bytes.NewReader(c.Body))
	if err != nil {
		return nil, err
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "appbackend")
	g.signer.SetHeaders(req.Header, c.ID, g.Now(), c.Body)
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, upstreamError(err, "the app's server")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, upstreamError(err, "the app's server")
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		text := clip(strings.TrimSpace(string(body)))
		return nil, &StatusError{Status: resp.StatusCode, Body: text, Location: clip(resp.Header.Get("Location"))}
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// clip bounds what an error keeps of the upstream's answer.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// URL is the upstream URL of path (which starts with "/").
func (g *Gateway) URL(path string) string {
	return strings.TrimSuffix(g.base.String(), "/") + path
}

// ParseCall splits a call such as "POST /jobs/refresh" into its method and path.
func ParseCall(call string) (method, path string, err error) {
	method, path, ok := strings.Cut(strings.TrimSpace(call), " ")
	path = strings.TrimSpace(path)
	if !ok || method == "" || strings.ToUpper(method) != method || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t#") {
		return "", "", fmt.Errorf("call %q: want a method and a path, such as \"POST /jobs/refresh\"", call)
	}
	if p, _, _ := strings.Cut(path, "?"); CheckPath(p, "/") != nil {
		return "", "", fmt.Errorf("call %q: %w", call, ErrPath)
	}
	return method, path, nil
}
