package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/oauth"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/setup"
)

const installLinkNotes = `install-link runs an install link against a running backend as a browser and Stripe
would: GET /install (keeping its cookie), then Stripe's redirect to /install/callback
with user_id, account_id, the state and an install_signature signed with the app secret
over JSON.stringify({state, user_id, account_id}), and livemode=false with --test
(--secret, else the first of STRIPE_APP_SECRETS, else the dev secret in --database).
With --oauth the redirect also carries a code (--code, else a new ac_… value): the
backend exchanges it at its STRIPE_API_BASE, so that must be a fake that accepts it.

--url takes the backend's base URL (http://host:port, under a path prefix too), its
/install URL, or the webhook URL trigger --url takes: the same value works for both.`

func runInstallLink(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("install-link", "appbackend install-link --account ACCT [--user USR] [--oauth [--code CODE]] [--test] [--url URL] [--secret absec_…]", stdout)
	f.notes = installLinkNotes
	account := f.String("account", "", "the account that installs (acct_…)")
	user := f.String("user", "usr_cli", "the installing user (usr_…)")
	withOAuth := f.Bool("oauth", false, "install as an OAuth app: the redirect carries a code")
	code := f.String("code", "", "the OAuth code to send (default a new ac_… value)")
	test := f.Bool("test", false, "start the install in test mode (GET /install?mode=test)")
	target := f.String("url", "", "the backend's base URL, or its /install URL (default http://APPBACKEND_ADDR)")
	secret := f.String("secret", "", "app signing secret absec_… (default: see below)")
	database := databaseFlag(f, getenv)
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if !strings.HasPrefix(*account, "acct_") {
		return usagef("--account acct_… is required")
	}
	base, err := endpointURL(*target, getenv, "")
	if err != nil {
		return err
	}
	// The base URL, or the install URL itself, or the webhook URL trigger --url takes:
	// the backend is the same.
	base.Path = strings.TrimRight(base.Path, "/")
	for _, suffix := range []string{"/install", webhookPath} {
		base.Path = strings.TrimSuffix(base.Path, suffix)
	}
	base.RawPath, base.RawQuery, base.Fragment = "", "", ""
	if *secret == "" {
		if *secret, err = defaultSecret(ctx, getenv, *database, appSecret); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	start := base.String() + "/install"
	if *test {
		start += "?mode=test"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start, nil)
	if err != nil {
		return usagef("%v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %v", start, unwrapURLError(err))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return fmt.Errorf("GET /install answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	state := ""
	if err == nil {
		state = loc.Query().Get("state")
	}
	if state == "" {
		return fmt.Errorf("GET /install redirected without a state: %q", resp.Header.Get("Location"))
	}
	fmt.Fprintf(stdout, "GET /install → 302 %s://%s%s\n", loc.Scheme, loc.Host, loc.Path)

	// As Stripe signs it: JSON.stringify({state, user_id, account_id}).
	now := time.Now().Unix()
	header := fmt.Sprintf("t=%d,v1=%s", now, appauth.ComputeSignature(*secret, now, appbackend.InstallSignedContent(state, *user, *account)))
	q := url.Values{"state": {state}, "user_id": {*user}, "account_id": {*account}, "install_signature": {header}}
	if *test {
		q.Set("livemode", "false") // what Stripe adds to a test install's redirect
	}
	if *withOAuth {
		if *code == "" {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			*code = "ac_cli_" + hex.EncodeToString(b)
		}
		q.Set("code", *code)
	}
	callback := base.String() + "/install/callback?" + q.Encode()
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, callback, nil)
	if err != nil {
		return usagef("%v", err)
	}
	for _, c := range resp.Cookies() {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err = client.Do(req)
	if err != nil {
		return fmt.Errorf("GET /install/callback: %v", unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode == http.StatusFound:
		fmt.Fprintf(stdout, "GET /install/callback → %s %s\n", resp.Status, resp.Header.Get("Location"))
	case resp.StatusCode < 300:
		fmt.Fprintf(stdout, "GET /install/callback → %s (installed page)\n", resp.Status)
	default:
		fmt.Fprintf(stdout, "GET /install/callback → %s %s\n", resp.Status, strings.TrimSpace(string(body)))
		return fmt.Errorf("the install was refused: %s", resp.Status)
	}
	return nil
}

func runRotateKey(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("rotate-key", "appbackend rotate-key [--database URL]", stdout)
	f.notes = `rotate-key re-encrypts every stored OAuth token and certificate private key with
the first key of APPBACKEND_ENCRYPTION_KEY (comma-separated base64 keys: put the new key
first and keep the old ones after it until this has run). Values already under the first
key are left as they are. Print a new key with: appbackend rotate-key --new`
	var d dbFlags
	d.register(f, getenv)
	newKey := f.Bool("new", false, "print a new random key and exit")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if *newKey {
		fmt.Fprintln(stdout, secretbox.NewKey())
		return nil
	}
	keys, err := secretbox.Parse(getenv("APPBACKEND_ENCRYPTION_KEY"))
	if err != nil {
		return usagef("APPBACKEND_ENCRYPTION_KEY: %v", err)
	}
	if keys.Empty() {
		return usagef("APPBACKEND_ENCRYPTION_KEY is not set: put the new key first, then the old ones")
	}
	st, err := d.open(ctx, existing)
	if err != nil {
		return err
	}
	defer st.Close()
	kind, _, _ := setup.ParseDatabase(d.database)
	n, err := oauth.New(oauth.Config{DB: st.DB(), Postgres: kind == "postgres", Keys: keys}).RotateKeys(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-encrypted %d token row(s) with key %s\n", n, keys.PrimaryID())
	// The certificates' and the ACME account's private keys are sealed with the same
	// keys (automatic HTTPS): those under an older key, or stored unsealed, too.
	if db, ok := st.(certstore.DB); ok {
		m, err := certstore.New(db, certstore.WithKeys(keys)).Reseal(ctx)
		if err != nil {
			return fmt.Errorf("re-seal the certificates' private keys: %w", err)
		}
		if m > 0 {
			fmt.Fprintf(stdout, "re-sealed %d certificate private key(s) with key %s\n", m, keys.PrimaryID())
		}
	}
	return nil
}
