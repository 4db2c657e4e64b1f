package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/stretchr/testify/require"
)

// withProcessor wires the dashboard's bulk operations to a real event processor on
// the seeded store, never started: a replay enqueues jobs and a pause sets River's
// queue flag, as the CLI does against a running server's database.
func withProcessor(t *testing.T, b **events.Processor) option {
	return func(c *admin.Config) {
		st := c.Store.(store.Store)
		rt := runtime.New(runtime.Config{})
		rt.Open(st)
		p, err := events.New(rt, events.Config{})
		require.NoError(t, err)
		require.NoError(t, rt.Build())
		*b = p
		c.Operations = admin.Operations{
			ReplayMatching: func(ctx context.Context, f store.EventFilter) (int, error) { return p.ReplayMatching(ctx, f, nil) },
			Pause:          p.Pause, Resume: p.Resume, PauseState: p.PauseState,
		}
	}
}

func (b *testBundle) postJSON(t *testing.T, path, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: string(data), resp: res}
}

func TestAPIBulkReplay(t *testing.T) {
	t.Parallel()
	var p *events.Processor
	b := setup(t, withProcessor(t, &p))
	ctx := t.Context()

	for _, tc := range []struct{ body, want string }{
		{`{"status":"pending"}`, `status \"pending\": want dead or failed`},
		{`{"status":"processed"}`, `want dead or failed`},
		{`{}`, `want dead or failed`},
		{`{"status":"dead","since":"yesterday"}`, `since \"yesterday\"`},
		{`{"status":"dead","limit":3}`, `unknown field`},
		{``, `empty body`},
	} {
		res := b.postJSON(t, "/admin/api/events/replay", tc.body)
		require.False(t, res.status != http.StatusBadRequest || !strings.Contains(res.body, `"code":"bad_request"`) || !strings.Contains(res.body, tc.want), "POST %s = %d %s, want 400 bad_request mentioning %q", tc.body, res.status, res.body, tc.want)
	}
	ev, _ := b.st.Event(ctx, deadEventID)
	require.Equal(t, store.EventDead, ev.Status, "a refused replay changed the dead event: %s", ev.Status)

	// A dry run counts and changes nothing; the filters narrow the count.
	for body, want := range map[string]int{
		`{"status":"dead","dry_run":true}`:                                  1,
		`{"status":"dead","type":"invoice.paid","dry_run":true}`:            0,
		`{"status":"dead","account":"acct_1RyeCrumbBakery","dry_run":true}`: 1,
		`{"status":"dead","since":"1h","dry_run":true}`:                     0, // it arrived 26 h ago
		`{"status":"failed","since":"3h","dry_run":true}`:                   1,
	} {
		res := b.postJSON(t, "/admin/api/events/replay", body)
		var got struct {
			Count  int  `json:"count"`
			DryRun bool `json:"dry_run"`
		}
		require.False(t, res.status != http.StatusOK || json.Unmarshal([]byte(res.body), &got) != nil || got.Count != want, "POST %s = %d %s, want 200 count %d dry_run true", body, res.status, res.body, want)
		require.True(t, got.DryRun, "POST %s = %d %s, want 200 count %d dry_run true", body, res.status, res.body, want)
	}
	if ev, _ := b.st.Event(ctx, deadEventID); ev.Status != store.EventDead {
		require.FailNow(t, fmt.Sprintf("a dry run changed the dead event: %s", ev.Status))
	}

	res := b.postJSON(t, "/admin/api/events/replay", `{"status":"dead","since":"48h"}`)
	require.False(t, res.status != http.StatusOK || !strings.Contains(res.body, `"count":1`) || !strings.Contains(res.body, `"dry_run":false`), "replay = %d %s, want 200 count 1", res.status, res.body)
	if ev, _ := b.st.Event(ctx, deadEventID); ev.Status != store.EventPending {
		require.FailNow(t, fmt.Sprintf("after the replay the dead event is %s, want pending", ev.Status))
	}
	if ev, _ := b.st.Event(ctx, failedEventID); ev.Status != store.EventFailed {
		require.FailNow(t, fmt.Sprintf("a replay of the dead also moved the failed event: %s", ev.Status))
	}
	var jobs int
	require.NoError(t, b.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE queue = ? AND json(args) LIKE ?`, events.Queue, "%"+deadEventID+"%").Scan(&jobs))
	require.Equal(t, 1, jobs, "%d processing jobs for the replayed event, want 1", jobs)
}

func TestDashboardBulkReplayConfirmsTheCount(t *testing.T) {
	t.Parallel()
	var p *events.Processor
	b := setup(t, withProcessor(t, &p))
	cookie := b.login(t)
	page := b.do(t, request{method: "GET", path: "/admin/events?status=dead", cookie: cookie})
	require.Contains(t, page.body, `id="bulk-replay"`, "the dead tab has no bulk replay form:\n%s", page.body)
	form := url.Values{"status": {"dead"}, "type": {""}, "account": {""}, "since": {""}}
	confirm := b.do(t, request{method: "POST", path: "/admin/events/replay", form: form, cookie: cookie})
	require.False(t, confirm.status != http.StatusOK || !strings.Contains(confirm.body, "<strong>1</strong> dead event matches") || !strings.Contains(confirm.body, `id="confirm-replay"`), "confirmation page = %d, want the count and a confirm button:\n%s", confirm.status, confirm.body)
	ev, _ := b.st.Event(t.Context(), deadEventID)
	require.Equal(t, store.EventDead, ev.Status, "asking for the count replayed the event: %s", ev.Status)
	form.Set("confirm", "1")
	done := b.do(t, request{method: "POST", path: "/admin/events/replay", form: form, cookie: cookie})
	if done.status != http.StatusSeeOther || !strings.Contains(done.header.Get("Location"), "replayed=1") {
		require.FailNow(t, fmt.Sprintf("confirmed replay = %d %s, want 303 to the events page", done.status, done.header.Get("Location")))
	}
	if ev, _ := b.st.Event(t.Context(), deadEventID); ev.Status != store.EventPending {
		require.FailNow(t, fmt.Sprintf("after the confirmed replay the event is %s, want pending", ev.Status))
	}
	after := b.do(t, request{method: "GET", path: done.header.Get("Location"), cookie: cookie})
	require.Contains(t, after.body, "Replay queued for 1 event", "the events page does not say what was replayed:\n%s", after.body)
	bad := b.do(t, request{method: "POST", path: "/admin/events/replay", form: url.Values{"status": {"processed"}}, cookie: cookie})
	require.Equal(t, http.StatusBadRequest, bad.status, "bulk replay of processed events = %d, want 400", bad.status)
}

func TestPauseAndResume(t *testing.T) {
	t.Parallel()
	var p *events.Processor
	b := setup(t, withProcessor(t, &p))
	state := func() string {
		return b.do(t, request{method: "GET", path: "/admin/api/processing", bearer: testToken}).body
	}
	got := state()
	require.Contains(t, got, `"paused":false`, "processing before a pause = %s", got)
	res := b.postJSON(t, "/admin/api/events/pause", ``)
	require.False(t, res.status != http.StatusOK || !strings.Contains(res.body, `"paused":true`) || strings.Contains(res.body, `"paused_at":null`), "pause = %d %s, want paused with its time", res.status, res.body)
	_, paused, err := events.PauseState(t.Context(), b.st)
	require.NoError(t, err, "the database does not hold the pause: %v", paused)
	require.True(t, paused, "the database does not hold the pause: %v %v", paused, err)
	cookie := b.login(t)
	for _, path := range []string{"/admin/", "/admin/events", "/admin/jobs"} {
		page := b.do(t, request{method: "GET", path: path, cookie: cookie})
		require.Contains(t, page.body, `id="paused"`, "%s does not show the pause", path)
		require.Contains(t, page.body, "Event processing is paused", "%s does not show the pause", path)
	}
	if page := b.do(t, request{method: "GET", path: "/admin/events", cookie: cookie}); !strings.Contains(page.body, `id="resume"`) {
		require.FailNow(t, "the events page has no resume button while paused")
	}
	res = b.do(t, request{method: "POST", path: "/admin/events/resume", cookie: cookie, form: url.Values{}})
	require.Equal(t, http.StatusSeeOther, res.status, "resume form = %d", res.status)
	got = state()
	require.Contains(t, got, `"paused":false`, "processing after resume = %s", got)
	page := b.do(t, request{method: "GET", path: "/admin/events", cookie: cookie})
	require.NotContains(t, page.body, `id="paused"`, "after resume the page still shows the pause or has no pause button")
	require.Contains(t, page.body, `id="pause"`, "after resume the page still shows the pause or has no pause button")
}
