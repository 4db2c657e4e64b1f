// Package secretbox encrypts secrets at rest (OAuth tokens) with AES-256-GCM from the
// standard library, under a keyring: the first key seals, every key opens, so that a
// key can be rotated without a moment where stored secrets cannot be read.
//
// A sealed value is text, "v1.<key id>.<base64url(nonce || ciphertext)>": the key id
// (the first 8 hex digits of SHA-256 over the key) says which key opens it, so that
// rotation knows what is left to re-encrypt. The caller's associated data (such as
// "oauth:acct_1:live:access") binds a value to its row: a value copied into another
// row does not open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a key: 32 random bytes, given base64-encoded.
const KeySize = 32

var (
	// ErrNoKey: the keyring is empty (APPBACKEND_ENCRYPTION_KEY unset).
	ErrNoKey = errors.New("no encryption key configured (APPBACKEND_ENCRYPTION_KEY)")
	// ErrBadKey: a key is not 32 bytes of standard or URL base64.
	ErrBadKey = errors.New("encryption key must be 32 random bytes, base64-encoded (openssl rand -base64 32)")
	// ErrUnknownKey: the value was sealed by a key the keyring does not hold.
	ErrUnknownKey = errors.New("sealed with a key that is not configured")
	// ErrOpen: the value is malformed, was tampered with, or belongs to another row.
	ErrOpen = errors.New("cannot decrypt the sealed value")
)

// Keyring holds the keys; the first seals. Safe for concurrent use.
type Keyring struct {
	keys []key
}

type key struct {
	id   string
	aead cipher.AEAD
}

// Parse reads a comma-separated list of base64 keys. The empty string is an empty
// keyring (sealing fails with ErrNoKey). Errors never repeat a key.
func Parse(list string) (*Keyring, error) {
	var raw [][]byte
	for i, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		b, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		raw = append(raw, b)
	}
	return New(raw...)
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, ErrBadKey
}

// New builds a keyring from raw 32-byte keys; the first seals.
func New(keys ...[]byte) (*Keyring, error) {
	k := &Keyring{}
	seen := map[string]bool{}
	for i, b := range keys {
		if len(b) != KeySize {
			return nil, fmt.Errorf("key %d: %w", i+1, ErrBadKey)
		}
		sum := sha256.Sum256(b)
		id := hex.EncodeToString(sum[:4])
		if seen[id] {
			continue
		}
		seen[id] = true
		block, err := aes.NewCipher(b)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.keys = append(k.keys, key{id: id, aead: aead})
	}
	return k, nil
}

// NewKey returns a fresh random key, base64-encoded, for APPBACKEND_ENCRYPTION_KEY.
func NewKey() string {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Empty reports whether the keyring has no key.
func (k *Keyring) Empty() bool { return k == nil || len(k.keys) == 0 }

// PrimaryID is the id of the sealing key ("" if none).
func (k *Keyring) PrimaryID() string {
	if k.Empty() {
		return ""
	}
	return k.keys[0].id
}

// Seal encrypts plaintext under the first key, bound to ad.
func (k *Keyring) Seal(plaintext, ad string) (string, error) {
	if k.Empty() {
		return "", ErrNoKey
	}
	kk := k.keys[0]
	nonce := make([]byte, kk.aead.NonceSize(), kk.aead.NonceSize()+len(plaintext)+kk.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := kk.aead.Seal(nonce, nonce, []byte(plaintext), []byte(ad))
	return "v1." + kk.id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// KeyID returns the id of the key that sealed s.
func KeyID(sealed string) (string, bool) {
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", false
	}
	return parts[1], true
}

// Open decrypts a value Seal returned with the same ad, with whichever key sealed it.
func (k *Keyring) Open(sealed, ad string) (string, error) {
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", ErrOpen
	}
	if k.Empty() {
		return "", ErrNoKey
	}
	for _, kk := range k.keys {
		if kk.id != parts[1] {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(b) < kk.aead.NonceSize() {
			return "", ErrOpen
		}
		n := kk.aead.NonceSize()
		pt, err := kk.aead.Open(nil, b[:n], b[n:], []byte(ad))
		if err != nil {
			return "", ErrOpen
		}
		return string(pt), nil
	}
	return "", ErrUnknownKey
}
