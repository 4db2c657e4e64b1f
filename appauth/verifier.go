package appauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appbackend/appbackend/internal/jsjson"
)

// DefaultTolerance is how far a signature's timestamp may lie in the past or the future:
// the 300 seconds stripe-go and stripe-node use (they only bound the past).
const DefaultTolerance = 300 * time.Second

// Option configures a Verifier.
type Option func(*verifierConfig)

type verifierConfig struct {
	tolerance      time.Duration
	now            func() time.Time
	largeBodyLimit int
	largeBodyWait  time.Duration
}

// LargeBody is the body size, in bytes, above which VerifyRequest takes one of the
// Verifier's large-body slots (see WithLargeBodyLimit) for the whole check.
const LargeBody = 64 << 10

// DefaultLargeBodyWait is how long a request with a large body waits for a free slot by
// default (see WithLargeBodyLimit).
const DefaultLargeBodyWait = 500 * time.Millisecond

// WithTolerance sets how far a timestamp may lie from the clock, in either direction.
// It must be positive; the default is DefaultTolerance.
func WithTolerance(d time.Duration) Option {
	return func(c *verifierConfig) { c.tolerance = d }
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *verifierConfig) { c.now = now }
}

// WithLargeBodyLimit sets how many requests with a body over LargeBody bytes
// VerifyRequest checks at the same time, and how long such a request waits for its turn
// before it fails with ErrBusy. Checking a body costs time in proportion to its size
// before any signature is known to match (reading it, hashing it, rebuilding it as
// JSON.stringify prints it), so without a limit a flood of large forged bodies takes every
// CPU from the small requests of honest callers, which never wait for a slot. The default
// is half of GOMAXPROCS at NewVerifier (at least 1) and DefaultLargeBodyWait.
func WithLargeBodyLimit(n int, wait time.Duration) Option {
	return func(c *verifierConfig) { c.largeBodyLimit, c.largeBodyWait = n, wait }
}

// Verifier checks Stripe-Signature headers against a fixed set of secrets: app signing
// secrets (absec_…) for UI-extension requests with VerifyRequest, or webhook endpoint
// secrets (whsec_…) for raw payloads with VerifyPayload. It is safe for concurrent use and
// allocates nothing to check a default-signed request or a webhook payload.
type Verifier struct {
	tolerance time.Duration
	now       func() time.Time
	// macs holds *macSet values: one keyed HMAC per secret whose Reset restores the
	// precomputed inner and outer pad state, plus scratch space, so a verification neither
	// rehashes the keys nor allocates.
	macs sync.Pool
	// largeBodySlots is both the semaphore of WithLargeBodyLimit and the pool of the
	// printers and buffers that candidate (c) needs for a large body: a request takes one
	// slot and gives it back, so their memory is bounded by the limit, not by the number
	// of requests. Small bodies take their printer from smallBodySlots.
	largeBodySlots chan *stringifySlot
	largeBodyWait  time.Duration
	smallBodySlots sync.Pool
}

// stringifySlot is scratch space to print a body as JSON.stringify does.
type stringifySlot struct {
	printer jsjson.Canonicalizer
	out     []byte
}

// maxKeptStringifyBuffer is the largest buffer a slot keeps between requests, in bytes (or
// elements of the printer's scratch): beyond it, the memory goes back to the runtime.
const maxKeptStringifyBuffer = 4 << 20

type macSet struct {
	macs []hash.Hash
	sums [][sha256.Size]byte
	// timestamp holds "<t>.", the start of every signed message.
	timestamp []byte
	// defaultSigned holds candidate (a).
	defaultSigned []byte
}

// NewVerifier returns a Verifier accepting a signature made with any of secrets, which
// must be non-empty and without surrounding whitespace. Pass both the old and the new
// secret while Stripe rotates one.
func NewVerifier(secrets []string, opts ...Option) (*Verifier, error) {
	if err := checkSecrets(secrets); err != nil {
		return nil, err
	}
	cfg := verifierConfig{tolerance: DefaultTolerance, now: time.Now,
		largeBodyLimit: max(runtime.GOMAXPROCS(0)/2, 1), largeBodyWait: DefaultLargeBodyWait}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.tolerance <= 0 {
		return nil, errors.New("appauth: tolerance must be positive")
	}
	if cfg.now == nil {
		return nil, errors.New("appauth: clock must not be nil")
	}
	if cfg.largeBodyLimit < 1 || cfg.largeBodyWait < 0 {
		return nil, errors.New("appauth: the large-body limit must be positive and its wait not negative")
	}
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		keys[i] = []byte(s)
	}
	v := &Verifier{tolerance: cfg.tolerance, now: cfg.now,
		largeBodySlots: make(chan *stringifySlot, cfg.largeBodyLimit), largeBodyWait: cfg.largeBodyWait}
	for range cfg.largeBodyLimit {
		v.largeBodySlots <- new(stringifySlot)
	}
	v.smallBodySlots.New = func() any { return new(stringifySlot) }
	v.macs.New = func() any {
		set := &macSet{
			macs:          make([]hash.Hash, len(keys)),
			sums:          make([][sha256.Size]byte, len(keys)),
			timestamp:     make([]byte, 0, 32),
			defaultSigned: make([]byte, 0, 128),
		}
		for i, key := range keys {
			set.macs[i] = hmac.New(sha256.New, key)
			// The first Reset records the keyed pad state that later Resets restore.
			set.macs[i].Reset()
		}
		return set
	}
	v.macs.Put(v.macs.New())
	return v, nil
}

// signatureCheck is one verification in progress: the parsed header and the pooled MACs.
type signatureCheck struct {
	sigs [MaxSignatures][sha256.Size]byte
	n    int
	unix int64
	set  *macSet
}

// begin parses header, checks its timestamp and takes a macSet from the pool; the caller
// must call end.
func (v *Verifier) begin(c *signatureCheck, header string) error {
	unix, n, err := v.checkHeader(header, &c.sigs)
	if err != nil {
		return err
	}
	c.n, c.unix = n, unix
	c.set = v.macs.Get().(*macSet)
	c.set.timestamp = strconv.AppendInt(c.set.timestamp[:0], unix, 10)
	c.set.timestamp = append(c.set.timestamp, '.')
	return nil
}

// checkHeader parses header and checks its timestamp: everything that can be known about
// a request before its body arrives.
func (v *Verifier) checkHeader(header string, sigs *[MaxSignatures][sha256.Size]byte) (unix int64, n int, err error) {
	unix, n, err = parseHeader(header, sigs)
	if err != nil {
		return 0, 0, err
	}
	age := v.now().Sub(time.Unix(unix, 0))
	if age > v.tolerance {
		return 0, 0, ErrTooOld
	}
	if age < -v.tolerance {
		return 0, 0, ErrTooNew
	}
	return unix, n, nil
}

// CheckHeader checks what a Stripe-Signature header alone can tell: that it parses (see
// ParseHeader) and that its timestamp is within the tolerance. A request failing it can
// be refused before its body is read; one passing it must still be verified with
// VerifyRequest or VerifyPayload. It allocates nothing.
func (v *Verifier) CheckHeader(header string) error {
	var sigs [MaxSignatures][sha256.Size]byte
	_, _, err := v.checkHeader(header, &sigs)
	return err
}

func (v *Verifier) end(c *signatureCheck) {
	if c.set != nil {
		// Keep neither a huge buffer nor a body's content alive in the pool.
		if cap(c.set.defaultSigned) > 1<<10 {
			c.set.defaultSigned = make([]byte, 0, 128)
		}
		v.macs.Put(c.set)
		c.set = nil
	}
}

// matchSigned reports whether any v1 signature is the HMAC of "<t>.<signed>" under any
// secret. Every comparison is constant-time.
func (c *signatureCheck) matchSigned(signed []byte) bool {
	set := c.set
	for i, mac := range set.macs {
		mac.Reset()
		mac.Write(set.timestamp)
		mac.Write(signed)
		sum := mac.Sum(set.sums[i][:0])
		for j := 0; j < c.n; j++ {
			if hmac.Equal(sum, c.sigs[j][:]) {
				return true
			}
		}
	}
	return false
}

// VerifyPayload checks a webhook: header must carry a v1 that is the HMAC of
// "<t>.<payload>" under one of the secrets, with t within the tolerance. It returns the
// signature's timestamp. It allocates nothing.
func (v *Verifier) VerifyPayload(header string, payload []byte) (time.Time, error) {
	var c signatureCheck
	if err := v.begin(&c, header); err != nil {
		return time.Time{}, err
	}
	defer v.end(&c)
	if !c.matchSigned(payload) {
		return time.Time{}, ErrNoValidSignature
	}
	return time.Unix(c.unix, 0), nil
}

// requestCheck is what VerifyRequest learns about a request before building an Identity.
type requestCheck struct {
	signedAs SignedAs
	signedAt time.Time
	// The identity comes from exactly one of: raw body text (fast path), the query string,
	// or a lookup in the body.
	userRaw, accountRaw []byte
	userStr, accountStr string
	// livemode is the query's signed livemode, when signedAs is SignedQuery.
	livemode bool
}

// checkRequest is VerifyRequest without building the Identity. For a default-signed
// request whose identity needs no unescaping it allocates nothing.
func (v *Verifier) checkRequest(header string, body []byte, query url.Values) (requestCheck, error) {
	var rc requestCheck
	var c signatureCheck
	if err := v.begin(&c, header); err != nil {
		return rc, err
	}
	defer v.end(&c)
	rc.signedAt = time.Unix(c.unix, 0)

	// Everything below costs time in proportion to the body: large bodies take turns.
	var slot *stringifySlot
	if len(body) > LargeBody {
		var err error
		if slot, err = v.acquireLargeBodySlot(); err != nil {
			return rc, err
		}
		defer v.releaseLargeBodySlot(slot)
	}

	// Candidate (a): the default {"user_id":…,"account_id":…} from the claimed identity.
	set := c.set
	switch scan, ok := scanBody(body); {
	case len(body) == 0:
		if !query.Has("user_id") || !query.Has("account_id") {
			return rc, ErrNoIdentity
		}
		rc.userStr, rc.accountStr = query.Get("user_id"), query.Get("account_id")
		if query.Has("livemode") {
			return rc, c.checkQueryLivemode(&rc, query)
		}
		set.defaultSigned = appendDefaultSigned(set.defaultSigned[:0], rc.userStr, rc.accountStr)
	case ok:
		if scan.userState != fieldString || scan.accountState != fieldString {
			return rc, ErrNoIdentity
		}
		rc.userRaw, rc.accountRaw = scan.user, scan.account
		// The scan guarantees both are printable ASCII without escapes: JSON.stringify
		// prints them as they are.
		b := append(set.defaultSigned[:0], `{"user_id":"`...)
		b = append(b, scan.user...)
		b = append(b, `","account_id":"`...)
		b = append(b, scan.account...)
		set.defaultSigned = append(b, `"}`...)
	default:
		// The body is invalid, or the scan was unsure: the lookups decide, without building
		// a tree of the body (which would cost a client who signed nothing many times the
		// body's size).
		user, account, err := lookupIdentity(body)
		if err != nil {
			return rc, err
		}
		rc.userStr, rc.accountStr = user, account
		set.defaultSigned = appendDefaultSigned(set.defaultSigned[:0], user, account)
	}
	if c.matchSigned(set.defaultSigned) {
		rc.signedAs = SignedDefault
		return rc, nil
	}
	if len(body) == 0 {
		return rc, ErrNoValidSignature
	}

	// Candidate (b): the raw body, unless it is the default string already tried.
	if !bytes.Equal(body, set.defaultSigned) && c.matchSigned(body) {
		rc.signedAs = SignedBody
		return rc, nil
	}

	// Candidate (c): the body as JSON.stringify prints it, unless that is one of the above.
	if slot == nil {
		slot = v.smallBodySlots.Get().(*stringifySlot)
		defer func() {
			clear(slot.out)
			slot.out = slot.out[:0]
			slot.printer.Shrink(LargeBody)
			v.smallBodySlots.Put(slot)
		}()
	}
	// The output is usually the body's size: room for it at once, rather than doublings.
	var err error
	slot.out, err = slot.printer.Append(slices.Grow(slot.out[:0], len(body)), body)
	if err != nil {
		return rc, badBody(err)
	}
	if !bytes.Equal(slot.out, body) && !bytes.Equal(slot.out, set.defaultSigned) && c.matchSigned(slot.out) {
		rc.signedAs = SignedStringified
		return rc, nil
	}
	return rc, ErrNoValidSignature
}

// checkQueryLivemode verifies a request without a body whose query string has livemode:
// the signed string must be {"livemode":…,"user_id":…,"account_id":…}, what Stripe signs
// for fetchStripeSignature({livemode}). A signature over the default pair alone is
// refused with ErrLivemodeNotSigned rather than served: the caller asked for a mode, and
// answering in another one (the only key's, the installation's) would be a silent lie.
func (c *signatureCheck) checkQueryLivemode(rc *requestCheck, query url.Values) error {
	live, err := queryLivemode(query)
	if err != nil {
		return err
	}
	set := c.set
	set.defaultSigned = appendLivemodeSigned(set.defaultSigned[:0], live, rc.userStr, rc.accountStr)
	if c.matchSigned(set.defaultSigned) {
		rc.signedAs, rc.livemode = SignedQuery, live
		return nil
	}
	set.defaultSigned = appendDefaultSigned(set.defaultSigned[:0], rc.userStr, rc.accountStr)
	if c.matchSigned(set.defaultSigned) {
		return ErrLivemodeNotSigned
	}
	return ErrNoValidSignature
}

// queryLivemode reads the one livemode value of query: "true" or "false", as
// URLSearchParams prints a JavaScript boolean.
func queryLivemode(query url.Values) (bool, error) {
	values := query["livemode"]
	if len(values) != 1 {
		return false, ErrBadLivemode
	}
	switch values[0] {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, ErrBadLivemode
}

// appendLivemodeSigned appends JSON.stringify({livemode, user_id, account_id}): the
// string Stripe signs for fetchStripeSignature({livemode}).
func appendLivemodeSigned(dst []byte, live bool, userID, accountID string) []byte {
	dst = append(dst, `{"livemode":`...)
	dst = strconv.AppendBool(dst, live)
	dst = append(dst, `,"user_id":`...)
	dst = appendJSString(dst, userID)
	dst = append(dst, `,"account_id":`...)
	dst = appendJSString(dst, accountID)
	return append(dst, '}')
}

// QueryFor returns the query parameters a request without a body (GET, DELETE) carries
// to be verified with a signature over payload, as Sign made it: user_id and account_id,
// and livemode when payload is {"livemode":true} or {"livemode":false}. No other payload
// can be signed without a body; QueryFor refuses it, naming the fix.
//
// The signed string is then JSON.stringify({livemode, user_id, account_id}) — livemode
// first — which is what fetchStripeSignature({livemode}) signs and what VerifyRequest
// rebuilds from the query, whatever the order of the parameters in the URL.
func QueryFor(userID, accountID string, payload []byte) (url.Values, error) {
	q := url.Values{"user_id": {userID}, "account_id": {accountID}}
	if len(bytes.TrimSpace(payload)) == 0 {
		return q, nil
	}
	v, err := jsjson.Parse(payload)
	if err != nil {
		return nil, fmt.Errorf("appauth: payload is not valid JSON: %w", err)
	}
	const only = `a request without a body can sign only livemode: the payload must be {} or {"livemode":true|false}; send other data with POST`
	if v.Kind != jsjson.Object {
		return nil, errors.New("appauth: " + only)
	}
	live, ok := v.Members.Get("livemode")
	if v.Members.Len() == 0 {
		return q, nil
	}
	if !ok || v.Members.Len() != 1 || live.Kind != jsjson.Bool {
		return nil, errors.New("appauth: " + only)
	}
	q.Set("livemode", strconv.FormatBool(live.Bool))
	return q, nil
}

// acquireLargeBodySlot takes a large-body slot, waiting up to the configured time for one.
func (v *Verifier) acquireLargeBodySlot() (*stringifySlot, error) {
	select {
	case slot := <-v.largeBodySlots:
		return slot, nil
	default:
	}
	if v.largeBodyWait <= 0 {
		return nil, ErrBusy
	}
	timer := time.NewTimer(v.largeBodyWait)
	defer timer.Stop()
	select {
	case slot := <-v.largeBodySlots:
		return slot, nil
	case <-timer.C:
		return nil, ErrBusy
	}
}

// releaseLargeBodySlot gives a slot back, without the body's content and without buffers
// that one huge body grew.
func (v *Verifier) releaseLargeBodySlot(slot *stringifySlot) {
	clear(slot.out)
	if cap(slot.out) > maxKeptStringifyBuffer {
		slot.out = nil
	}
	slot.out = slot.out[:0]
	slot.printer.Shrink(maxKeptStringifyBuffer / 16)
	v.largeBodySlots <- slot
}

// lookupIdentity reads the top-level user_id and account_id strings of body, which must
// be one JSON text, with jsjson's lookups: ErrBadBody if it is not JSON, ErrNoIdentity if
// either is missing or not a string.
func lookupIdentity(body []byte) (user, account string, err error) {
	user, foundUser, err := jsjson.LookupString(body, "user_id")
	var syntaxErr *jsjson.SyntaxError
	if errors.As(err, &syntaxErr) {
		return "", "", badBody(err)
	}
	if err != nil || !foundUser {
		return "", "", ErrNoIdentity
	}
	account, foundAccount, err := jsjson.LookupString(body, "account_id")
	if err != nil || !foundAccount {
		return "", "", ErrNoIdentity
	}
	return user, account, nil
}

// badBody wraps a jsjson syntax error, which names the offset and the offending character
// of the body (never anything else), in ErrBadBody.
func badBody(err error) error {
	return fmt.Errorf("%w: %s", ErrBadBody, strings.TrimPrefix(err.Error(), "jsjson: "))
}

// VerifySignature checks a UI-extension request exactly as VerifyRequest does but builds
// no Identity: it only reports how the request was signed. When the default pair was
// signed it allocates nothing.
func (v *Verifier) VerifySignature(header string, body []byte, query url.Values) (SignedAs, error) {
	rc, err := v.checkRequest(header, body, query)
	return rc.signedAs, err
}

// VerifyRequest checks a request from a UI extension and returns the verified Identity.
//
// header is the Stripe-Signature value; body is the raw request body; query is used for
// the identity only when body is empty (GET and DELETE requests carry
// ?user_id=…&account_id=…). Such a request says its Stripe mode with
// ?livemode=true|false, signed: the signed string is then
// {"livemode":…,"user_id":…,"account_id":…} (fetchStripeSignature({livemode}); see
// QueryFor), Identity.SignedAs is SignedQuery and Identity.Payload {"livemode":…}. A
// livemode that is not true or false is ErrBadLivemode; one the signature does not cover
// (it covers the default pair only) is ErrLivemodeNotSigned: never trusted, and not
// silently dropped either. With a body, the query is not read: livemode belongs in the
// signed payload. The header is checked first (ErrNotSigned,
// ErrMalformedHeader, ErrNoTimestamp, ErrNoSignatures, then ErrTooOld or ErrTooNew), then
// the body (ErrBadBody, ErrNoIdentity), then the signatures (ErrNoValidSignature).
//
// The signed string may be, tried in this order: (a) the default
// {"user_id":…,"account_id":…} built from the claimed identity; (b) the raw body; (c) the
// body as JavaScript's JSON.stringify prints it, so a pretty-printed or re-encoded body
// still verifies. Identity.SignedAs records which one matched; only (b) and (c) vouch for
// the rest of the body, and only then are Identity.Roles and Identity.Payload set.
// (Without a body, (a) is the livemode string above when the query has livemode.)
func (v *Verifier) VerifyRequest(header string, body []byte, query url.Values) (*Identity, error) {
	rc, err := v.checkRequest(header, body, query)
	if err != nil {
		return nil, err
	}
	id := &Identity{SignedAs: rc.signedAs, SignedAt: rc.signedAt, FromQuery: len(body) == 0}
	switch {
	case rc.userRaw != nil || rc.accountRaw != nil:
		// One allocation for both strings.
		both := string(rc.userRaw) + string(rc.accountRaw)
		id.UserID, id.AccountID = both[:len(rc.userRaw)], both[len(rc.userRaw):]
	default:
		id.UserID, id.AccountID = rc.userStr, rc.accountStr
	}
	switch rc.signedAs {
	case SignedDefault:
		return id, nil
	case SignedQuery:
		if rc.livemode {
			id.Payload = json.RawMessage(`{"livemode":true}`)
		} else {
			id.Payload = json.RawMessage(`{"livemode":false}`)
		}
		return id, nil
	}
	// Only now that the signature covers the body is it worth a tree.
	parsed, err := jsjson.Parse(body)
	if err != nil {
		return nil, ErrBadBody
	}
	id.Roles = rolesOf(parsed)
	payload := parsed
	payload.Members.Delete("user_id")
	payload.Members.Delete("account_id")
	id.Payload = jsjson.AppendStringify(nil, payload)
	return id, nil
}
