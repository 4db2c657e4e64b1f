package install

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// Reauthorize asks Stripe to reauthorize the app's install on an account in a mode
// (POST /v1/apps/installs/{id} with Stripe-Account) and records the access Stripe
// answered (UpdateAccessTx). The install's id is the one the installation recorded,
// else the one Stripe lists for the account and appID. The caller may be the server
// (App.ReauthorizeInstall) or the CLI: it needs the store and the mode's key only.
func (l *Lifecycle) Reauthorize(ctx context.Context, clients *stripeclient.Clients, appID, accountID string, livemode bool) (store.Installation, error) {
	mode := stripeclient.ModeOf(livemode)
	in, err := l.st.Installation(ctx, accountID, livemode)
	if errors.Is(err, store.ErrNotFound) {
		return in, apierror.New(apierror.CodeNotFound, fmt.Sprintf("%s has not installed the app in %s mode", accountID, mode))
	}
	if err != nil {
		return in, err
	}
	id := in.InstallID
	if id == "" {
		if appID == "" {
			return in, apierror.New(apierror.CodeUnavailable, fmt.Sprintf("the install id of %s is not known yet, and finding it needs STRIPE_APP_ID", accountID))
		}
		for obj, err := range clients.ListInstalls(ctx, mode, stripeclient.InstallListParams{App: appID, Account: accountID}) {
			if err != nil {
				return in, err
			}
			if obj.Account == accountID {
				id = obj.ID
				break
			}
		}
		if id == "" {
			return in, apierror.New(apierror.CodeNotFound, fmt.Sprintf("Stripe lists no install of the app on %s in %s mode", accountID, mode))
		}
	}
	sc, err := clients.Client(accountID, mode)
	if err != nil {
		return in, err
	}
	obj, err := sc.ReauthorizeInstall(ctx, id)
	if err != nil {
		return in, err
	}
	if obj.Account == "" {
		obj.Account = accountID
	}
	err = store.InTx(ctx, l.st.DB(), func(tx *sql.Tx) error {
		in, err = l.UpdateAccessTx(ctx, tx, livemode, obj)
		return err
	})
	return in, err
}
