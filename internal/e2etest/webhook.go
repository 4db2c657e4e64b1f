package e2etest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// HTTPClient is shared by every test; loopback calls are quick, the timeout only
// bounds a hung server.
var HTTPClient = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     30 * time.Second,
	},
}

// Delivery is the server's answer to one webhook POST.
type Delivery struct {
	Status int
	Body   []byte
}

// Received reports a 200 {"received":true} and whether it was a duplicate.
func (d Delivery) Received() (ok, duplicate bool) {
	var b struct {
		Received  bool `json:"received"`
		Duplicate bool `json:"duplicate"`
	}
	if d.Status != http.StatusOK || json.Unmarshal(d.Body, &b) != nil {
		return false, false
	}
	return b.Received, b.Duplicate
}

// ErrorCode is the contract's error code in a 4xx/5xx body.
func (d Delivery) ErrorCode() string {
	var b struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(d.Body, &b)
	return b.Error.Code
}

// PostWebhook posts body to url as Stripe does, with the given Stripe-Signature (""
// sends none). The error is set, and the Delivery zero, when no answer came (a refused
// connection, a killed server).
func PostWebhook(ctx context.Context, url string, body []byte, signature string) (Delivery, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Delivery{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	resp, err := HTTPClient.Do(req)
	if err != nil {
		return Delivery{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Delivery{}, err
	}
	return Delivery{Status: resp.StatusCode, Body: b}, nil
}

// MustPostWebhook is PostWebhook that fails the test when no answer came.
func MustPostWebhook(t testing.TB, url string, body []byte, signature string) Delivery {
	t.Helper()
	d, err := PostWebhook(context.Background(), url, body, signature)
	require.NoError(t, err, "POST %s", url)
	return d
}

// SignedEvent is an event body and a Stripe-Signature over it.
type SignedEvent struct {
	ID     string
	Body   []byte
	Header string
}

// NewSignedEvent builds an event with webhooktest.Event and signs it now with
// LiveWebhookSecret, which every server accepts.
func NewSignedEvent(eventType string, opts ...webhooktest.Option) SignedEvent {
	id := webhooktest.NewID("evt_")
	body := webhooktest.Event(eventType, append([]webhooktest.Option{webhooktest.ID(id)}, opts...)...)
	return SignedEvent{ID: id, Body: body, Header: webhooktest.Sign(body, LiveWebhookSecret, time.Now())}
}

// Post sends the event to the server's webhook endpoint.
func (ev SignedEvent) Post(ctx context.Context, s *Server) (Delivery, error) {
	return PostWebhook(ctx, s.WebhookURL(), ev.Body, ev.Header)
}
