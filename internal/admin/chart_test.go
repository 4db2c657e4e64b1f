package admin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/stretchr/testify/require"
)

func TestNiceCeiling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, want int }{
		{0, 2}, {1, 2}, {2, 2}, {3, 4}, {5, 6}, {7, 10}, {11, 20}, {41, 60}, {61, 100}, {999, 1000}, {1001, 2000},
	} {
		got := niceCeiling(tc.n)
		require.Equal(t, tc.want, got, "niceCeiling(%d) = %d, want %d", tc.n, got, tc.want)
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
	require.Len(t, days, ChartDays, "%d days, want %d", len(days), ChartDays)
	first, last := days[0].Date, days[ChartDays-1].Date
	require.True(t, last.Equal(time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)), "days run from %s to %s, want 30 days ending today", first, last)
	require.True(t, first.Equal(last.AddDate(0, 0, -(ChartDays-1))), "days run from %s to %s, want 30 days ending today", first, last)
	got := days[ChartDays-1]
	require.Equal(t, 2, got.Installs, "today = %+v, want 2 installs", got)
	require.Equal(t, 0, got.Uninstalls, "today = %+v, want 2 installs", got)
	got = days[ChartDays-4]
	require.Equal(t, 1, got.Uninstalls, "3 days ago = %+v, want 1 uninstall", got)
	got = days[0]
	require.Equal(t, 1, got.Installs, "29 days ago = %+v, want 1 install", got)

	c := buildChart(days)
	require.Equal(t, 4, c.TotalInstalls, "totals %d/%d, want 4 installs, 1 uninstall", c.TotalInstalls, c.TotalUninstalls)
	require.Equal(t, 1, c.TotalUninstalls, "totals %d/%d, want 4 installs, 1 uninstall", c.TotalInstalls, c.TotalUninstalls)
	if len(c.Bars) != 4 { // today, 10 days ago, 29 days ago, and the uninstall
		require.FailNow(t, fmt.Sprintf("%d bars, want 4", len(c.Bars)))
	}
	var tallest chartRect
	for _, b := range c.Bars {
		if b.H > tallest.H {
			tallest = b
		}
		require.False(t, b.Y < chartTop || b.Y+b.H > chartHeight-chartBottom+0.001 || b.X < chartLeft || b.X+b.W > chartWidth-chartRight, "bar %+v is outside the plot", b)
	}
	require.Equal(t, "Mar 30: 2 installs", tallest.Title, "tallest bar = %+v, want today's 2 installs", tallest)
	require.Equal(t, "bar-install", tallest.Class, "tallest bar = %+v, want today's 2 installs", tallest)
	require.Contains(t, c.Summary, "4 installs, 1 uninstall.", "summary = %q", c.Summary)
	var yLabels []string
	for _, l := range c.Labels {
		if l.Anchor == "end" {
			yLabels = append(yLabels, l.Text)
		}
	}
	require.Equal(t, "0,1,2", strings.Join(yLabels, ","), "y labels %v, want 0,1,2", yLabels)
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
		got := since(now, now.Add(-tc.ago))
		require.Equal(t, tc.want, got, "since(%v ago) = %q, want %q", tc.ago, got, tc.want)
	}
	got := since(now, time.Time{})
	require.Equal(t, "never", got, "since(zero) = %q, want never", got)
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
		got := tc.key.valid(tc.value, tc.at)
		require.True(t, got == tc.want, "%s: valid = %v, want %v", tc.name, got, tc.want)
	}
}
