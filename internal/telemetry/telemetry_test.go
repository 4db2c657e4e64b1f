package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStripeSpanNameTemplatesIDs(t *testing.T) {
	for path, want := range map[string]string{
		"/v1/customers":                            "stripe POST /v1/customers",
		"/v1/customers/cus_Nffrfe8dQZ3Jtq":         "stripe POST /v1/customers/{id}",
		"/v1/payment_intents/pi_3MtwBw/confirm":    "stripe POST /v1/payment_intents/{id}/confirm",
		"/v1/accounts/acct_1Nv0FGQ9RKHgCVdK":       "stripe POST /v1/accounts/{id}",
		"/v1/apps/secrets/find":                    "stripe POST /v1/apps/secrets/find",
		"/v1/subscription_items/si_NcLYdDxLHxlFo7": "stripe POST /v1/subscription_items/{id}",
	} {
		r := httptest.NewRequest(http.MethodPost, "https://api.stripe.com"+path, nil)
		require.Equal(t, want, StripeSpanName(r), path)
	}
}

// TestTransportWithoutASpanIsUntouched: with traces off no context has a span, and a
// call goes to the base transport as it came: no traceparent, nothing recorded.
func TestTransportWithoutASpanIsUntouched(t *testing.T) {
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() }))
	defer srv.Close()
	c := &http.Client{Transport: Transport(http.DefaultTransport, func(*http.Request) string { return "x" }, nil)}
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, seen.Get("Traceparent"))
}
