package schedule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors of registration, for errors.Is.
var (
	// ErrBadName marks a schedule name that is empty, too long, has characters other
	// than letters, digits and ._:- or uses the reserved "appbackend." prefix.
	ErrBadName = errors.New("invalid schedule name")
	// ErrDuplicate marks a second schedule with a name already registered.
	ErrDuplicate = errors.New("duplicate schedule name")
)

// reservedPrefix names appbackend's own schedules (reconciliation).
const reservedPrefix = "appbackend."

const maxNameLen = 100

// Run is one run of a schedule, as its handler receives it.
type Run struct {
	// Name is the schedule's name.
	Name string
	// AccountID and Livemode are the account and mode of a per-account schedule's run;
	// empty and false for a platform schedule.
	AccountID string
	Livemode  bool
	// Slot is the time the run is for: the spec's time, before the account's jitter.
	// A retry of the run has the same slot.
	Slot time.Time
	// Missed counts the earlier slots that came while nothing could run them (the
	// server was down) and are folded into this run: a missed slot runs once, late,
	// not once per slot.
	Missed int
	// Attempt is 1 on the first attempt and grows with each retry.
	Attempt int
	// JobID is the River job running it; a Stripe write's idempotency key derives from
	// it, so a retry repeats its writes under the same keys.
	JobID int64
}

// Handler runs one slot of a schedule. Its context is bound to the run's account and
// mode (stripeclient.WithAccount) for a per-account schedule and to its job
// (stripeclient.WithJob). A retryable error (a Stripe 5xx or 429, a network failure, any
// error that is not a Stripe or appbackend refusal) retries the run with backoff; a
// non-retryable one (a Stripe 4xx) cancels it; a panic is recorded and retried.
type Handler func(ctx context.Context, run Run) error

// definition is one registered schedule.
type definition struct {
	name       string
	spec       Spec
	perAccount bool
	handler    Handler
}

// Set holds the schedules an app registers before it runs. It is safe for concurrent
// use.
type Set struct {
	mu   sync.RWMutex
	defs map[string]*definition
}

// NewSet returns an empty Set.
func NewSet() *Set { return &Set{defs: make(map[string]*definition)} }

// Every registers a platform schedule: h runs once per slot of spec, with no account.
// It fails, with ErrBadSpec, ErrBadName or ErrDuplicate, on an invalid spec or name or
// a name already registered.
func (s *Set) Every(spec, name string, h Handler) error { return s.add(spec, name, false, h, false) }

// EveryAccount registers a per-account schedule: h runs once per slot of spec for each
// account and mode in which the app is installed, from its install to its uninstall.
// Each account's runs are offset by a stable jitter (see Jitter). Errors as Every.
func (s *Set) EveryAccount(spec, name string, h Handler) error {
	return s.add(spec, name, true, h, false)
}

// BuiltIn registers one of appbackend's own platform schedules, whose names start
// with the reserved "appbackend." prefix. Errors as Every.
func (s *Set) BuiltIn(spec, name string, h Handler) error { return s.add(spec, name, false, h, true) }

func (s *Set) add(specText, name string, perAccount bool, h Handler, builtIn bool) error {
	if err := checkName(name, builtIn); err != nil {
		return err
	}
	if h == nil {
		return fmt.Errorf("schedule %q: no handler", name)
	}
	spec, err := ParseSpec(specText)
	if err != nil {
		return fmt.Errorf("schedule %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.defs[name]; ok {
		return fmt.Errorf("%w: schedule %q is already registered", ErrDuplicate, name)
	}
	s.defs[name] = &definition{name: name, spec: spec, perAccount: perAccount, handler: h}
	return nil
}

func checkName(name string, builtIn bool) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w %q: longer than %d characters", ErrBadName, name, maxNameLen)
	case strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r))
	}):
		return fmt.Errorf("%w %q: use letters, digits and . _ : - only", ErrBadName, name)
	case !builtIn && strings.HasPrefix(name, reservedPrefix):
		return fmt.Errorf("%w %q: the %q prefix is reserved for appbackend's own schedules", ErrBadName, name, reservedPrefix)
	}
	return nil
}

func (s *Set) lookup(name string) (*definition, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.defs[name]
	return d, ok
}

// all returns the definitions by name.
func (s *Set) all() []*definition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	defs := make([]*definition, 0, len(s.defs))
	for _, d := range s.defs {
		defs = append(defs, d)
	}
	slices.SortFunc(defs, func(a, b *definition) int { return strings.Compare(a.name, b.name) })
	return defs
}

// Names lists the registered schedules' names, sorted.
func (s *Set) Names() []string {
	var names []string
	for _, d := range s.all() {
		names = append(names, d.name)
	}
	return names
}
