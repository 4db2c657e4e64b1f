package appauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/jsjson"
	"github.com/stretchr/testify/require"
)

// goldenCase is one vector of testdata/golden/ui_signatures.json, generated from Node's
// JSON.stringify and crypto HMAC (see the jsjson package for the generator).
type goldenCase struct {
	name, secret, userID, accountID string
	timestamp                       int64
	payloadText                     []byte // nil for null
	signed, header                  string
	payloadStringified              []byte // nil for null
}

// loadGolden reads the vectors with jsjson, not encoding/json, so that strings holding
// lone surrogates (\udxxx) survive as JavaScript has them.
func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "ui_signatures.json"))
	require.NoError(t, err, "golden vectors: %v (they are committed with the jsjson package)", err)
	root, err := jsjson.Parse(data)
	require.NoError(t, err, "golden vectors are not a JSON array")
	require.Equal(t, jsjson.Array, root.Kind, "golden vectors are not a JSON array: %v", err)
	var cases []goldenCase
	for i, v := range root.Elems {
		str := func(key string) string {
			m, ok := v.Members.Get(key)
			require.True(t, ok, "golden case %d: %s is not a string", i, key)
			require.Equal(t, jsjson.String, m.Kind, "golden case %d: %s is not a string", i, key)
			return m.Text
		}
		nullable := func(key string) []byte {
			m, ok := v.Members.Get(key)
			if !ok || m.Kind == jsjson.Null {
				return nil
			}
			require.Equal(t, jsjson.String, m.Kind, "golden case %d: %s is neither a string nor null", i, key)
			return []byte(m.Text)
		}
		ts, _ := v.Members.Get("timestamp")
		unix, err := strconv.ParseInt(ts.Text, 10, 64)
		require.NoError(t, err, "golden case %d: timestamp %q", i, ts.Text)
		cases = append(cases, goldenCase{
			name: str("name"), secret: str("secret"), userID: str("user_id"), accountID: str("account_id"),
			timestamp: unix, payloadText: nullable("payload_text"), signed: str("signed"), header: str("header"),
			payloadStringified: nullable("payload_stringified"),
		})
	}
	require.GreaterOrEqual(t, len(cases), 300, "only %d golden cases, want at least 300", len(cases))
	return cases
}

func TestGoldenSign(t *testing.T) {
	t.Parallel()
	for _, gc := range loadGolden(t) {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			header, body, err := Sign([]string{gc.secret}, time.Unix(gc.timestamp, 0), gc.userID, gc.accountID, gc.payloadText)
			require.NoError(t, err, "Sign")
			require.Equal(t, gc.signed, string(body), "body =\n%q, want\n%q", body, gc.signed)
			require.Equal(t, gc.header, header, "header = %s, want %s", header, gc.header)
		})
	}
}

func TestGoldenVerify(t *testing.T) {
	t.Parallel()
	for _, gc := range loadGolden(t) {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier([]string{gc.secret}, WithClock(func() time.Time { return time.Unix(gc.timestamp, 0) }))
			require.NoError(t, err)
			defaultSigned := string(appendDefaultSigned(nil, gc.userID, gc.accountID))
			wantAs := SignedBody
			if gc.signed == defaultSigned {
				wantAs = SignedDefault
			}

			// Pretty-printing keeps escapes and number texts, so JSON.stringify of the
			// re-encoded body is the signed string again.
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, []byte(gc.signed), "", "  "), "json.Indent")
			bodies := []struct {
				name   string
				body   []byte
				wantAs SignedAs
			}{
				{"as signed", []byte(gc.signed), wantAs},
				{"pretty-printed", pretty.Bytes(), SignedStringified},
			}
			if wantAs == SignedDefault {
				bodies[1].wantAs = SignedDefault
			}
			for _, b := range bodies {
				id, err := v.VerifyRequest(gc.header, b.body, nil)
				require.NoError(t, err, "%s: VerifyRequest", b.name)
				if id.UserID != gc.userID || id.AccountID != gc.accountID {
					require.FailNow(t, fmt.Sprintf("%s: identity %q/%q, want %q/%q", b.name, id.UserID, id.AccountID, gc.userID, gc.accountID))
				}
				if id.SignedAs != b.wantAs {
					require.FailNow(t, fmt.Sprintf("%s: SignedAs = %v, want %v", b.name, id.SignedAs, b.wantAs))
				}
				if b.wantAs == SignedDefault {
					if id.Payload != nil {
						require.FailNow(t, fmt.Sprintf("%s: Payload = %s, want nil", b.name, id.Payload))
					}
				} else if !hasIdentityKey(t, gc.payloadStringified) && string(id.Payload) != string(gc.payloadStringified) {
					// Without user_id/account_id in the payload, Payload is exactly
					// JSON.stringify(payload) as Node printed it.
					require.FailNow(t, fmt.Sprintf("%s: Payload =\n%s, want\n%s", b.name, id.Payload, gc.payloadStringified))
				}
			}
		})
	}
}

func hasIdentityKey(t *testing.T, object []byte) bool {
	v, err := jsjson.Parse(object)
	require.NoError(t, err, "payload_stringified %q is not an object", object)
	require.Equal(t, jsjson.Object, v.Kind, "payload_stringified %q is not an object: %v", object, err)
	_, hasUser := v.Members.Get("user_id")
	_, hasAccount := v.Members.Get("account_id")
	return hasUser || hasAccount
}
