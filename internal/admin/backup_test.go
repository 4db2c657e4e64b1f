package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/stretchr/testify/require"
)

// TestFooterShowsLastBackup: with scheduled backups on, every page says when the last
// one was written, marked stale after two intervals.
func TestFooterShowsLastBackup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		age       time.Duration
		ok        bool
		want      string
		wantStale bool
	}{
		{name: "recent", age: 3 * time.Hour, ok: true, want: "Last backup: 3 h ago (appbackend-x.db)"},
		{name: "stale", age: 72 * time.Hour, ok: true, want: "Last backup: 3 days ago", wantStale: true},
		{name: "none", ok: false, want: "Last backup: none yet", wantStale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *admin.Config) {
				c.BackupEvery = 24 * time.Hour
				c.LastBackup = func(context.Context) (time.Time, string, bool, error) {
					return time.Now().Add(-tc.age), "appbackend-x.db", tc.ok, nil
				}
			})
			res := b.do(t, request{method: "GET", path: "/admin/events", cookie: b.login(t)})
			require.Equal(t, 200, res.status, "status %d", res.status)
			require.Contains(t, res.body, tc.want, "page lacks %q", tc.want)
			got := strings.Contains(res.body, `class="backup stale"`)
			require.True(t, got == tc.wantStale, "stale = %v, want %v", got, tc.wantStale)
		})
	}
	b := setup(t)
	res := b.do(t, request{method: "GET", path: "/admin/events", cookie: b.login(t)})
	require.NotContains(t, res.body, "Last backup", "backups off, yet the footer mentions them")
}
