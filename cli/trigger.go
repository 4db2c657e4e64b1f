package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

// triggerTypes are examples of the event types trigger knows a realistic data.object
// for (webhooktest.Resources lists them all); any other type is sent with a bare object.
var triggerTypes = []string{
	"account.application.authorized", "account.application.deauthorized",
	"charge.succeeded", "charge.refunded", "refund.created", "invoice.paid",
	"payment_intent.succeeded", "customer.created", "customer.subscription.updated",
}

// triggerNotes follow the flags in `trigger --help`.
const triggerNotes = `Types: the object of a common type is realistic, with its id prefix and the fields
handlers read: charge.* a ch_… charge (amount, currency, customer cus_…, payment_intent
pi_…), refund.* and charge.refund.* a re_… refund of a ch_… charge, invoice.* an in_…
invoice, payment_intent.* a pi_…, customer.* a cus_… with an email, customer.subscription.*
a sub_…, charge.dispute.* a dp_…, checkout.session.* a cs_…, account.application.* and
apps.install.* what the install flow sends. Any other type gets a bare object
{"id":"obj_…","object":RESOURCE}: give it fields with --data.

URL: --url takes the webhook endpoint, or the backend's base URL (http://host:port, as
install-link --url), to which /webhooks/stripe is added.

Data: --data sets fields of the event's data.object. Its top-level keys replace those of
the realistic object the type gets by default (an invoice keeps its id and customer when
--data '{"amount_paid":5000}' changes the amount); a nested object is replaced whole.
--data @FILE reads the JSON object from a file, --data @- from standard input.

Secret: without --secret, the first of STRIPE_WEBHOOK_SECRETS, else the webhook secret
that 'appbackend serve --dev' keeps in the database (--database, APPBACKEND_DATABASE):
the secret a serve on the same configuration checks.`

func runTrigger(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	f := newFlags("trigger", "appbackend trigger TYPE --account ACCT [--test] [--data JSON|@FILE] [--url URL] [--secret whsec_…] [--id evt_…]", stdout)
	f.notes = triggerNotes
	account := f.String("account", "", "the merchant account the event is about (acct_…)")
	test := f.Bool("test", false, "send a test-mode event (livemode false)")
	data := f.String("data", "", "fields of data.object, a JSON object, or @FILE, or @- for stdin (see Data below)")
	target := f.String("url", "", "the webhook endpoint, or the backend's base URL (default http://APPBACKEND_ADDR/webhooks/stripe)")
	secret := f.String("secret", "", "endpoint signing secret whsec_… (default: see Secret below)")
	database := databaseFlag(f, getenv)
	id := f.String("id", "", "event id (default a new evt_…); resend an id to see it deduplicated")
	apiVersion := f.String("api-version", webhooktest.DefaultAPIVersion, "the event's api_version")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want one event TYPE (e.g. %s), got %d arguments", strings.Join(triggerTypes[:2], ", "), len(rest))
	}
	eventType := rest[0]
	if !strings.Contains(eventType, ".") {
		return usagef("%q is not an event type such as account.application.authorized", eventType)
	}
	if *account == "" {
		return usagef("--account is required")
	}
	fields, err := readData(*data, stdin)
	if err != nil {
		return err
	}
	u, err := endpointURL(*target, getenv, webhookPath)
	if err != nil {
		return err
	}
	if *secret == "" {
		if *secret, err = defaultSecret(ctx, getenv, *database, webhookSecret); err != nil {
			return err
		}
	}
	opts := []webhooktest.Option{webhooktest.Account(*account), webhooktest.Livemode(!*test), webhooktest.APIVersion(*apiVersion)}
	if *id != "" {
		opts = append(opts, webhooktest.ID(*id))
	}
	if fields != nil {
		opts = append(opts, webhooktest.Fields(fields))
	}
	payload := webhooktest.Event(eventType, opts...)
	now := time.Now().Unix()
	header := "t=" + strconv.FormatInt(now, 10) + ",v1=" + appauth.ComputeSignature(*secret, now, payload)

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return usagef("%v", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", header)
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %v", u.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	evID := extractID(payload)
	fmt.Fprintf(stdout, "%s %s (%s) → %s %s\n", eventType, evID, mode(!*test), resp.Status, strings.TrimSpace(string(body)))
	if !webhooktest.Realistic(eventType) && fields == nil {
		// Say so, since a handler that reads the object's fields finds none.
		fmt.Fprintf(stdout, "note: %s has no realistic default object; data.object was {\"id\":\"obj_…\",\"object\":%q}: set its fields with --data\n",
			eventType, objectName(eventType))
	}
	if resp.StatusCode == http.StatusNotFound && !strings.HasSuffix(u.Path, webhookPath) {
		return fmt.Errorf("the endpoint answered %s: serve receives events at %s; pass --url http://HOST:PORT or the whole webhook URL", resp.Status, webhookPath)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("the endpoint answered %s", resp.Status)
	}
	return nil
}

// readData reads --data: a JSON object given inline, from a file (@FILE) or from stdin
// (@-). Numbers keep their digits. Anything but a JSON object is a usage error naming
// --data.
func readData(data string, stdin io.Reader) (map[string]any, error) {
	if data == "" {
		return nil, nil
	}
	raw := []byte(data)
	if name, ok := strings.CutPrefix(data, "@"); ok {
		var err error
		if name == "-" {
			raw, err = io.ReadAll(io.LimitReader(stdin, 16<<20))
		} else {
			raw, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, usagef("--data %s: %v", data, unwrapPathError(err))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var fields map[string]any
	err := dec.Decode(&fields)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("trailing data after the object")
		}
	}
	if err != nil || fields == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, usagef("--data is not a JSON object: %v", err)
	}
	return fields, nil
}

// unwrapPathError drops the path an *fs.PathError repeats.
func unwrapPathError(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

func mode(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

// extractID reads the id the fixture gave the event, for the confirmation line.
func extractID(payload []byte) string {
	var env struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload, &env)
	return env.ID
}

// webhookPath is where serve receives Stripe's events.
const webhookPath = "/webhooks/stripe"

// endpointURL is the URL a command posts to: target, the whole URL of the endpoint or
// the backend's base URL (no path, or "/"), to which path is added; empty target means
// http://APPBACKEND_ADDR. trigger and install-link take --url alike, so the same base
// URL works for both.
func endpointURL(target string, getenv func(string) string, path string) (*url.URL, error) {
	if target == "" {
		addr := getenv("APPBACKEND_ADDR")
		if addr == "" {
			addr = appbackend.DefaultAddr
		}
		target = "http://" + addr
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--url %q is not an http(s) URL such as http://127.0.0.1:8080", target)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = path
	}
	return u, nil
}

// objectName is the resource an event type is about: "product" for product.created.
func objectName(eventType string) string {
	if i := strings.LastIndexByte(eventType, '.'); i >= 0 {
		return eventType[:i]
	}
	return eventType
}
