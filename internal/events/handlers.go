package events

import (
	"fmt"
	"strings"
	"sync"
)

// Handlers is the registry of the app's event handlers. Its zero value is ready, and
// it exists before any processor (appbackend.New makes it; the processor built at Run
// reads it), so that nothing is buffered and replayed.
type Handlers struct {
	mu       sync.RWMutex
	handlers []registered
}

type registered struct {
	pattern string
	handler Handler
}

// On registers h for events whose type matches pattern: an exact type
// ("customer.created"), a prefix ("customer.*") or "*" for every event. Handlers run
// in registration order, after the built-in handlers. An invalid pattern (see
// CheckPattern) or a nil h panics, as http.ServeMux does for a bad route: the mistake
// fails the first test that registers it.
func (hs *Handlers) On(pattern string, h Handler) {
	if err := CheckPattern(pattern); err != nil {
		panic("events: " + err.Error())
	}
	if h == nil {
		panic(fmt.Sprintf("events: nil handler for %q", pattern))
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.handlers = append(hs.handlers, registered{pattern: pattern, handler: h})
}

// CheckPattern reports what is wrong with an event pattern: it must be "*", an event
// type, or a prefix ending in "*" ("customer.*"), with no space and no other "*".
func CheckPattern(pattern string) error {
	switch {
	case pattern == "":
		return fmt.Errorf("empty event pattern (use \"*\" for every event)")
	case strings.ContainsAny(pattern, " \t\n"):
		return fmt.Errorf("event pattern %q has a space", pattern)
	case strings.Contains(strings.TrimSuffix(pattern, "*"), "*"):
		return fmt.Errorf("event pattern %q: \"*\" may only end it (\"customer.*\")", pattern)
	}
	return nil
}

// Matches reports whether an event type matches a handler's pattern: the type itself
// ("customer.created"), a prefix ("customer.*") or "*".
func Matches(pattern, eventType string) bool {
	if pattern == "*" || pattern == eventType {
		return true
	}
	prefix, ok := strings.CutSuffix(pattern, "*")
	return ok && strings.HasPrefix(eventType, prefix)
}

// Handles reports whether a registered handler matches the type.
func (hs *Handlers) Handles(eventType string) bool {
	hs.mu.RLock()
	defer hs.mu.RUnlock()
	for _, r := range hs.handlers {
		if Matches(r.pattern, eventType) {
			return true
		}
	}
	return false
}

// forType returns the handlers matching the type, in registration order.
func (hs *Handlers) forType(eventType string) []registered {
	hs.mu.RLock()
	defer hs.mu.RUnlock()
	var out []registered
	for _, r := range hs.handlers {
		if Matches(r.pattern, eventType) {
			out = append(out, r)
		}
	}
	return out
}
