package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/appbackend/appbackend/appauth"
)

func runCall(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("call", "appbackend call METHOD URL [--secret S] --user U --account A [--payload JSON] [--role ID]…", stdout)
	var s signFlags
	s.register(f, getenv)
	timeout := f.Duration("timeout", 30*time.Second, "give up after this long")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usagef("want METHOD and URL, got %d arguments", len(rest))
	}
	method, rawURL := strings.ToUpper(rest[0]), rest[1]
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("URL %q is not an http(s) URL", rawURL)
	}
	if !hasBody(method) && len(s.roles) > 0 {
		return usagef("--role needs a method with a body (POST, PUT, PATCH)")
	}
	// A request without a body carries the signed ids in its query string, as a
	// UI extension's GET or DELETE does, and its mode as a signed ?livemode= when
	// --payload is {"livemode":…}: the one payload such a request can prove, since
	// the server rebuilds the signed string from the query (appauth.SignedQuery).
	var query url.Values
	if !hasBody(method) {
		if query, err = appauth.QueryFor(s.user, s.account, []byte(s.payload)); err != nil {
			return usagef("--payload on %s: %s", method, strings.TrimPrefix(err.Error(), "appauth: "))
		}
	}
	header, body, err := s.sign(ctx, time.Now())
	if err != nil {
		return err
	}
	var reqBody io.Reader
	if hasBody(method) {
		reqBody = bytes.NewReader(body)
	} else {
		q := u.Query()
		for k, v := range query {
			q[k] = v
		}
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reqBody)
	if err != nil {
		return usagef("%v", err)
	}
	req.Header.Set("Stripe-Signature", header)
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %v", method, u.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, io.LimitReader(resp.Body, 64<<20)); err != nil {
		return fmt.Errorf("read response: %v", err)
	}
	if resp.StatusCode >= 400 {
		return fmt.Errorf("server answered %s", resp.Status)
	}
	return nil
}

// hasBody tells whether a UI extension's request with method carries the signed body;
// the others carry the signed ids (and livemode, if signed) in their query string, and
// can sign nothing else.
func hasBody(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
		return false
	}
	return true
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
