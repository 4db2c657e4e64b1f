package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
)

func TestNiceCeiling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, want int }{
		{0, 2}, {1, 2}, {2, 2}, {3, 4}, {5, 6}, {7, 10}, {11, 20}, {41, 60}, {61, 100}, {999, 1000}, {1001, 2000},
	} {
		if got := niceCeiling(tc.n); got != tc.want {
			t.Errorf("niceCeiling(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestDailyCountsAndChart(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 30, 15, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	ins := []store.Installation{
		{AccountID: "a", Status: store.Installed, InstalledAt: now.Add(-time.Hour)},                                    // today
		{AccountID: "b", Status: store.Installed, InstalledAt: now.Add(-2 * time.Hour)},                                // today
		{AccountID: "c", Status: store.Uninstalled, InstalledAt: now.Add(-10 * day), UninstalledAt: now.Add(-3 * day)}, // both in range
		{AccountID: "d", Status: store.Installed, InstalledAt: now.Add(-40 * day)},                                     // before the chart
		{AccountID: "e", Status: store.Installed, InstalledAt: now.Add(-29 * day), UninstalledAt: now.Add(-5 * day)},   // reinstalled: the old uninstall is not current
	}
	days := dailyCounts(ins, now)
	if len(days) != ChartDays {
		t.Fatalf("%d days, want %d", len(days), ChartDays)
	}
	if first, last := days[0].Date, days[ChartDays-1].Date; !last.Equal(time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)) || !first.Equal(last.AddDate(0, 0, -(ChartDays-1))) {
		t.Errorf("days run from %s to %s, want 30 days ending today", first, last)
	}
	if got := days[ChartDays-1]; got.Installs != 2 || got.Uninstalls != 0 {
		t.Errorf("today = %+v, want 2 installs", got)
	}
	if got := days[ChartDays-4]; got.Uninstalls != 1 {
		t.Errorf("3 days ago = %+v, want 1 uninstall", got)
	}
	if got := days[0]; got.Installs != 1 {
		t.Errorf("29 days ago = %+v, want 1 install", got)
	}

	c := buildChart(days)
	if c.TotalInstalls != 4 || c.TotalUninstalls != 1 {
		t.Errorf("totals %d/%d, want 4 installs, 1 uninstall", c.TotalInstalls, c.TotalUninstalls)
	}
	if len(c.Bars) != 4 { // today, 10 days ago, 29 days ago, and the uninstall
		t.Errorf("%d bars, want 4", len(c.Bars))
	}
	var tallest chartRect
	for _, b := range c.Bars {
		if b.H > tallest.H {
			tallest = b
		}
		if b.Y < chartTop || b.Y+b.H > chartHeight-chartBottom+0.001 || b.X < chartLeft || b.X+b.W > chartWidth-chartRight {
			t.Errorf("bar %+v is outside the plot", b)
		}
	}
	if tallest.Title != "Mar 30: 2 installs" || tallest.Class != "bar-install" {
		t.Errorf("tallest bar = %+v, want today's 2 installs", tallest)
	}
	if !strings.Contains(c.Summary, "4 installs, 1 uninstall.") {
		t.Errorf("summary = %q", c.Summary)
	}
	var yLabels []string
	for _, l := range c.Labels {
		if l.Anchor == "end" {
			yLabels = append(yLabels, l.Text)
		}
	}
	if strings.Join(yLabels, ",") != "0,1,2" {
		t.Errorf("y labels %v, want 0,1,2", yLabels)
	}
}

func TestSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 30, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{10 * time.Second, "just now"}, {5 * time.Minute, "5 min ago"}, {3 * time.Hour, "3 h ago"}, {72 * time.Hour, "3 days ago"},
	} {
		if got := since(now, now.Add(-tc.ago)); got != tc.want {
			t.Errorf("since(%v ago) = %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := since(now, time.Time{}); got != "never" {
		t.Errorf("since(zero) = %q, want never", got)
	}
}

func TestSessionValues(t *testing.T) {
	t.Parallel()
	now := time.Now()
	k := newSessionKey("token-one-0123456789")
	v := k.issue(now.Add(time.Hour))
	for _, tc := range []struct {
		name  string
		key   sessionKey
		value string
		at    time.Time
		want  bool
	}{
		{"fresh", k, v, now, true},
		{"expired", k, v, now.Add(time.Hour), false},
		{"other token", newSessionKey("token-two-0123456789"), v, now, false},
		{"longer expiry, same mac", k, strings.Replace(v, "v1.", "v1.9", 1), now, false},
		{"empty", k, "", now, false},
		{"no mac", k, "v1.99999999999", now, false},
	} {
		if got := tc.key.valid(tc.value, tc.at); got != tc.want {
			t.Errorf("%s: valid = %v, want %v", tc.name, got, tc.want)
		}
	}
}
