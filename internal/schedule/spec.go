package schedule

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/appbackend/appbackend/internal/store"
)

// ErrBadSpec marks a schedule spec that does not parse or never fires.
var ErrBadSpec = errors.New("invalid schedule spec")

// specParser accepts the five cron fields (minute first), an optional leading seconds
// field, and the descriptors (@hourly, @daily, …).
var specParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// specHelp ends every spec error, so that the fix is in the message.
const specHelp = `want a cron expression such as "0 * * * *" (minute hour day month weekday, ` +
	`optionally seconds first), a descriptor such as @hourly or @daily, or an interval such as @every 5m`

// Spec is a parsed schedule spec. Its slots are deterministic: the same spec gives the
// same slots on every server, so a slot names one run across restarts and replicas.
type Spec struct {
	text string
	// every is set for @every: slots are the multiples of it since the zero time, so
	// "@every 1h" runs on the hour (UTC) and "@every 5m" at :00, :05, …
	every time.Duration
	cron  cron.Schedule
	// interval is the shortest gap between two slots, which bounds the jitter.
	interval time.Duration
}

// ParseSpec parses a cron expression, a descriptor (@hourly, @daily, @weekly, @monthly,
// @yearly, @midnight) or "@every D" (D a whole number of seconds, at least 1s). Cron
// times are UTC unless the spec starts with CRON_TZ=Area/City.
func ParseSpec(text string) (spec Spec, err error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return Spec{}, fmt.Errorf("%w: empty; %s", ErrBadSpec, specHelp)
	}
	if rest, ok := strings.CutPrefix(text, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		switch {
		case err != nil:
			return Spec{}, fmt.Errorf("%w %q: %q is not a duration such as 30s, 5m or 2h", ErrBadSpec, text, strings.TrimSpace(rest))
		case d < time.Second || d%time.Second != 0:
			return Spec{}, fmt.Errorf("%w %q: the interval must be a whole number of seconds, at least 1s", ErrBadSpec, text)
		}
		return Spec{text: text, every: d, interval: d}, nil
	}
	_, hasTZ := cutTZ(text)
	if hasTZ && !strings.Contains(text, " ") {
		// robfig/cron slices past the end of such a spec.
		return Spec{}, fmt.Errorf("%w %q: a time zone must be followed by a schedule; %s", ErrBadSpec, text, specHelp)
	}
	defer func() {
		// The parser is a dependency: whatever input it chokes on is still bad input.
		if p := recover(); p != nil {
			spec, err = Spec{}, fmt.Errorf("%w %q: %v; %s", ErrBadSpec, text, p, specHelp)
		}
	}()
	parsed, err := specParser.Parse(text)
	if err != nil {
		return Spec{}, fmt.Errorf("%w %q: %v; %s", ErrBadSpec, text, err, specHelp)
	}
	spec = Spec{text: text, cron: parsed}
	switch s := parsed.(type) {
	case *cron.ConstantDelaySchedule: // "CRON_TZ=… @every …"
		spec = Spec{text: text, every: s.Delay, interval: s.Delay}
		return spec, nil
	case *cron.SpecSchedule:
		if !hasTZ {
			s.Location = time.UTC
		}
	}
	// The shortest gap among the slots of a year bounds the jitter; a spec without
	// two slots in a few years (February 30th) is a mistake.
	from := time.Date(2001, time.January, 1, 0, 0, 0, 0, time.UTC)
	prev := spec.Next(from)
	for range 64 {
		next := spec.Next(prev)
		if next.IsZero() {
			break
		}
		if gap := next.Sub(prev); spec.interval == 0 || gap < spec.interval {
			spec.interval = gap
		}
		prev = next
	}
	if spec.interval == 0 {
		return Spec{}, fmt.Errorf("%w %q: it never fires", ErrBadSpec, text)
	}
	return spec, nil
}

func cutTZ(text string) (string, bool) {
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(text, prefix); ok {
			return rest, true
		}
	}
	return text, false
}

// String returns the spec as written.
func (s Spec) String() string { return s.text }

// Interval is the shortest gap between two slots.
func (s Spec) Interval() time.Duration { return s.interval }

// Next returns the first slot strictly after t, in UTC; zero if there is none.
func (s Spec) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.UTC().Truncate(s.every).Add(s.every)
	}
	if s.cron == nil {
		return time.Time{}
	}
	next := s.cron.Next(t)
	if next.IsZero() {
		return next
	}
	return next.UTC()
}

// maxCatchUp bounds the slots latest steps over for a cron spec; beyond it the rest of
// a very long downtime is caught up by the next tick, as another run.
const maxCatchUp = 100_000

// latest returns the last slot, starting from from (a slot), whose due time (slot plus
// jitter) is at or before now, and how many slots before it are folded into its run.
// A server that was down for several slots runs the last of them once.
func (s Spec) latest(from time.Time, jitter time.Duration, now time.Time) (slot time.Time, missed int) {
	horizon := now.Add(-jitter)
	if s.every > 0 {
		if horizon.Before(from) {
			return from, 0
		}
		n := horizon.Sub(from) / s.every
		return from.Add(n * s.every), int(n)
	}
	slot = from
	for missed < maxCatchUp {
		next := s.Next(slot)
		if next.IsZero() || next.After(horizon) {
			break
		}
		slot = next
		missed++
	}
	return slot, missed
}

// Jitter is the stable offset of a per-account schedule row from its slots: a hash of
// the schedule's name, the account and the mode, within min(Interval/10, window). So
// 10,000 accounts on an hourly schedule are spread over the window instead of calling
// Stripe in the same second, and each account runs at the same offset every time.
// Platform schedules have none.
func Jitter(spec Spec, key store.ScheduleKey, window time.Duration) time.Duration {
	if key.AccountID == "" {
		return 0
	}
	window = min(window, spec.interval/10)
	if window < time.Millisecond {
		return 0
	}
	h := fnv.New64a()
	mode := "test"
	if key.Livemode {
		mode = "live"
	}
	for _, part := range []string{key.Name, key.AccountID, mode} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return time.Duration(h.Sum64()%uint64(window/time.Millisecond)) * time.Millisecond
}
