package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
)

// installed writes the account's own row when it installs the app in a mode. It runs
// in the install event's transaction: the row is written exactly once with the event,
// and not at all if the event's processing fails. A reinstall resets the settings.
func (tg *tagger) installed(ctx context.Context, in appbackend.Installation) error {
	tx, ok := appbackend.Tx(ctx)
	if !ok {
		return errors.New("install hook without a transaction")
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO tagger_accounts (account_id, livemode, default_tag, installed_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account_id, livemode) DO UPDATE SET default_tag = excluded.default_tag, installed_at = excluded.installed_at`,
		in.AccountID, in.Livemode, tg.defaultTag, time.Now().Unix())
	return err
}

// uninstalled deletes the account's settings as the uninstall is processed, so that no
// new invoice of the account is tagged from then on. Its tags and summaries go in
// removeAccountData, the data-removal job appbackend runs after the uninstall.
func (tg *tagger) uninstalled(ctx context.Context, in appbackend.Installation) error {
	tx, ok := appbackend.Tx(ctx)
	if !ok {
		return errors.New("uninstall hook without a transaction")
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM tagger_accounts WHERE account_id = $1 AND livemode = $2`, in.AccountID, in.Livemode)
	return err
}

// removeAccountData deletes everything the app keeps about an account in one mode
// after it uninstalled. appbackend does not run it if the account reinstalled first.
func (tg *tagger) removeAccountData(ctx context.Context, accountID string, livemode bool) error {
	tx, ok := appbackend.Tx(ctx)
	if !ok {
		return errors.New("cleanup hook without a transaction")
	}
	for _, table := range []string{"invoice_tags", "tag_summaries", "tagger_accounts"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE account_id = $1 AND livemode = $2`, accountID, livemode); err != nil {
			return fmt.Errorf("delete %s: %w", table, err)
		}
	}
	return nil
}

// invoiceFinalized gives a newly finalized invoice the account's default tag: in the
// app's table, through the event's transaction, and in the invoice's metadata.
//
// appbackend processes each event once, even when Stripe delivers it again (at least
// once, and to both endpoints of an app installed in both modes), and the table write
// commits with the event being marked processed. The primary key adds a second guard:
// a tag already on the invoice is neither stored nor sent to Stripe again.
func (tg *tagger) invoiceFinalized(ctx context.Context, ev appbackend.Event) error {
	var invoice struct {
		ID string `json:"id"`
	}
	if err := ev.DataObject(&invoice); err != nil {
		return err
	}
	if invoice.ID == "" || ev.AccountID == "" {
		return nil // not a merchant's invoice: nothing to tag
	}
	tx, ok := appbackend.Tx(ctx)
	if !ok {
		return errors.New("event handler without a transaction")
	}
	var tag string
	err := tx.QueryRowContext(ctx, `SELECT default_tag FROM tagger_accounts WHERE account_id = $1 AND livemode = $2`,
		ev.AccountID, ev.Livemode).Scan(&tag)
	if isNoRows(err) {
		return nil // the account has not installed the app in this mode
	}
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO invoice_tags (account_id, livemode, invoice_id, tag, added_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (account_id, livemode, invoice_id, tag) DO NOTHING`,
		ev.AccountID, ev.Livemode, invoice.ID, tag, ev.ID, time.Now().Unix())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return nil // the invoice already has the tag
	}
	// The event's account and mode: app.Stripe(ctx) calls on the merchant's behalf. If
	// Stripe fails, the error rolls the insert back and the event is retried.
	sc, err := tg.app.Stripe(ctx)
	if err != nil {
		return err
	}
	_, err = sc.V1Invoices.Update(ctx, invoice.ID, &stripe.InvoiceUpdateParams{
		Metadata: map[string]string{metadataKey(tag): "true"},
	})
	return err
}
