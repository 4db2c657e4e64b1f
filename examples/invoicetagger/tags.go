package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
)

// registerRoutes adds the routes the UI extension calls. Every one is signed: it runs
// only for a request a Dashboard user of the account signed (fetchStripeSignature).
func (tg *tagger) registerRoutes() {
	// Tagging changes the invoice in Stripe: admins only. The role is proven by the
	// signed stripe_roles payload, so the UI signs {tag, stripe_roles: userContext.roles}
	// and the tag is covered by the signature too.
	tg.app.Handle("POST /api/invoices/{id}/tags", appauth.RequireRole("admin")(http.HandlerFunc(tg.addTag)))
	tg.app.HandleFunc("GET /api/invoices/{id}/tags", tg.listTags)
	tg.app.HandleFunc("POST /api/exports", tg.startExport)
}

// tag is one tag of an invoice, as the routes answer it.
type tag struct {
	Tag       string `json:"tag"`
	AddedBy   string `json:"added_by"`
	CreatedAt int64  `json:"created_at"`
}

// addTag adds the signed {"tag": …} to the invoice: first on the invoice's metadata in
// Stripe, which also proves the invoice is the caller's account's (another account's
// id is a 404 there), then in the app's table.
func (tg *tagger) addTag(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, _ := appbackend.IdentityFrom(ctx)
	invoiceID := r.PathValue("id")
	if !strings.HasPrefix(invoiceID, "in_") {
		tg.app.WriteError(w, r, appbackend.NewError(appbackend.CodeBadRequest, "not an invoice id: "+invoiceID))
		return
	}
	var body struct {
		Tag string `json:"tag"`
	}
	if err := json.Unmarshal(id.Payload, &body); err != nil {
		tg.app.WriteError(w, r, appbackend.NewError(appbackend.CodeBadRequest, "the body must be a JSON object with a tag"))
		return
	}
	name, err := normalizeTag(body.Tag)
	if err != nil {
		tg.app.WriteError(w, r, appbackend.NewError(appbackend.CodeBadRequest, err.Error()))
		return
	}
	// The caller's account, in the mode the UI signed as livemode (or the only one).
	sc, err := tg.app.Stripe(ctx)
	if err != nil {
		tg.app.WriteError(w, r, err)
		return
	}
	livemode := sc.Mode().Livemode()

	// A quick look first, so that a duplicate costs no call to Stripe.
	exists, err := tg.hasTag(ctx, id.AccountID, livemode, invoiceID, name)
	if err == nil && exists {
		err = appbackend.NewError(appbackend.CodeConflict, fmt.Sprintf("the invoice already has the tag %q", name))
	}
	if err != nil {
		tg.app.WriteError(w, r, err)
		return
	}
	// Stripe before the table: a route's transaction holds SQLite's only connection, so
	// it should not wait on the network. Setting a metadata key twice is harmless.
	if _, err := sc.V1Invoices.Update(ctx, invoiceID, &stripe.InvoiceUpdateParams{
		Metadata: map[string]string{metadataKey(name): "true"},
	}); err != nil {
		tg.app.WriteError(w, r, err) // 404 not_found for an invoice the account does not have
		return
	}

	var tags []tag
	err = tg.app.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO invoice_tags (account_id, livemode, invoice_id, tag, added_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (account_id, livemode, invoice_id, tag) DO NOTHING`,
			id.AccountID, livemode, invoiceID, name, id.UserID, time.Now().Unix())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 { // a concurrent request added it since the look above
			return appbackend.NewError(appbackend.CodeConflict, fmt.Sprintf("the invoice already has the tag %q", name))
		}
		// Read back in the same transaction: the answer is the list as this write left it.
		tags, err = queryTags(ctx, tx, id.AccountID, livemode, invoiceID)
		return err
	})
	if err != nil {
		tg.app.WriteError(w, r, err)
		return
	}
	appbackend.WriteJSON(w, http.StatusCreated, map[string]any{"invoice_id": invoiceID, "tags": tags})
}

// listTags answers the invoice's tags. Any user of the account may read them; a GET
// proves only the user and account (in its query string), which is all it needs.
func (tg *tagger) listTags(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, _ := appbackend.IdentityFrom(ctx)
	invoiceID := r.PathValue("id")
	_, livemode, err := tg.app.Account(ctx) // the request's account and mode, no call to Stripe
	if err != nil {
		tg.app.WriteError(w, r, err)
		return
	}
	tags, err := queryTags(ctx, tg.app.ReadDB(), id.AccountID, livemode, invoiceID)
	if err != nil {
		tg.app.WriteError(w, r, err)
		return
	}
	appbackend.WriteJSON(w, http.StatusOK, map[string]any{"invoice_id": invoiceID, "tags": tags})
}

func (tg *tagger) hasTag(ctx context.Context, accountID string, livemode bool, invoiceID, name string) (bool, error) {
	var one int
	err := tg.app.ReadDB().QueryRowContext(ctx, `
		SELECT 1 FROM invoice_tags WHERE account_id = $1 AND livemode = $2 AND invoice_id = $3 AND tag = $4`,
		accountID, livemode, invoiceID, name).Scan(&one)
	if isNoRows(err) {
		return false, nil
	}
	return err == nil, err
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryTags(ctx context.Context, q querier, accountID string, livemode bool, invoiceID string) ([]tag, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT tag, added_by, created_at FROM invoice_tags
		WHERE account_id = $1 AND livemode = $2 AND invoice_id = $3 ORDER BY tag`,
		accountID, livemode, invoiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tags := []tag{}
	for rows.Next() {
		var tg tag
		if err := rows.Scan(&tg.Tag, &tg.AddedBy, &tg.CreatedAt); err != nil {
			return nil, err
		}
		tags = append(tags, tg)
	}
	return tags, rows.Err()
}

var tagPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,29}$`)

// normalizeTag lowercases a tag and checks it: 1 to 30 letters, digits, - and _,
// so that its metadata key (metadataKey) stays within Stripe's 40 characters.
func normalizeTag(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if !tagPattern.MatchString(s) {
		return "", fmt.Errorf("a tag is 1 to 30 letters, digits, - or _, starting with a letter or digit; got %q", s)
	}
	return s, nil
}

// metadataKey is the invoice metadata key that carries a tag: one key per tag, so that
// adding one never rewrites the others.
func metadataKey(tag string) string { return "tag_" + tag }

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
