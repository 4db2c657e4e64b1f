package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func runCall(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("call", "appbackend call METHOD URL --secret S --user U --account A [--payload JSON]", stdout)
	var s signFlags
	s.register(f)
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
	header, body, err := s.sign(time.Now())
	if err != nil {
		return err
	}
	// A request without a body carries the signed ids in its query string, as a
	// UI extension's GET or DELETE does.
	var reqBody io.Reader
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
		if s.payload != "" {
			return usagef("--payload needs a method with a body (POST, PUT, PATCH)")
		}
		q := u.Query()
		q.Set("user_id", s.user)
		q.Set("account_id", s.account)
		u.RawQuery = q.Encode()
	default:
		reqBody = bytes.NewReader(body)
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

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
