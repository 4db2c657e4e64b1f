package webhook

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var envelopeSeeds = []string{
	`{"id":"evt_1","object":"event","api_version":"2024-06-20","created":1700000000,"type":"customer.updated","account":"acct_1","livemode":false,"data":{"object":{"id":"cus_1","name":"A \"quoted\" name","metadata":{"k":"v"},"list":[1,2,{"a":[]}]}}}`,
	`{"id":"evt_thin","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered","created":"2024-09-17T06:20:52.246Z","context":"acct_ctx","livemode":true}`,
	` { "id" : "evt_2" , "type" : "invoice.paid" , "livemode" : true , "created" : 0 } `,
	`{"id":"evt_3","type":"x","account":null,"livemode":null,"api_version":7,"context":{"a":1},"created":-5}`,
	`{"id":"evt_4","type":"x","id":null,"type":"y","livemode":true,"livemode":null}`,
	`{"ID":"evt_upper","type":"x"}`,
	`{"id":"evt_\u0035","type":"x"}`,
	`{"id":"evt_5","type":"x","api_versıon":"k"}`,
	`{"id":"evt_6","type":"x","created":1.5,"account":"acct_é"}`,
	`{"id":5,"type":"x"}`,
	`{"id":"evt_7","type":"x","livemode":"yes"}`,
	`{"id":"evt_8","type":"x","created":"2024-01-01T00:00:00Z","created":null}`,
	`[1,2]`, `{}`, `{"id":"evt_9"}`, `not json`, `{"id":"evt_10","type":"x",}`, `"str"`,
	`{"id":"evt_11","type":"x","context":null,"api_version":null,"created":99999999999999999999}`,
	`{"id":"evt_\u0000","type":"x"}`, `{"id":"evt_12","type":"x","account":"acct_\u0000","data":{"object":{"m":"\u0000"}}}`,
}

// FuzzParseEnvelope checks that the scanner's path answers every body exactly as
// encoding/json's does, for bodies it takes and for the others.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	now := time.Unix(1800000000, 123).UTC()
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := parseEnvelope(body, now)
		want, wantErr := decodeEnvelope(body, now)
		require.True(t, (gotErr == nil) == (wantErr == nil), "%q: error %v, want %v", body, gotErr, wantErr)
		require.False(t, gotErr != nil && gotErr.Error() != wantErr.Error(), "%q: error %v, want %v", body, gotErr, wantErr)
		require.Equal(t, want, got, "%q:\n got %+v\nwant %+v", body, got, want)
	})
}

// The scanner takes the bodies Stripe sends, so that they skip encoding/json.
func TestScanEnvelopeTakesStripesEvents(t *testing.T) {
	for _, s := range envelopeSeeds[:5] {
		require.True(t, json.Valid([]byte(s)), "seed %s is not valid JSON", s)
		_, ok := scanEnvelope([]byte(s))
		require.True(t, ok, "scanEnvelope left %s to encoding/json", s)
	}
	for _, s := range []string{envelopeSeeds[5], envelopeSeeds[6], envelopeSeeds[7], envelopeSeeds[8], envelopeSeeds[9], envelopeSeeds[10]} {
		_, ok := scanEnvelope([]byte(s))
		require.False(t, ok, "scanEnvelope took %s, which needs encoding/json", s)
	}
}
