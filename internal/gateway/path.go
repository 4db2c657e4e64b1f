package gateway

import (
	"errors"
	"net/url"
	"strings"
)

// ErrPath refuses a path that another server could read as a different path than the
// one appbackend checked.
var ErrPath = errors.New("dot-segments, encoded slashes and backslashes are not allowed in the path")

// CheckPath checks a path as sent (escaped, as url.URL.EscapedPath gives it) before it
// is forwarded: it must start with prefix once decoded, and hold nothing that a server
// behind appbackend could resolve to another path. Go's ServeMux redirects only a
// literal "..", while a WHATWG URL parser (Node's new URL(req.url), and most
// frameworks) also resolves "%2e%2e" and ".%2E", turns "\" into "/", and some servers
// decode "%2F" into a separator or read "..;" as "..". So a path is refused when it
// does not decode, when a decoded segment is "." or ".." (before any ";"), when it
// carries a backslash or an encoded "/" or "\", or a control character.
func CheckPath(escaped, prefix string) error {
	decoded, err := url.PathUnescape(escaped)
	if err != nil || !strings.HasPrefix(decoded, prefix) || !strings.HasPrefix(escaped, "/") {
		return ErrPath
	}
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.ContainsRune(decoded, '\\') {
		return ErrPath
	}
	if strings.ContainsFunc(decoded, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ErrPath
	}
	for seg := range strings.SplitSeq(decoded, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "." || seg == ".." {
			return ErrPath
		}
	}
	return nil
}
