package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/appbackend/appbackend/appauth"
)

// signFlags are the flags sign and call share.
type signFlags struct {
	secrets   multiFlag
	user      string
	account   string
	payload   string
	timestamp string
}

func (s *signFlags) register(f *flags) {
	f.Var(&s.secrets, "secret", "app signing secret absec_… (repeat for one v1 per secret)")
	f.StringVar(&s.user, "user", "", "the Dashboard user id usr_…")
	f.StringVar(&s.account, "account", "", "the account id acct_…")
	f.StringVar(&s.payload, "payload", "", "additional payload, a JSON object, as passed to fetchStripeSignature")
}

// sign returns the header and the exact body a UI extension sends.
func (s *signFlags) sign(now time.Time) (header string, body []byte, err error) {
	if len(s.secrets) == 0 {
		return "", nil, usagef("--secret is required")
	}
	if s.user == "" || s.account == "" {
		return "", nil, usagef("--user and --account are required")
	}
	t := now
	if s.timestamp != "" {
		unix, err := strconv.ParseInt(s.timestamp, 10, 64)
		if err != nil || unix <= 0 {
			return "", nil, usagef("--timestamp %q is not a Unix time in seconds", s.timestamp)
		}
		t = time.Unix(unix, 0)
	}
	var payload []byte
	if s.payload != "" {
		payload = []byte(s.payload)
	}
	header, body, err = appauth.Sign(s.secrets, t, s.user, s.account, payload)
	if err != nil {
		return "", nil, usageError{err.Error()}
	}
	return header, body, nil
}

func runSign(args []string, stdout io.Writer) error {
	f := newFlags("sign", "appbackend sign --secret S [--secret S2] --user U --account A [--payload JSON] [--timestamp UNIX]", stdout)
	var s signFlags
	s.register(f)
	f.StringVar(&s.timestamp, "timestamp", "", "Unix time to sign at (default now)")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	header, body, err := s.sign(time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, header)
	fmt.Fprintln(stdout, string(body))
	return nil
}
