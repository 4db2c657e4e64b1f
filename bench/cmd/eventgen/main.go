// Command eventgen writes pre-signed Stripe webhook events for the acknowledgement
// benchmark (bench/acks.sh, driven by wrk and bench/acks.lua): -n distinct snapshot
// events of type customer.updated, each a realistic full customer object under a unique
// cus_ id, spread over a few connected accounts (acct_…), test mode, each signed with
// stripe-go's webhook.ComputeSignature under -secret at the current time.
//
//	eventgen -n 100000 -secret whsec_… -tag M -out events.tsv
//
// One event per line: the Stripe-Signature header, a tab, the body (single-line JSON,
// so it holds no tab or newline). Event ids are evt_<tag><random>, customer ids
// cus_<tag><random>, so that a check can count the rows of one file (the warm-up's
// events carry another tag than the measured ones). Stripe rejects a signature older
// than 300 s, so generate the events right before they are sent.
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

// apiVersion is the api_version the events carry (stripe-go v85's).
const apiVersion = "2025-09-30.clover"

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "eventgen: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("eventgen", flag.ContinueOnError)
	n := fs.Int("n", 10000, "number of events")
	secret := fs.String("secret", "", "webhook endpoint secret (whsec_…) that signs every event")
	tag := fs.String("tag", "B", "alphanumeric tag after evt_ and cus_ in every id")
	accounts := fs.Int("accounts", 4, "number of distinct connected accounts (acct_…)")
	out := fs.String("out", "-", "output file, - for stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *n <= 0:
		return errors.New("-n must be positive")
	case *secret == "":
		return errors.New("-secret is required")
	case *accounts <= 0:
		return errors.New("-accounts must be positive")
	case *tag == "" || strings.Trim(*tag, idAlphabet) != "":
		return errors.New("-tag must be alphanumeric and not empty")
	}

	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)

	accts := make([]string, *accounts)
	for i := range accts {
		accts[i] = "acct_1" + randomID(15)
	}
	now := time.Now()
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	for i := range *n {
		body.Reset()
		if err := enc.Encode(newEvent(i, *tag, accts[i%len(accts)], now)); err != nil {
			return err
		}
		payload := bytes.TrimSuffix(body.Bytes(), []byte("\n"))
		sig := webhook.ComputeSignature(now, payload, *secret)
		fmt.Fprintf(bw, "t=%d,v1=%s\t", now.Unix(), hex.EncodeToString(sig))
		bw.Write(payload)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && *out != "-" {
		return f.Close()
	}
	return nil
}

// randomID returns n random characters of Stripe's id alphabet (math/rand/v2's
// generator is seeded from the system's randomness at start).
func randomID(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[rand.IntN(len(idAlphabet))]
	}
	return string(b)
}

// The event and customer objects, their fields in the order Stripe sends them.
type (
	event struct {
		ID              string    `json:"id"`
		Object          string    `json:"object"`
		Account         string    `json:"account"`
		APIVersion      string    `json:"api_version"`
		Created         int64     `json:"created"`
		Data            eventData `json:"data"`
		Livemode        bool      `json:"livemode"`
		PendingWebhooks int       `json:"pending_webhooks"`
		Request         request   `json:"request"`
		Type            string    `json:"type"`
	}
	eventData struct {
		Object             customer          `json:"object"`
		PreviousAttributes map[string]string `json:"previous_attributes"`
	}
	request struct {
		ID             string `json:"id"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	customer struct {
		ID                   string            `json:"id"`
		Object               string            `json:"object"`
		Address              *address          `json:"address"`
		Balance              int               `json:"balance"`
		Created              int64             `json:"created"`
		Currency             string            `json:"currency"`
		CustomerAccount      *string           `json:"customer_account"`
		DefaultSource        *string           `json:"default_source"`
		Delinquent           bool              `json:"delinquent"`
		Description          string            `json:"description"`
		Discount             *struct{}         `json:"discount"`
		Email                string            `json:"email"`
		InvoiceCreditBalance map[string]int    `json:"invoice_credit_balance"`
		InvoicePrefix        string            `json:"invoice_prefix"`
		InvoiceSettings      invoiceSettings   `json:"invoice_settings"`
		Livemode             bool              `json:"livemode"`
		Metadata             map[string]string `json:"metadata"`
		Name                 string            `json:"name"`
		NextInvoiceSequence  int               `json:"next_invoice_sequence"`
		Phone                string            `json:"phone"`
		PreferredLocales     []string          `json:"preferred_locales"`
		Shipping             shipping          `json:"shipping"`
		TaxExempt            string            `json:"tax_exempt"`
		TestClock            *string           `json:"test_clock"`
	}
	address struct {
		City       string  `json:"city"`
		Country    string  `json:"country"`
		Line1      string  `json:"line1"`
		Line2      *string `json:"line2"`
		PostalCode string  `json:"postal_code"`
		State      *string `json:"state"`
	}
	invoiceSettings struct {
		CustomFields         *struct{} `json:"custom_fields"`
		DefaultPaymentMethod string    `json:"default_payment_method"`
		Footer               *string   `json:"footer"`
		RenderingOptions     *struct{} `json:"rendering_options"`
	}
	shipping struct {
		Address address `json:"address"`
		Name    string  `json:"name"`
		Phone   string  `json:"phone"`
	}
)

var (
	firstNames = []string{"Jenny", "Amir", "Lena", "Kenji", "Sofia", "Tomasz", "Aisha", "Lucas"}
	lastNames  = []string{"Rosen", "Haddad", "Schmidt", "Tanaka", "García", "Nowak", "Okafor", "Martin"}
	cities     = []struct{ city, country, postal, currency, locale string }{
		{"Berlin", "DE", "10115", "eur", "de-DE"},
		{"Dublin", "IE", "D02 X285", "eur", "en-IE"},
		{"Paris", "FR", "75002", "eur", "fr-FR"},
		{"San Francisco", "US", "94103", "usd", "en-US"},
	}
	plans = []string{"starter", "pro", "business", "enterprise"}
)

// newEvent builds the i-th event: a customer whose email and plan were just updated.
func newEvent(i int, tag, account string, now time.Time) event {
	first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
	c := cities[i%len(cities)]
	name := first + " " + last
	email := fmt.Sprintf("%s.%s+%d@example.com", strings.ToLower(first), strings.ToLower(strings.ReplaceAll(last, "í", "i")), i)
	addr := address{City: c.city, Country: c.country, Line1: fmt.Sprintf("%d Market Street", 10+i%900), PostalCode: c.postal}
	created := now.Unix() - 86400*int64(30+i%700)
	return event{
		ID:         "evt_" + tag + randomID(24-len(tag)),
		Object:     "event",
		Account:    account,
		APIVersion: apiVersion,
		Created:    now.Unix(),
		Data: eventData{
			Object: customer{
				ID:                   "cus_" + tag + randomID(14-len(tag)),
				Object:               "customer",
				Address:              &addr,
				Created:              created,
				Currency:             c.currency,
				Description:          fmt.Sprintf("Customer %d of the acknowledgement benchmark", i),
				Email:                email,
				InvoiceCreditBalance: map[string]int{},
				InvoicePrefix:        strings.ToUpper(randomID(8)),
				InvoiceSettings:      invoiceSettings{DefaultPaymentMethod: "pm_1" + randomID(23)},
				Metadata:             map[string]string{"plan": plans[i%len(plans)], "user_id": fmt.Sprintf("usr_%08d", i), "source": "signup-form"},
				Name:                 name,
				NextInvoiceSequence:  1 + i%40,
				Phone:                fmt.Sprintf("+1415555%04d", i%10000),
				PreferredLocales:     []string{c.locale, "en"},
				Shipping:             shipping{Address: addr, Name: name, Phone: fmt.Sprintf("+1415555%04d", i%10000)},
				TaxExempt:            "none",
			},
			PreviousAttributes: map[string]string{"email": fmt.Sprintf("old.%d@example.com", i)},
		},
		PendingWebhooks: 1,
		Request:         request{ID: "req_" + randomID(14), IdempotencyKey: fmt.Sprintf("%x-%x", now.UnixNano(), i)},
		Type:            "customer.updated",
	}
}
