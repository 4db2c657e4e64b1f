package schedule

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
)

var base = time.Date(2026, time.March, 2, 10, 30, 0, 0, time.UTC) // a Monday

func at(hhmm string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", "2026-03-02 "+hhmm)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseSpec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec     string
		interval time.Duration
		from     time.Time
		next     time.Time
	}{
		{"@every 5s", 5 * time.Second, at("10:30:02"), at("10:30:05")},
		{"@every 1h", time.Hour, at("10:30:00"), at("11:00:00")},
		{"@every 1h", time.Hour, at("11:00:00"), at("12:00:00")}, // strictly after
		{"@every 90m", 90 * time.Minute, at("10:30:00"), at("10:30:00").Truncate(90 * time.Minute).Add(90 * time.Minute)},
		{"@hourly", time.Hour, at("10:30:00"), at("11:00:00")},
		{"@daily", 24 * time.Hour, at("10:30:00"), base.Truncate(24 * time.Hour).Add(24 * time.Hour)},
		{"*/15 * * * *", 15 * time.Minute, at("10:31:00"), at("10:45:00")},
		{"0 9 * * 1-5", 24 * time.Hour, at("10:30:00"), at("09:00:00").Add(24 * time.Hour)},
		{"*/10 * * * * *", 10 * time.Second, at("10:30:01"), at("10:30:10")},                // seconds first
		{"CRON_TZ=Europe/Paris 0 12 * * *", 24 * time.Hour, at("10:30:00"), at("11:00:00")}, // noon in Paris is 11:00 UTC in March
		{"  @every 2m  ", 2 * time.Minute, at("10:30:00"), at("10:32:00")},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			spec, err := ParseSpec(tc.spec)
			require.NoError(t, err)
			require.Equal(t, tc.interval, spec.Interval())
			got := spec.Next(tc.from)
			require.True(t, got.Equal(tc.next), "Next(%v) = %v, want %v", tc.from, got, tc.next)
			require.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestParseSpecRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec, want string
	}{
		{"", "empty"},
		{"@every", "want a cron expression"},
		{"@every 500ms", "at least 1s"},
		{"@every 1500ms", "whole number of seconds"},
		{"@every soon", "not a duration"},
		{"61 * * * *", "want a cron expression"},
		{"* * *", "want a cron expression"},
		{"0 0 30 2 *", "never fires"},
		{"@fortnightly", "want a cron expression"},
		{"CRON_TZ=Nowhere/Special 0 * * * *", "want a cron expression"},
		{"CRON_TZ=UTC", "must be followed by a schedule"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			_, err := ParseSpec(tc.spec)
			require.ErrorIs(t, err, ErrBadSpec)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"@every 5s", "@hourly", "0 9 * * 1-5", "*/10 * * * * *", "CRON_TZ=Europe/Paris 0 12 * * *", "TZ=", "CRON_TZ=x", "@every -1s", "0-59/0 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		spec, err := ParseSpec(text)
		if err != nil {
			require.ErrorIs(t, err, ErrBadSpec)
			return
		}
		require.Positive(t, spec.Interval(), "%q: interval", text)
		next := spec.Next(base)
		require.True(t, next.After(base), "%q: Next(%v) = %v, not after", text, base, next)
	})
}

func TestLatest(t *testing.T) {
	t.Parallel()
	hourly, _ := ParseSpec("@every 1h")
	cronHourly, _ := ParseSpec("0 * * * *")
	for _, tc := range []struct {
		name       string
		spec       Spec
		from       time.Time
		jitter     time.Duration
		now        time.Time
		wantSlot   time.Time
		wantMissed int
	}{
		{"on time", hourly, at("11:00:00"), 0, at("11:00:01"), at("11:00:00"), 0},
		{"down three slots", hourly, at("11:00:00"), 0, at("13:10:00"), at("13:00:00"), 2},
		{"cron, down three slots", cronHourly, at("11:00:00"), 0, at("13:10:00"), at("13:00:00"), 2},
		{"the last slot's jitter has not passed", hourly, at("11:00:00"), 5 * time.Minute, at("13:04:00"), at("12:00:00"), 1},
		{"cron, jitter", cronHourly, at("11:00:00"), 5 * time.Minute, at("13:05:00"), at("13:00:00"), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			slot, missed := tc.spec.latest(tc.from, tc.jitter, tc.now)
			require.True(t, slot.Equal(tc.wantSlot), "latest = %v, want %v", slot, tc.wantSlot)
			require.Equal(t, tc.wantMissed, missed)
		})
	}
}

func TestJitter(t *testing.T) {
	t.Parallel()
	hourly, _ := ParseSpec("@hourly")
	every10s, _ := ParseSpec("@every 10s")
	key := store.ScheduleKey{Name: "refresh", AccountID: "acct_1", Livemode: true}

	require.Zero(t, Jitter(hourly, store.ScheduleKey{Name: "refresh"}, DefaultMaxJitter), "platform schedule jitter")
	require.Equal(t, Jitter(hourly, key, DefaultMaxJitter), Jitter(hourly, key, DefaultMaxJitter), "jitter is stable")
	require.Zero(t, Jitter(hourly, key, 0), "jitter with a zero window")
	other := key
	other.Livemode = false
	if Jitter(hourly, key, DefaultMaxJitter) == Jitter(hourly, other, DefaultMaxJitter) {
		t.Log("live and test rows share an offset (possible, but unlikely)")
	}

	for _, tc := range []struct {
		spec   Spec
		window time.Duration
	}{
		{hourly, DefaultMaxJitter},   // min(6m, 5m)
		{every10s, time.Second},      // a tenth of the interval
		{hourly, 30 * time.Second},   // a smaller cap
		{every10s, DefaultMaxJitter}, // the interval wins
	} {
		seconds := map[int64]int{}
		for i := range 10_000 {
			k := store.ScheduleKey{Name: "refresh", AccountID: fmt.Sprintf("acct_%d", i), Livemode: i%2 == 0}
			j := Jitter(tc.spec, k, tc.window)
			require.True(t, j >= 0 && j < min(tc.window, tc.spec.Interval()/10), "%s window %v: jitter %v out of range", tc.spec, tc.window, j)
			seconds[int64(j/time.Second)]++
		}
		// Spread: no second of the window holds more than three times its share.
		windowSeconds := max(1, int(min(tc.window, tc.spec.Interval()/10)/time.Second))
		for s, n := range seconds {
			require.LessOrEqual(t, n, 3*10_000/windowSeconds, "%s window %v: accounts in second %d", tc.spec, tc.window, s)
		}
	}
}

func TestSetRejects(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, Run) error { return nil }
	set := NewSet()
	require.NoError(t, set.Every("@hourly", "report", noop))
	for _, tc := range []struct {
		name    string
		add     func() error
		wantErr error
		wantMsg string
	}{
		{"duplicate", func() error { return set.EveryAccount("@daily", "report", noop) }, ErrDuplicate, `"report" is already registered`},
		{"bad spec", func() error { return set.Every("every hour", "hourly", noop) }, ErrBadSpec, `schedule "hourly": invalid schedule spec "every hour"`},
		{"empty name", func() error { return set.Every("@hourly", "", noop) }, ErrBadName, "empty"},
		{"bad characters", func() error { return set.Every("@hourly", "my report", noop) }, ErrBadName, "letters, digits"},
		{"reserved prefix", func() error { return set.Every("@hourly", "appbackend.reconcile", noop) }, ErrBadName, "reserved"},
		{"too long", func() error { return set.Every("@hourly", strings.Repeat("x", 101), noop) }, ErrBadName, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.add()
			require.ErrorIs(t, err, tc.wantErr)
			require.ErrorContains(t, err, tc.wantMsg)
		})
	}
	require.Error(t, set.Every("@hourly", "nil.handler", nil), "nil handler accepted")
	require.Equal(t, []string{"report"}, set.Names(), "a rejected schedule must not be registered")
}

func TestDueRuns(t *testing.T) {
	t.Parallel()
	s := New(nil, nil, Config{}) // a one-second tick: slots up to 5 s late run one by one
	everySecond, _ := ParseSpec("@every 1s")
	hourly, _ := ParseSpec("@hourly")
	slots := func(runs []RunArgs) (out []string) {
		for _, r := range runs {
			out = append(out, fmt.Sprintf("%s+%d", r.Slot.Format("15:04:05"), r.Missed))
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		spec     Spec
		next     time.Time
		jitter   time.Duration
		now      time.Time
		want     []string
		wantNext time.Time
	}{
		{"on time", everySecond, at("10:00:01"), 0, at("10:00:01"), []string{"10:00:01+0"}, at("10:00:02")},
		{"a few ticks late: each slot runs", everySecond, at("10:00:01"), 0, at("10:00:03"),
			[]string{"10:00:01+0", "10:00:02+0", "10:00:03+0"}, at("10:00:04")},
		{"down for a while: the old slots fold, the recent ones run", everySecond, at("10:00:01"), 0, at("10:00:20"),
			[]string{"10:00:15+14", "10:00:16+0", "10:00:17+0", "10:00:18+0", "10:00:19+0", "10:00:20+0"}, at("10:00:21")},
		{"down for hours: one run", hourly, at("11:00:00"), 0, at("13:10:00"), []string{"13:00:00+2"}, at("14:00:00")},
		{"jitter delays the due time", hourly, at("11:00:00"), 3 * time.Minute, at("13:02:00"), []string{"12:00:00+1"}, at("13:00:00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			row := store.Schedule{ScheduleKey: store.ScheduleKey{Name: "s"}, NextSlot: tc.next}
			runs, next := s.dueRuns(tc.spec, row, tc.jitter, tc.now)
			require.Equal(t, tc.want, slots(runs))
			require.True(t, next.Equal(tc.wantNext), "next %v, want %v", next.Format("15:04:05"), tc.wantNext.Format("15:04:05"))
		})
	}
}
