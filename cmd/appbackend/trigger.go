package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

// triggerTypes are the event types trigger knows a realistic data.object for; any other
// type is sent with a bare object.
var triggerTypes = []string{
	"account.application.authorized", "account.application.deauthorized",
	"apps.install.created", "apps.install.updated", "apps.install.deleted",
	"customer.created", "customer.updated", "customer.deleted",
	"invoice.paid", "invoice.payment_succeeded", "invoice.created", "invoice.finalized",
	"payment_intent.succeeded", "payment_intent.created", "payment_intent.payment_failed",
}

func runTrigger(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("trigger", "appbackend trigger TYPE --account ACCT [--test] [--url URL] [--secret whsec_…] [--id evt_…]", stdout)
	account := f.String("account", "", "the merchant account the event is about (acct_…)")
	test := f.Bool("test", false, "send a test-mode event (livemode false)")
	target := f.String("url", "", "webhook endpoint (default http://APPBACKEND_ADDR/webhooks/stripe)")
	secret := f.String("secret", "", "endpoint signing secret whsec_… (default: the first of STRIPE_WEBHOOK_SECRETS)")
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
	if *secret == "" {
		if secrets := setup.SplitList(getenv("STRIPE_WEBHOOK_SECRETS")); len(secrets) > 0 {
			*secret = secrets[0]
		}
	}
	if *secret == "" {
		return usagef("--secret is required (or set STRIPE_WEBHOOK_SECRETS)")
	}
	if *target == "" {
		addr := getenv("APPBACKEND_ADDR")
		if addr == "" {
			addr = appbackend.DefaultAddr
		}
		*target = "http://" + addr + "/webhooks/stripe"
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--url %q is not an http(s) URL", *target)
	}
	opts := []webhooktest.Option{webhooktest.Account(*account), webhooktest.Livemode(!*test), webhooktest.APIVersion(*apiVersion)}
	if *id != "" {
		opts = append(opts, webhooktest.ID(*id))
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
	if resp.StatusCode >= 300 {
		return fmt.Errorf("the endpoint answered %s", resp.Status)
	}
	return nil
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
