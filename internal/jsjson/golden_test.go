package jsjson

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// goldenPath holds UI-extension signature vectors computed by Node (JSON.stringify and
// crypto's HMAC), written by nodeGoldenScript. The tests read the committed file, so they
// need no Node; -update regenerates it.
const (
	goldenPath       = "../../testdata/golden/ui_signatures.json"
	nodeGoldenScript = "../../testdata/node/golden.js"
)

var update = flag.Bool("update", false, "regenerate "+goldenPath+" with Node before testing")

// goldenCase is one vector; see testdata/node/golden.js for how each field is computed.
type goldenCase struct {
	Name      string `json:"name"`
	Secret    string `json:"secret"`
	Timestamp int64  `json:"timestamp"`
	UserID    string `json:"user_id"`
	AccountID string `json:"account_id"`
	// PayloadText is the additional payload as the client wrote it; nil for the default
	// {user_id, account_id} signature.
	PayloadText        *string `json:"payload_text"`
	Signed             string  `json:"signed"`
	PayloadStringified *string `json:"payload_stringified"`
	Signature          string  `json:"signature"`
	Header             string  `json:"header"`
}

func loadGolden(tb testing.TB) []goldenCase {
	tb.Helper()
	data, err := os.ReadFile(goldenPath)
	require.NoError(tb, err, "reading golden vectors")
	var cases []goldenCase
	require.NoError(tb, json.Unmarshal(data, &cases), "decoding %s", goldenPath)
	return cases
}

func TestMain(m *testing.M) {
	flag.Parse()
	if *update {
		out, err := exec.Command("node", nodeGoldenScript).Output()
		if err == nil {
			err = os.WriteFile(goldenPath, out, 0o644)
		}
		if err != nil {
			println("regenerating golden vectors:", err.Error())
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// TestGoldenUISignatures checks that for every vector the payload parses and prints as
// JSON.stringify printed it, and that {...payload, user_id, account_id} built with
// Members.Set is the signed string byte for byte.
func TestGoldenUISignatures(t *testing.T) {
	t.Parallel()
	cases := loadGolden(t)
	require.GreaterOrEqual(t, len(cases), 300, "%d golden vectors, want at least 300", len(cases))
	seen := make(map[string]bool, len(cases))
	for _, tc := range cases {
		require.False(t, seen[tc.Name], "duplicate golden case name %q", tc.Name)
		seen[tc.Name] = true
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			signed := NewObject()
			if tc.PayloadText != nil {
				payload, err := Parse([]byte(*tc.PayloadText))
				if err != nil {
					require.FailNow(t, fmt.Sprintf("Parse(payload_text): %v\npayload_text: %q", err, *tc.PayloadText))
				}
				require.NotNil(t, tc.PayloadStringified, "payload_stringified is null for a payload")
				if got := stringify(payload); got != *tc.PayloadStringified {
					require.FailNow(t, fmt.Sprintf("stringify(parse(payload_text))\n got %q\nwant %q", got, *tc.PayloadStringified))
				}
				signed = payload
			}
			signed.Members.Set("user_id", StringValue(tc.UserID))
			signed.Members.Set("account_id", StringValue(tc.AccountID))
			got := stringify(signed)
			require.Equal(t, tc.Signed, got, "stringify({...payload, user_id, account_id})\n got %q\nwant %q", got, tc.Signed)

			// The signed string as a body: it parses back to itself, and the verifier's
			// lookup finds the ids.
			reparsed, err := Parse([]byte(tc.Signed))
			require.NoError(t, err, "Parse(signed)")
			got = stringify(reparsed)
			require.Equal(t, tc.Signed, got, "stringify(parse(signed)) is not signed\n got %q\nwant %q", got, tc.Signed)
			for key, want := range map[string]string{"user_id": tc.UserID, "account_id": tc.AccountID} {
				if got, found, err := LookupString([]byte(tc.Signed), key); err != nil || !found || got != want {
					require.FailNow(t, fmt.Sprintf("LookupString(signed, %q) = %q, %v, %v, want %q", key, got, found, err, want))
				}
			}

			// The vector itself is consistent, so other packages can trust it.
			mac := hmac.New(sha256.New, []byte(tc.Secret))
			mac.Write([]byte(strconv.FormatInt(tc.Timestamp, 10) + "." + tc.Signed))
			got = hex.EncodeToString(mac.Sum(nil))
			require.Equal(t, tc.Signature, got, "HMAC-SHA256 %s, want signature %s", got, tc.Signature)
			want := "t=" + strconv.FormatInt(tc.Timestamp, 10) + ",v1=" + tc.Signature
			require.Equal(t, want, tc.Header, "header %q, want %q", tc.Header, want)
		})
	}
}

// TestGoldenProtocolVector pins the test vector of the protocol notes.
func TestGoldenProtocolVector(t *testing.T) {
	t.Parallel()
	for _, tc := range loadGolden(t) {
		if tc.Name != "default/protocol_doc_vector" {
			continue
		}
		require.False(t, tc.Secret != "absec_test_secret" || tc.Timestamp != 1700000000 ||
			tc.Signed != `{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`, "protocol vector changed: %+v", tc)
		require.Equal(t, "95d377f7216b002bc8462ad7ad1c21ae33f54bfd7f12f1fe86f43cfd56123df3", tc.Signature, "protocol vector changed: %+v", tc)
		return
	}
	require.FailNow(t, "no default/protocol_doc_vector case")
}
