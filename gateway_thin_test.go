package appbackend_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appbackendtest"
)

// In gateway mode the upstream receives a thin event's full content, fetched before
// the delivery, not the notification.
func TestGatewayDeliversThinEventsFetched(t *testing.T) {
	t.Parallel()
	b := setupGateway(t)
	id := b.app.DeliverThin(t, appbackendtest.ThinEvent{Type: "v1.billing.meter.no_meter_found", Account: "acct_thin",
		Data: map[string]any{"developer_message_summary": "no meter"}})
	b.app.WaitForEvent(t, id)
	c := b.upstream.waitFor(t, func(c recordedCall) bool { return c.Header.Get("Webhook-Id") == id })
	require.NoError(t, b.signer.Verify(c.Header, c.Body, time.Now(), 5*time.Minute))
	var got struct {
		Object  string         `json:"object"`
		Context string         `json:"context"`
		Data    map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(c.Body, &got))
	require.Equal(t, "v2.core.event", got.Object)
	require.Equal(t, "acct_thin", got.Context)
	require.Equal(t, map[string]any{"developer_message_summary": "no meter"}, got.Data, "the fetched event, not the notification")
}
