package events

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
)

// River keeps finished jobs no longer than the retention, and completed ones no
// longer than its own default either; zero leaves River's defaults.
func TestSetJobRetention(t *testing.T) {
	for _, tc := range []struct {
		retention, completed, discarded time.Duration
	}{
		{2 * time.Second, 2 * time.Second, 2 * time.Second},
		{720 * time.Hour, 24 * time.Hour, 720 * time.Hour},
		{0, 0, 0},
	} {
		var c river.Config
		setJobRetention(&c, tc.retention)
		if c.CompletedJobRetentionPeriod != tc.completed || c.CancelledJobRetentionPeriod != tc.completed || c.DiscardedJobRetentionPeriod != tc.discarded {
			t.Errorf("retention %s: completed %s, cancelled %s, discarded %s; want %s, %s, %s", tc.retention,
				c.CompletedJobRetentionPeriod, c.CancelledJobRetentionPeriod, c.DiscardedJobRetentionPeriod, tc.completed, tc.completed, tc.discarded)
		}
	}
	if got := pruneEvery(2 * time.Second); got != 500*time.Millisecond {
		t.Errorf("a 2s retention is pruned every %s, want 500ms", got)
	}
	if got := pruneEvery(720 * time.Hour); got != time.Minute {
		t.Errorf("the default retention is pruned every %s, want 1m", got)
	}
}
