package main

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"
)

// The bare receiver accepts what Stripe signs (stripe-go's ComputeSignature) with any of
// its secrets, and nothing else: the reference must do the check it stands for.
func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","object":"event"}`)
	v := &verifier{secrets: [][]byte{[]byte("whsec_old"), []byte("whsec_new")}, tolerance: 300 * time.Second}
	sign := func(secret string, at time.Time, b []byte) string {
		return fmt.Sprintf("t=%d,v1=%s", at.Unix(), hex.EncodeToString(webhook.ComputeSignature(at, b, secret)))
	}
	for _, tc := range []struct {
		name   string
		header string
		want   bool
	}{
		{"first secret", sign("whsec_old", now, body), true},
		{"second secret, with another scheme first", "v0=abc," + sign("whsec_new", now, body), true},
		{"two v1, the second right", sign("whsec_other", now, body) + ",v1=" + sign("whsec_new", now, body)[len("t=1800000000,v1="):], true},
		{"unknown secret", sign("whsec_other", now, body), false},
		{"another body", sign("whsec_old", now, []byte(`{"id":"evt_2"}`)), false},
		{"too old", sign("whsec_old", now.Add(-301*time.Second), body), false},
		{"too new", sign("whsec_old", now.Add(301*time.Second), body), false},
		{"no timestamp", "v1=" + sign("whsec_old", now, body)[len("t=1800000000,v1="):], false},
		{"empty", "", false},
	} {
		got := v.verify(tc.header, body, now)
		require.True(t, got == tc.want, "%s: verify(%q) = %v, want %v", tc.name, tc.header, got, tc.want)
	}
}
