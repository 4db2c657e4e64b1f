package appauth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by ParseHeader and the Verifier. Every error the package returns for bad
// input wraps exactly one of them, so callers can branch with errors.Is. Their text never
// contains a secret, a signature or any part of the header.
var (
	// ErrNotSigned: the Stripe-Signature header is missing or empty.
	ErrNotSigned = errors.New("no Stripe-Signature header")
	// ErrMalformedHeader: the header is not a list of key=value pairs, its t is not a Unix
	// time, a v1 is not 64 hexadecimal digits, or t appears twice.
	ErrMalformedHeader = errors.New("malformed Stripe-Signature header")
	// ErrNoTimestamp: the header has no t=.
	ErrNoTimestamp = errors.New("Stripe-Signature header has no timestamp")
	// ErrNoSignatures: the header has no v1= signature (a test-mode v0 alone does not count).
	ErrNoSignatures = errors.New("Stripe-Signature header has no v1 signature")
	// ErrTooOld: the timestamp is further in the past than the tolerance.
	ErrTooOld = errors.New("signature timestamp is too old")
	// ErrTooNew: the timestamp is further in the future than the tolerance.
	ErrTooNew = errors.New("signature timestamp is in the future")
	// ErrNoValidSignature: no v1 matches any configured secret over any candidate string.
	ErrNoValidSignature = errors.New("no signature matches")
	// ErrBadBody: the request body is not one JSON text.
	ErrBadBody = errors.New("request body is not valid JSON")
	// ErrNoIdentity: the body (or, without a body, the query string) lacks a string user_id
	// or account_id.
	ErrNoIdentity = errors.New("user_id and account_id strings are required")
	// ErrBadLivemode: a request without a body has a livemode query parameter that is not
	// exactly one of true and false, given once.
	ErrBadLivemode = errors.New("the livemode query parameter must be true or false, given once")
	// ErrLivemodeNotSigned: a request without a body has a livemode query parameter, but
	// its signature covers only the default {"user_id":…,"account_id":…}, not livemode.
	// The mode it asks for is not trusted, so the request is refused rather than served
	// in a mode picked otherwise. SignatureFailure counts it as FailureInvalid.
	ErrLivemodeNotSigned = errors.New("the livemode query parameter is not covered by the signature: " +
		"sign it with fetchStripeSignature({livemode}), as the UI client's get and del do, or leave it out of the query")
	// ErrBusy: the request has a large body and every slot for checking one stayed taken
	// for the configured wait (see WithLargeBodyLimit). The request was not verified
	// either way; it may be retried.
	ErrBusy = errors.New("too many requests are being verified; try again")
)

// MaxSignatures is the most v1 signatures a header may carry. Stripe sends one per live
// secret (two while a secret is being expired); the bound keeps verification allocation-free
// and its cost independent of what a client puts in the header.
const MaxSignatures = 16

// Header is a parsed Stripe-Signature header: t=<unix seconds>,v1=<hex>[,v1=<hex>...].
type Header struct {
	// Timestamp is t, in whole seconds.
	Timestamp time.Time
	// Signatures holds every v1 signature in header order.
	Signatures [][sha256.Size]byte
}

// ParseHeader parses a Stripe-Signature header value. It requires exactly one t (decimal
// Unix seconds) and at least one v1 (64 hexadecimal digits, either case), ignores other
// schemes such as the test-mode v0, and rejects anything else with an error wrapping one of
// ErrNotSigned, ErrMalformedHeader, ErrNoTimestamp or ErrNoSignatures.
func ParseHeader(header string) (Header, error) {
	var sigs [MaxSignatures][sha256.Size]byte
	unix, n, err := parseHeader(header, &sigs)
	if err != nil {
		return Header{}, err
	}
	h := Header{Timestamp: time.Unix(unix, 0), Signatures: make([][sha256.Size]byte, n)}
	copy(h.Signatures, sigs[:n])
	return h, nil
}

// parseHeader is ParseHeader without allocating: it decodes the v1 signatures into sigs and
// returns the timestamp and how many signatures it found.
func parseHeader(header string, sigs *[MaxSignatures][sha256.Size]byte) (unix int64, n int, err error) {
	if header == "" {
		return 0, 0, ErrNotSigned
	}
	haveTimestamp := false
	for rest := header; ; {
		pair := rest
		comma := strings.IndexByte(rest, ',')
		if comma >= 0 {
			pair, rest = rest[:comma], rest[comma+1:]
		}
		eq := strings.IndexByte(pair, '=')
		switch {
		case eq < 0:
			return 0, 0, malformed("an element is not key=value")
		case eq == 0:
			return 0, 0, malformed("an element has an empty key")
		}
		// A second '=' is malformed too; t and v1 values reject it as a non-digit.
		key, value := pair[:eq], pair[eq+1:]
		switch key {
		case "t":
			if haveTimestamp {
				return 0, 0, malformed("t appears more than once")
			}
			var ok bool
			if unix, ok = parseUnix(value); !ok {
				return 0, 0, malformed("t is not a Unix time in seconds")
			}
			haveTimestamp = true
		case "v1":
			if n == MaxSignatures {
				return 0, 0, malformed(fmt.Sprintf("more than %d v1 signatures", MaxSignatures))
			}
			if !decodeSignature(&sigs[n], value) {
				return 0, 0, malformed("a v1 signature is not 64 hexadecimal digits")
			}
			n++
		default:
			if strings.IndexByte(value, '=') >= 0 {
				return 0, 0, malformed("an element has more than one '='")
			}
		}
		if comma < 0 {
			break
		}
	}
	if !haveTimestamp {
		return 0, 0, ErrNoTimestamp
	}
	if n == 0 {
		return 0, 0, ErrNoSignatures
	}
	return unix, n, nil
}

func malformed(why string) error { return fmt.Errorf("%w: %s", ErrMalformedHeader, why) }

// parseUnix accepts 1 to 18 ASCII digits: no sign, no spaces, and no value large enough to
// overflow an int64 (Stripe sends ten digits).
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func decodeSignature(dst *[sha256.Size]byte, s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	var bad byte
	for i := 0; i < 2*sha256.Size; i += 2 {
		hi, lo := hexValue[s[i]], hexValue[s[i+1]]
		bad |= hi | lo
		dst[i/2] = hi<<4 | lo&0x0f
	}
	return bad&0xf0 == 0
}

// hexValue maps a hexadecimal digit of either case to its value and any other byte to 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()
