package appauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/appbackend/appbackend/internal/jsjson"
)

// ComputeSignature returns the hex v1 signature of signed at Unix time t under secret:
// HMAC-SHA256 keyed with the whole secret string over "<t>.<signed>".
func ComputeSignature(secret string, t int64, signed []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(strconv.AppendInt(nil, t, 10))
	mac.Write([]byte{'.'})
	mac.Write(signed)
	return hex.EncodeToString(mac.Sum(nil))
}

// Sign does what Stripe does for a UI extension's fetchStripeSignature(payload): it returns
// the Stripe-Signature header value (t=<unix>, then one v1 per secret in the order given)
// and the exact body the extension sends, which is also the signed string:
// JSON.stringify({...payload, user_id, account_id}).
//
// payload is optional JSON object text; nil or empty means no additional payload, and the
// signed string is then {"user_id":…,"account_id":…}. A payload key named user_id or
// account_id keeps its position and takes the signed value, as JavaScript's spread does.
func Sign(secrets []string, t time.Time, userID, accountID string, payload []byte) (header string, body []byte, err error) {
	if err := checkSecrets(secrets); err != nil {
		return "", nil, err
	}
	unix := t.Unix()
	if unix < 0 {
		return "", nil, errors.New("appauth: timestamp is before 1970")
	}
	if len(payload) == 0 {
		body = appendDefaultSigned(nil, userID, accountID)
	} else {
		v, err := jsjson.Parse(payload)
		if err != nil {
			return "", nil, fmt.Errorf("appauth: payload is not valid JSON: %w", err)
		}
		if v.Kind != jsjson.Object {
			return "", nil, errors.New("appauth: payload must be a JSON object")
		}
		v.Members.Set("user_id", jsjson.StringValue(userID))
		v.Members.Set("account_id", jsjson.StringValue(accountID))
		body = jsjson.AppendStringify(nil, v)
	}
	h := make([]byte, 0, 2+20+len(secrets)*(4+2*sha256.Size))
	h = append(h, "t="...)
	h = strconv.AppendInt(h, unix, 10)
	for _, secret := range secrets {
		h = append(h, ",v1="...)
		h = append(h, ComputeSignature(secret, unix, body)...)
	}
	return string(h), body, nil
}

// appendDefaultSigned appends the string Stripe signs when the UI extension passes no
// payload: JSON.stringify({user_id, account_id}).
func appendDefaultSigned(dst []byte, userID, accountID string) []byte {
	dst = append(dst, `{"user_id":`...)
	dst = appendJSString(dst, userID)
	dst = append(dst, `,"account_id":`...)
	dst = appendJSString(dst, accountID)
	return append(dst, '}')
}

// appendJSString quotes s as JSON.stringify does. Identifiers such as usr_… and acct_…
// need no escaping and take the fast path; anything else is left to jsjson.
func appendJSString(dst []byte, s string) []byte {
	if !plainJSONString(s) {
		return jsjson.AppendString(dst, s)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// plainJSONString reports whether s is printable ASCII without '"' or '\', so that
// JSON.stringify prints it unchanged between quotes.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// checkSecrets rejects an empty list, an empty secret and a secret with surrounding
// whitespace (a likely copy-and-paste mistake), naming the secret by position only.
func checkSecrets(secrets []string) error {
	if len(secrets) == 0 {
		return errors.New("appauth: no signing secret given")
	}
	for i, s := range secrets {
		if s == "" {
			return fmt.Errorf("appauth: signing secret %d of %d is empty", i+1, len(secrets))
		}
		if isSpace(s[0]) || isSpace(s[len(s)-1]) {
			return fmt.Errorf("appauth: signing secret %d of %d has leading or trailing whitespace", i+1, len(secrets))
		}
	}
	return nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
