package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/appbackend/appbackend/internal/install"
	"github.com/appbackend/appbackend/stripeclient"
)

// runReauthorize is `appbackend installations reauthorize ACCOUNT [--test]`: Stripe's
// reauthorize of the app's install on the account (POST /v1/apps/installs/{id}), with
// the configured key of the mode, and the access it answered stored on the
// installation.
func runReauthorize(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("installations reauthorize", "appbackend installations reauthorize ACCOUNT [--test]", stdout)
	var d dbFlags
	d.register(f, getenv)
	test := f.Bool("test", false, "the test-mode install (default: live)")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || !strings.HasPrefix(rest[0], "acct_") {
		return usagef("installations reauthorize needs one account id (acct_…)")
	}
	cfg, err := loadConfig(getenv, nil)
	if err != nil {
		return err
	}
	clients, err := stripeclient.New(stripeclient.Config{
		Keys:    stripeclient.Keys{Live: cfg.SecretKey, Test: cfg.TestSecretKey},
		APIBase: cfg.APIBase,
	})
	if err != nil {
		return err
	}
	st, err := d.open(ctx, existing)
	if err != nil {
		return err
	}
	defer st.Close()
	in, err := install.New(st, install.Config{}).Reauthorize(ctx, clients, cfg.AppID, rest[0], !*test)
	if err != nil {
		return err
	}
	pending := "none"
	if len(in.PermissionsPending) > 0 {
		pending = strings.Join(in.PermissionsPending, ", ")
	}
	fmt.Fprintf(stdout, "reauthorized %s on %s (%s mode); permissions pending the merchant's approval: %s\n",
		in.InstallID, in.AccountID, mode(in.Livemode), pending)
	return nil
}
