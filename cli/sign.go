package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/jsjson"
	"github.com/appbackend/appbackend/internal/striperoles"
)

// rolesHelp documents --role, for the help of sign and call.
const rolesHelp = `Roles: --role ID (repeatable) signs the user's Dashboard roles as a UI extension does,
under the payload key stripe_roles, after the keys of --payload:
  "stripe_roles":[{"id":"admin","name":"Admin","type":"builtIn"},{"id":"role_…","name":"Role …","type":"custom"}]
type is "builtIn" for Stripe's built-in role ids (admin, super_admin, developer,
view_only, analyst, …) and "custom" for any other id. appbackend trusts the ids only
(Identity.Roles, appauth.RequireRole); Stripe refuses to sign a role the user lacks.`

// secretHelp says where the secret comes from without --secret.
const secretHelp = `Secret: without --secret, the first of STRIPE_APP_SECRETS, else the app secret that
'appbackend serve --dev' keeps in the database (--database, APPBACKEND_DATABASE).`

// signFlags are the flags sign and call share.
type signFlags struct {
	secrets   multiFlag
	roles     multiFlag
	user      string
	account   string
	payload   string
	timestamp string
	database  *string
	getenv    func(string) string
}

func (s *signFlags) register(f *flags, getenv func(string) string) {
	s.getenv = getenv
	f.Var(&s.secrets, "secret", "app signing secret absec_… (repeat for one v1 per secret; default: see Secret below)")
	f.StringVar(&s.user, "user", "", "the Dashboard user id usr_…")
	f.StringVar(&s.account, "account", "", "the account id acct_…")
	f.StringVar(&s.payload, "payload", "", "additional payload, a JSON object, as passed to fetchStripeSignature")
	f.Var(&s.roles, "role", "sign the role `ID` in stripe_roles (repeatable; see Roles below)")
	s.database = databaseFlag(f, getenv)
	f.notes = rolesHelp + "\n\n" + secretHelp
}

// signedPayload is --payload with --role merged in: the additional payload to sign,
// nil for none.
func (s *signFlags) signedPayload() ([]byte, error) {
	if len(s.roles) == 0 {
		if s.payload == "" {
			return nil, nil
		}
		return []byte(s.payload), nil
	}
	obj := jsjson.NewObject()
	if s.payload != "" {
		v, err := jsjson.Parse([]byte(s.payload))
		if err != nil {
			return nil, usagef("--payload is not valid JSON: %v", err)
		}
		if v.Kind != jsjson.Object {
			return nil, usagef("--payload must be a JSON object, not %s", v.Kind)
		}
		if _, ok := v.Members.Get(striperoles.Key); ok {
			return nil, usagef("--payload has a %s key and --role is given: use one or the other", striperoles.Key)
		}
		obj = v
	}
	obj.Members.Set(striperoles.Key, striperoles.Value(s.roles))
	return jsjson.AppendStringify(nil, obj), nil
}

// sign returns the header and the exact body a UI extension sends.
func (s *signFlags) sign(ctx context.Context, now time.Time) (header string, body []byte, err error) {
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
	payload, err := s.signedPayload()
	if err != nil {
		return "", nil, err
	}
	secrets := []string(s.secrets)
	if len(secrets) == 0 {
		secret, err := defaultSecret(ctx, s.getenv, *s.database, appSecret)
		if err != nil {
			return "", nil, err
		}
		secrets = []string{secret}
	}
	header, body, err = appauth.Sign(secrets, t, s.user, s.account, payload)
	if err != nil {
		return "", nil, usageError{err.Error()}
	}
	return header, body, nil
}

func runSign(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("sign", "appbackend sign [--secret S [--secret S2]] --user U --account A [--payload JSON] [--role ID]… [--timestamp UNIX]", stdout)
	var s signFlags
	s.register(f, getenv)
	f.StringVar(&s.timestamp, "timestamp", "", "Unix time to sign at (default now)")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	header, body, err := s.sign(ctx, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, header)
	fmt.Fprintln(stdout, string(body))
	return nil
}
