package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/admin"
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
			if res.status != 200 {
				t.Fatalf("status %d", res.status)
			}
			if !strings.Contains(res.body, tc.want) {
				t.Fatalf("page lacks %q", tc.want)
			}
			if got := strings.Contains(res.body, `class="backup stale"`); got != tc.wantStale {
				t.Fatalf("stale = %v, want %v", got, tc.wantStale)
			}
		})
	}
	b := setup(t)
	res := b.do(t, request{method: "GET", path: "/admin/events", cookie: b.login(t)})
	if strings.Contains(res.body, "Last backup") {
		t.Fatal("backups off, yet the footer mentions them")
	}
}
