package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SecretPrefix starts every Standard Webhooks secret.
const SecretPrefix = "whsec_"

// MinSecretBytes is the shortest key a secret may carry (the Standard Webhooks
// specification asks for 24 to 64 bytes).
const MinSecretBytes = 24

// Header names of the Standard Webhooks scheme, as the upstream receives them.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// Sentinel errors of ParseSecret and Verify.
var (
	ErrSecretFormat     = errors.New("not a Standard Webhooks secret (whsec_ followed by the base64 of at least 24 bytes)")
	ErrNotSigned        = errors.New("webhook-id, webhook-timestamp or webhook-signature missing")
	ErrTooOld           = errors.New("webhook-timestamp outside the tolerance")
	ErrNoValidSignature = errors.New("no webhook-signature matches")
)

// Signer signs payloads with one Standard Webhooks secret.
type Signer struct {
	key []byte
	// macs reuses the HMAC states keyed with key: hmac.New hashes the key into two
	// SHA-256 states and allocates them, work every signature would otherwise repeat.
	macs sync.Pool
}

// ParseSecret decodes a whsec_… secret.
func ParseSecret(secret string) (*Signer, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(secret), SecretPrefix)
	if !ok {
		return nil, ErrSecretFormat
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) < MinSecretBytes {
		return nil, ErrSecretFormat
	}
	s := &Signer{key: key}
	s.macs.New = func() any { return hmac.New(sha256.New, s.key) }
	return s, nil
}

// NewSecret returns a new random secret of 32 bytes (for --dev).
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails on supported platforms
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// Sign returns the webhook-signature value of payload: "v1," and the base64 of
// HMAC-SHA256(key, id + "." + timestamp + "." + payload).
func (s *Signer) Sign(id string, timestamp int64, payload []byte) string {
	mac := s.macs.Get().(hash.Hash)
	mac.Reset()
	var stack [96]byte
	buf := append(stack[:0], id...)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, timestamp, 10)
	buf = append(buf, '.')
	mac.Write(buf)
	mac.Write(payload)
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])
	s.macs.Put(mac)
	// "v1," and the base64, built in one allocation.
	var enc [3 + 44]byte // 44: base64.StdEncoding.EncodedLen(sha256.Size)
	copy(enc[:], "v1,")
	base64.StdEncoding.Encode(enc[3:], sum[:])
	return string(enc[:])
}

// SetHeaders sets webhook-id, webhook-timestamp (now) and webhook-signature over
// payload on h.
func (s *Signer) SetHeaders(h http.Header, id string, now time.Time, payload []byte) {
	ts, sig := s.Signature(id, now, payload)
	h[HeaderID] = []string{id}
	h[HeaderTimestamp] = []string{ts}
	h[HeaderSignature] = []string{sig}
}

// Signature returns the webhook-timestamp (now) and webhook-signature values of payload.
func (s *Signer) Signature(id string, now time.Time, payload []byte) (timestamp, signature string) {
	ts := now.Unix()
	return strconv.FormatInt(ts, 10), s.Sign(id, ts, payload)
}

// Verify checks h's Standard Webhooks headers over payload, with a timestamp within
// tolerance of now. The upstreams do this in their own language; appbackend uses it in
// tests.
func (s *Signer) Verify(h http.Header, payload []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrNotSigned
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrNotSigned, tsText)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTooOld
	}
	want := s.Sign(id, ts, payload)
	for _, sig := range strings.Fields(sigs) {
		if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1 {
			return nil
		}
	}
	return ErrNoValidSignature
}
