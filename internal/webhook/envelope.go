package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/appbackend/appbackend/internal/store"
)

// parseEnvelope reads an event's envelope (id, type, account, livemode, created,
// api_version) from its body. Most bodies take scanEnvelope's path: json.Valid, then
// one pass over the top-level members that skips the others (data.object is most of
// the body) without decoding them, which costs a fraction of encoding/json's reflection.
// A body the scanner does not take exactly as encoding/json would goes to
// decodeEnvelope, so both paths answer the same (FuzzParseEnvelope checks it).
func parseEnvelope(body []byte, now time.Time) (store.Event, error) {
	if json.Valid(body) {
		if f, ok := scanEnvelope(body); ok {
			return f.event(body, now)
		}
	}
	return decodeEnvelope(body, now)
}

// envelopeFields are the top-level members scanEnvelope reads.
type envelopeFields struct {
	id, typ, account, contextAccount, apiVersion string
	livemode                                     bool
	created                                      []byte // the raw value, or nil
}

func (f envelopeFields) event(body []byte, now time.Time) (store.Event, error) {
	if f.id == "" || f.typ == "" {
		return store.Event{}, errors.New("event has no id or no type")
	}
	ev := store.Event{ID: f.id, Type: f.typ, AccountID: f.account, Livemode: f.livemode, APIVersion: f.apiVersion, Raw: body, ReceivedAt: now}
	if ev.AccountID == "" && strings.HasPrefix(f.contextAccount, "acct_") {
		ev.AccountID = f.contextAccount
	}
	ev.Created = parseCreated(f.created, now)
	return ev, nil
}

// scanEnvelope reads the envelope of a body that json.Valid accepted. ok is false when
// the body needs encoding/json to be read as it would read it: not an object, a key or
// a read string with an escape or a non-ASCII byte (encoding/json unescapes, replaces
// invalid UTF-8 and folds keys case-insensitively), or a read member of another type
// than the envelope's.
func scanEnvelope(b []byte) (f envelopeFields, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return f, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return f, true
	}
	for i < len(b) {
		key, next, simple := scanString(b, i)
		if !simple {
			return f, false
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return f, false
		}
		start := skipSpace(b, i+1)
		end := skipValue(b, start)
		if end < 0 {
			return f, false
		}
		value := b[start:end]
		switch string(key) {
		// A null leaves a string or bool member as it was, as encoding/json does.
		case "id":
			ok = readString(value, &f.id)
		case "type":
			ok = readString(value, &f.typ)
		case "account":
			ok = readString(value, &f.account)
		case "api_version":
			// Read as a json.RawMessage, then as a string: anything else is "".
			f.apiVersion = ""
			ok = readString(value, &f.apiVersion) || value[0] != '"'
		case "context":
			// The same for context: only a string is an account.
			f.contextAccount = ""
			ok = readString(value, &f.contextAccount) || value[0] != '"'
		case "livemode":
			switch string(value) {
			case "true":
				f.livemode, ok = true, true
			case "false":
				f.livemode, ok = false, true
			case "null":
				ok = true
			default:
				ok = false
			}
		case "created":
			f.created, ok = value, true
		default:
			ok = !foldsToEnvelopeKey(key)
		}
		if !ok {
			return f, false
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return f, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return f, skipSpace(b, i+1) == len(b)
		default:
			return f, false
		}
	}
	return f, false
}

// foldsToEnvelopeKey reports whether encoding/json could take key for one of the
// envelope's members although it is not spelled as it is: another case, or non-ASCII
// letters that fold to ASCII ones (U+017F to s, U+212A to k).
func foldsToEnvelopeKey(key []byte) bool {
	for _, c := range key {
		if c >= 0x80 {
			return true
		}
	}
	for _, k := range [...]string{"id", "type", "account", "api_version", "context", "livemode", "created"} {
		if strings.EqualFold(string(key), k) {
			return true
		}
	}
	return false
}

// readString sets *dst from a string value, leaves it as it is for null (as
// encoding/json does), and reports whether it could: not for another type, or a string
// with an escape or a non-ASCII byte.
func readString(value []byte, dst *string) bool {
	if string(value) == "null" {
		return true
	}
	s, next, simple := scanString(value, 0)
	if !simple || next != len(value) {
		return false
	}
	*dst = string(s)
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString reads the string that starts at b[i] ('"'). simple is false if it is not a
// string, or has an escape or a byte outside ASCII; s is its content and next the
// index after its closing quote.
func scanString(b []byte, i int) (s []byte, next int, simple bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c >= 0x80:
			return nil, j, false
		}
	}
	return nil, len(b), false
}

// skipValue returns the index after the JSON value that starts at b[i], of a body that
// json.Valid accepted, or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipStringAt(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = skipStringAt(b, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		return j
	}
}

// skipStringAt returns the index after the string that starts at b[i], escapes
// included, or -1.
func skipStringAt(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// parseCreated reads unix seconds (snapshot events) or RFC 3339 (thin events); an
// event without a usable created is dated when it was received.
func parseCreated(raw []byte, now time.Time) time.Time {
	if len(raw) > 0 && len(raw) <= 18 && raw[0] >= '1' && raw[0] <= '9' {
		if unix, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return time.Unix(unix, 0).UTC()
		}
	}
	var unix int64
	if json.Unmarshal(raw, &unix) == nil && unix > 0 {
		return time.Unix(unix, 0).UTC()
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.Truncate(time.Second).UTC()
		}
	}
	return now.Truncate(time.Second).UTC()
}

// envelope is the part of an event the receiver reads. Thin (v2) events carry created
// as an RFC 3339 string and the account in context, so both are read loosely.
type envelope struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Account    string          `json:"account"`
	Context    json.RawMessage `json:"context"`
	Livemode   bool            `json:"livemode"`
	Created    json.RawMessage `json:"created"`
	APIVersion json.RawMessage `json:"api_version"`
}

// decodeEnvelope reads the envelope with encoding/json: parseEnvelope's way for bodies
// its scanner leaves (escapes, unusual keys or types), with encoding/json's errors.
func decodeEnvelope(body []byte, now time.Time) (store.Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
			return store.Event{}, errors.New("body is not valid JSON")
		}
		return store.Event{}, fmt.Errorf("body is not a Stripe event: %v", err)
	}
	if env.ID == "" || env.Type == "" {
		return store.Event{}, errors.New("event has no id or no type")
	}
	ev := store.Event{ID: env.ID, Type: env.Type, AccountID: env.Account, Livemode: env.Livemode, Raw: body, ReceivedAt: now}
	if ev.AccountID == "" {
		var ctxAccount string
		if json.Unmarshal(env.Context, &ctxAccount) == nil && strings.HasPrefix(ctxAccount, "acct_") {
			ev.AccountID = ctxAccount
		}
	}
	var apiVersion string
	if json.Unmarshal(env.APIVersion, &apiVersion) == nil {
		ev.APIVersion = apiVersion
	}
	if err := checkNoNUL(ev); err != nil {
		return store.Event{}, err
	}
	ev.Created = parseCreated(env.Created, now)
	return ev, nil
}

// checkNoNUL refuses an envelope whose stored strings hold a NUL (\u0000). PostgreSQL's
// TEXT cannot hold one, and the event id also goes into the River job's JSONB args,
// which cannot either: such an event would fail the whole group commit it joined (503
// for every honest event in it), so it is answered 400 alone, on both databases alike.
// Stripe writes these members itself and never puts a NUL in them; a NUL elsewhere in
// the body (a merchant's metadata) is stored as received, since the payload is a
// BLOB/BYTEA. Only decodeEnvelope's path can meet one: scanEnvelope takes no escape,
// and json.Valid refuses a raw control character in a string.
func checkNoNUL(ev store.Event) error {
	for _, m := range [...]struct{ name, value string }{
		{"id", ev.ID}, {"type", ev.Type}, {"account", ev.AccountID}, {"api_version", ev.APIVersion},
	} {
		if strings.IndexByte(m.value, 0) >= 0 {
			return fmt.Errorf("event %s contains a NUL character (\\u0000)", m.name)
		}
	}
	return nil
}
