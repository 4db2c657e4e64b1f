package jsjson

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// A signed body with an additional payload, as a UI extension sends it.
var benchBody = []byte(`{"action":"refund","amount":2500,"currency":"eur","charge":"ch_3NxQ2rLkPqRsTuVw0a1b2c3d",` +
	`"metadata":{"order":"A-1042","note":"<b>fragile</b> & \u2028 urgent","2":true,"1":null},` +
	`"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"},{"id":"rol_123","name":"Support lead","type":"custom"}],` +
	`"ratio":0.30000000000000004,"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`)

var benchDefaultBody = []byte(`{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`)

func BenchmarkParse(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		_, err := Parse(benchBody)
		require.NoError(b, err)
	}
}

func BenchmarkAppendStringify(b *testing.B) {
	v, err := Parse(benchBody)
	require.NoError(b, err)
	dst := make([]byte, 0, 1024)
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendStringify(dst[:0], v)
	}
}

// BenchmarkParseAndStringify is the verifier's candidate (c): a body re-printed as
// JSON.stringify would print it.
func BenchmarkParseAndStringify(b *testing.B) {
	dst := make([]byte, 0, 1024)
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := Parse(benchBody)
		require.NoError(b, err)
		dst = AppendStringify(dst[:0], v)
	}
}

// BenchmarkAppendLookupString is the verifier's hot path for a default signature.
func BenchmarkAppendLookupString(b *testing.B) {
	dst := make([]byte, 0, 64)
	b.SetBytes(int64(len(benchDefaultBody)))
	b.ReportAllocs()
	for b.Loop() {
		var found bool
		var err error
		if dst, found, err = AppendLookupString(dst[:0], benchDefaultBody, "account_id"); !found || err != nil {
			require.FailNow(b, fmt.Sprint(found, err))
		}
	}
}

func BenchmarkAppendNumber(b *testing.B) {
	dst := make([]byte, 0, 32)
	values := []float64{2500, 0.30000000000000004, 1.5e-7, 1e21, 12345678901234567890}
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range values {
			dst = AppendNumber(dst[:0], f)
		}
	}
}
