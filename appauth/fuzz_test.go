package appauth

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/appbackend/appbackend/internal/jsjson"
	"github.com/stretchr/testify/require"
)

var fuzzPayloads = []string{
	"",
	`{}`,
	`{"amount":100,"livemode":false,"transaction_id":"ipi_1"}`,
	`{"user_id":"usr_forged","z":[1,{"a":"\u001f"}]}`,
	`{"2":"b","1":"a","s":"<>&\u2028 \ud83d\ude00 \udc00 \"\\"}`,
	`{"n":[0,-0,1.5e300,1e-7,12345678901234567890,1E21]}`,
	`{"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"}]}`,
	"{\n  \"pretty\": [1, 2]\n}",
}

// FuzzVerifyRequest signs a request with Sign, checks that it verifies, then changes one
// byte of the body or of the header and checks that the change verifies only when it does
// not change what was signed. A changed body may legitimately still verify: through (c)
// when the change re-encodes the same JSON (\u001f for \u001F), and through (a) when the
// signature covers only the identity and the change is elsewhere. So the property is that
// a changed request that verifies proves exactly what the original proved: the same user
// and account, and the same payload, or none.
func FuzzVerifyRequest(f *testing.F) {
	for i, payload := range fuzzPayloads {
		f.Add([]byte(payload), testUser, testAccount, uint8(i), uint16(i*7), byte('x'))
		f.Add([]byte(payload), "usr_é", "acct_\x01", uint8(i+1), uint16(i*13), byte('"'))
		f.Add([]byte(payload), testUser, testAccount, uint8(i+2), uint16(i*3), byte('A'))
	}
	v := newTestVerifier(f, testSecret)
	f.Fuzz(func(t *testing.T, payload []byte, user, account string, target uint8, pos uint16, to byte) {
		// Arbitrary input never panics.
		_, _ = v.VerifyRequest(string(payload), payload, nil)
		_, _ = v.VerifyRequest(newSigned(t).header, payload, nil)

		if !utf8.ValidString(user) || !utf8.ValidString(account) {
			return // Sign would print U+FFFD for the ill-formed bytes: another identity
		}
		header, body, err := Sign([]string{testSecret}, testNow, user, account, payload)
		if err != nil {
			return // not a JSON object
		}
		defaultHeader, _, err := Sign([]string{testSecret}, testNow, user, account, nil)
		require.NoError(t, err)

		// The signed request verifies, and so does the body under a default signature,
		// which then vouches for the identity only.
		original, err := v.VerifyRequest(header, body, nil)
		require.NoError(t, err, "Sign's output does not verify: %v\nheader %s\nbody %q", err, header, body)
		assertSameProof(t, "original", original, &Identity{UserID: user, AccountID: account, SignedAs: original.SignedAs, Payload: original.Payload})
		defaultOnly, err := v.VerifyRequest(defaultHeader, body, nil)
		require.NoError(t, err, "body under the default signature does not verify: %v\nbody %q", err, body)
		assertSameProof(t, "default signature", defaultOnly, &Identity{UserID: user, AccountID: account, SignedAs: SignedDefault})

		switch target % 3 {
		case 0: // one byte of the body
			changed := bytes.Clone(body)
			i := int(pos) % len(changed)
			if changed[i] == to {
				return
			}
			changed[i] = to
			if id, err := v.VerifyRequest(header, changed, nil); err == nil {
				assertSameProof(t, "changed body "+string(changed), id, original)
			}
			if id, err := v.VerifyRequest(defaultHeader, changed, nil); err == nil {
				assertSameProof(t, "changed body under the default signature "+string(changed), id, defaultOnly)
			}
		case 1: // one byte of the header
			changed := []byte(header)
			i := int(pos) % len(changed)
			if changed[i] == to {
				return
			}
			changed[i] = to
			if id, err := v.VerifyRequest(string(changed), body, nil); err == nil {
				// Only a hex digit's case may change: it spells the same signature.
				require.True(t, strings.EqualFold(string(changed), header), "changed header %q verifies; signed %q", changed, header)
				assertSameProof(t, "changed header", id, original)
			}
		case 2: // the secret
			other := newTestVerifier(t, testSecret+string(rune('a'+int(to)%26)))
			if _, err := other.VerifyRequest(header, body, nil); err == nil {
				require.FailNow(t, fmt.Sprintf("verifies under another secret"))
			}
		}
	})
}

// assertSameProof fails unless got proves what want proves: the identity, whether the body
// is covered, and the payload.
func assertSameProof(t *testing.T, what string, got, want *Identity) {
	t.Helper()
	if got.UserID != want.UserID || got.AccountID != want.AccountID {
		require.FailNow(t, fmt.Sprintf("%s: identity %q/%q, want %q/%q", what, got.UserID, got.AccountID, want.UserID, want.AccountID))
	}
	if got.SignedAs.CoversBody() != want.SignedAs.CoversBody() {
		require.FailNow(t, fmt.Sprintf("%s: SignedAs %v, want %v", what, got.SignedAs, want.SignedAs))
	}
	if !bytes.Equal(got.Payload, want.Payload) || (got.Payload == nil) != (want.Payload == nil) {
		require.FailNow(t, fmt.Sprintf("%s: payload %q, want %q", what, got.Payload, want.Payload))
	}
}

// FuzzScanBodyMatchesParser checks the allocation-free body scan against jsjson.Parse:
// whenever the scan decides, the parser accepts the body and finds the same identity.
func FuzzScanBodyMatchesParser(f *testing.F) {
	for _, seed := range []string{
		defaultBody,
		`{"user_id":"a","account_id":"b","user_id":1}`,
		`{"user_id":"a","x":{"user_id":"b"},"account_id":"c"}`,
		`{"user\u005fid":"a","account_id":"b"}`,
		`[{"user_id":"a"}]`, `"x"`, `1e5`, `-0.5E-3`, `01`, `{"a":tru}`, `{"a":[1,2,]}`, "{\"a\":\"\x7f\xc3\xa9\"}",
		" \t\n\r{ \"user_id\" : \"u\" , \"account_id\" : \"a\" } ", `{"user_id":"a\"b","account_id":"c"}`, "{\"a\":\"\xff\"}",
		strings.Repeat("[", 600) + strings.Repeat("]", 600),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		scan, ok := scanBody(body)
		if !ok {
			return // the parser decides
		}
		v, err := jsjson.Parse(body)
		require.NoError(t, err, "scan accepts %q, jsjson.Parse rejects it", body)
		for _, field := range []struct {
			key   string
			state fieldState
			raw   []byte
		}{{"user_id", scan.userState, scan.user}, {"account_id", scan.accountState, scan.account}} {
			var member jsjson.Value
			present := false
			if v.Kind == jsjson.Object {
				member, present = v.Members.Get(field.key)
			}
			switch {
			case !present && field.state != fieldAbsent:
				require.FailNow(t, fmt.Sprintf("%q: scan finds %s, jsjson does not", body, field.key))
			case present && member.Kind == jsjson.String && (field.state != fieldString || string(field.raw) != member.Text):
				require.FailNow(t, fmt.Sprintf("%q: scan finds %s %q (state %d), jsjson %q", body, field.key, field.raw, field.state, member.Text))
			case present && member.Kind != jsjson.String && field.state != fieldOther:
				require.FailNow(t, fmt.Sprintf("%q: scan finds %s state %d, jsjson a %v", body, field.key, field.state, member.Kind))
			}
		}
	})
}
