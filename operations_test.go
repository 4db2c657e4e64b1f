package appbackend_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
)

// TestOperationalReadings: /metrics has what the alerting rules read beside the
// counters: the pause flag and, with scheduled backups, when the latest one was
// written and how often one should be.
func TestOperationalReadings(t *testing.T) {
	t.Parallel()
	b := setupWith(t, func(c *appbackend.Config) {
		c.Production.BackupDir = t.TempDir()
		c.Production.BackupEvery = 2 * time.Hour
	}, func(*appbackend.App) {})
	start := time.Now()
	m := scrape(t, b)
	require.Contains(t, m, "\nappbackend_events_paused 0\n")
	require.Contains(t, m, "\nappbackend_backup_interval_seconds 7200\n")

	// The first scheduled backup runs at start.
	last := regexp.MustCompile(`\nappbackend_backup_last_success_timestamp_seconds (\S+)\n`)
	var got []string
	require.Eventually(t, func() bool {
		got = last.FindStringSubmatch(scrape(t, b))
		return got != nil
	}, 30*time.Second, 50*time.Millisecond, "no appbackend_backup_last_success_timestamp_seconds after the first backup")
	at, err := strconv.ParseFloat(got[1], 64)
	require.NoError(t, err)
	require.InDelta(t, float64(start.Unix()), at, 60, "the backup's time")
}
