package runtime

import (
	"time"

	"github.com/riverqueue/river"
)

// riverCompletedRetention is River's own default for completed and cancelled jobs,
// which a longer retention does not extend: a finished job row only repeats what its
// events' rows say, and there is one per job run (events, schedule runs, app jobs).
const riverCompletedRetention = 24 * time.Hour

// setJobRetention sets River's retention of finished jobs from
// Config.JobRetention (APPBACKEND_PROCESSED_RETENTION): completed and cancelled jobs go after the shorter of
// the retention and River's default (24h), discarded ones, whose errors explain a
// dead event, after the retention, as the dead events themselves. River's job cleaner
// deletes them every 30s, in its own batches; zero leaves River's defaults.
func setJobRetention(c *river.Config, retention time.Duration) {
	if retention <= 0 {
		return
	}
	c.CompletedJobRetentionPeriod = min(retention, riverCompletedRetention)
	c.CancelledJobRetentionPeriod = min(retention, riverCompletedRetention)
	c.DiscardedJobRetentionPeriod = retention
}
