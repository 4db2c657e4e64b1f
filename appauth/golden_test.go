package appauth

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/jsjson"
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
	if err != nil {
		t.Fatalf("golden vectors: %v (they are committed with the jsjson package)", err)
	}
	root, err := jsjson.Parse(data)
	if err != nil || root.Kind != jsjson.Array {
		t.Fatalf("golden vectors are not a JSON array: %v", err)
	}
	var cases []goldenCase
	for i, v := range root.Elems {
		str := func(key string) string {
			m, ok := v.Members.Get(key)
			if !ok || m.Kind != jsjson.String {
				t.Fatalf("golden case %d: %s is not a string", i, key)
			}
			return m.Text
		}
		nullable := func(key string) []byte {
			m, ok := v.Members.Get(key)
			if !ok || m.Kind == jsjson.Null {
				return nil
			}
			if m.Kind != jsjson.String {
				t.Fatalf("golden case %d: %s is neither a string nor null", i, key)
			}
			return []byte(m.Text)
		}
		ts, _ := v.Members.Get("timestamp")
		unix, err := strconv.ParseInt(ts.Text, 10, 64)
		if err != nil {
			t.Fatalf("golden case %d: timestamp %q: %v", i, ts.Text, err)
		}
		cases = append(cases, goldenCase{
			name: str("name"), secret: str("secret"), userID: str("user_id"), accountID: str("account_id"),
			timestamp: unix, payloadText: nullable("payload_text"), signed: str("signed"), header: str("header"),
			payloadStringified: nullable("payload_stringified"),
		})
	}
	if len(cases) < 300 {
		t.Fatalf("only %d golden cases, want at least 300", len(cases))
	}
	return cases
}

func TestGoldenSign(t *testing.T) {
	t.Parallel()
	for _, gc := range loadGolden(t) {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			header, body, err := Sign([]string{gc.secret}, time.Unix(gc.timestamp, 0), gc.userID, gc.accountID, gc.payloadText)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if string(body) != gc.signed {
				t.Errorf("body =\n%q, want\n%q", body, gc.signed)
			}
			if header != gc.header {
				t.Errorf("header = %s, want %s", header, gc.header)
			}
		})
	}
}

func TestGoldenVerify(t *testing.T) {
	t.Parallel()
	for _, gc := range loadGolden(t) {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier([]string{gc.secret}, WithClock(func() time.Time { return time.Unix(gc.timestamp, 0) }))
			if err != nil {
				t.Fatal(err)
			}
			defaultSigned := string(appendDefaultSigned(nil, gc.userID, gc.accountID))
			wantAs := SignedBody
			if gc.signed == defaultSigned {
				wantAs = SignedDefault
			}

			// Pretty-printing keeps escapes and number texts, so JSON.stringify of the
			// re-encoded body is the signed string again.
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, []byte(gc.signed), "", "  "); err != nil {
				t.Fatalf("json.Indent: %v", err)
			}
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
				if err != nil {
					t.Fatalf("%s: VerifyRequest: %v", b.name, err)
				}
				if id.UserID != gc.userID || id.AccountID != gc.accountID {
					t.Errorf("%s: identity %q/%q, want %q/%q", b.name, id.UserID, id.AccountID, gc.userID, gc.accountID)
				}
				if id.SignedAs != b.wantAs {
					t.Errorf("%s: SignedAs = %v, want %v", b.name, id.SignedAs, b.wantAs)
				}
				if b.wantAs == SignedDefault {
					if id.Payload != nil {
						t.Errorf("%s: Payload = %s, want nil", b.name, id.Payload)
					}
				} else if !hasIdentityKey(t, gc.payloadStringified) && string(id.Payload) != string(gc.payloadStringified) {
					// Without user_id/account_id in the payload, Payload is exactly
					// JSON.stringify(payload) as Node printed it.
					t.Errorf("%s: Payload =\n%s, want\n%s", b.name, id.Payload, gc.payloadStringified)
				}
			}
		})
	}
}

func hasIdentityKey(t *testing.T, object []byte) bool {
	v, err := jsjson.Parse(object)
	if err != nil || v.Kind != jsjson.Object {
		t.Fatalf("payload_stringified %q is not an object: %v", object, err)
	}
	_, hasUser := v.Members.Get("user_id")
	_, hasAccount := v.Members.Get("account_id")
	return hasUser || hasAccount
}
