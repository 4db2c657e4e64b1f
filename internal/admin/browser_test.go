package admin_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"riverqueue.com/riverui"

	"github.com/appbackend/appbackend/internal/admin"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
)

// chromiumPath is where Debian's chromium package puts the browser; `make test`
// installs it with scripts/chromium.sh.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserDashboard drives Chromium through the dashboard as an operator would:
// it signs in with the form, sees the chart and the tables with the seeded data, and
// replays a dead event, which a real event processor on the same database then
// processes. Screenshots are kept in artifacts/.
func TestBrowserDashboard(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		require.FailNow(t, fmt.Sprintf("%s is missing: run make test (scripts/chromium.sh installs chromium)", chromiumPath))
	}
	// Seeded as of 23:00 UTC yesterday, not now: the seed spreads its times over days and
	// hours back from it, and from some hours of the day two uninstalls would fall on one
	// day of the chart.
	st := openSeededStore(t, time.Now().UTC().Truncate(24*time.Hour).Add(-time.Hour))
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	rt := runtime.New(runtime.Config{Archetype: &baseservice.Archetype{Logger: logger}, PollInterval: 50 * time.Millisecond})
	rt.Open(st)
	proc, err := events.New(rt, events.Config{})
	require.NoError(t, err)
	require.NoError(t, rt.Build())
	require.NoError(t, rt.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Stop(ctx)
	})
	riverUI, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(rt.River(), nil), Logger: logger, Prefix: "/admin/river"})
	require.NoError(t, err)
	require.NoError(t, riverUI.Start(t.Context()))
	h, err := admin.New(admin.Config{Token: testToken, Store: st, Replay: proc.Replay, Jobs: rt.River(), RiverUI: riverUI, Archetype: &baseservice.Archetype{Logger: logger}})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first Run starts the browser; it lives as long as browser, so the overall
	// bound goes on each step's context instead.
	require.NoError(t, chromedp.Do(browser), "start chromium")
	deadline := time.Now().Add(90 * time.Second)
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithDeadline(browser, deadline)
		defer cancel()
		require.NoError(t, chromedp.Do(ctx, steps...), "%s", what)
	}
	value := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		ctx, cancel := context.WithDeadline(browser, deadline)
		defer cancel()
		v, err := chromedp.Run(ctx, a)
		require.NoError(t, err, "%s", what)
		return v
	}
	count := func(selector string) int {
		t.Helper()
		ctx, cancel := context.WithDeadline(browser, deadline)
		defer cancel()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(selector)+").length"))
		require.NoError(t, err, "count %s", selector)
		return n
	}
	artifacts := artifactsDir(t)
	screenshot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithDeadline(browser, deadline)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err, "screenshot %s", name)
		path := filepath.Join(artifacts, name)
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s", path)
	}
	pageHTML := func() string { return value("read the page", chromedp.OuterHTML(chromedp.CSS("html"))) }

	// Sign in through the form.
	step("open the dashboard", chromedp.Navigate(srv.URL+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)))
	screenshot("admin-login.png")
	step("sign in",
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), testToken),
		chromedp.Click(chromedp.CSS(`form[action="/admin/login"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#installs-chart")),
	)

	// The chart and the accounts.
	n := count("#installs-chart rect.bar-install")
	require.GreaterOrEqual(t, n, 8, "the chart shows %d install bars, want one per install day (at least 8)", n)
	n = count("#installs-chart rect.bar-uninstall")
	require.Equal(t, 4, n, "the chart shows %d uninstall bars, want 4", n)
	n = count("#installations tbody tr")
	require.Equal(t, len(seedAccounts), n, "the accounts table has %d rows, want %d", n, len(seedAccounts))
	table := value("read the accounts", chromedp.Text(chromedp.CSS("#installations")))
	for _, want := range []string{"Corner Bookshop", "Rye & Crumb Bakery", "acct_1GardenSupply", "invoice.payment_failed"} {
		require.Contains(t, table, want, "the accounts table lacks %q", want)
	}
	got := value("read live installs", chromedp.Text(chromedp.CSS("#active-live")))
	require.Equal(t, "7", got, "active live installs = %q, want 7", got)
	screenshot("admin-installations.png")

	// Search the accounts without any script: a GET form.
	step("search accounts",
		chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "bakery"),
		chromedp.Click(chromedp.CSS(`form[role="search"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="q"][value="bakery"]`)),
	)
	n = count("#installations tbody tr")
	require.Equal(t, 1, n, "searching for bakery left %d rows, want 1", n)

	// Find the dead event and replay it.
	step("list dead events",
		chromedp.Navigate(srv.URL+"/admin/events?status=dead"),
		chromedp.WaitVisible(chromedp.CSS("#events")),
	)
	screenshot("admin-events.png")
	step("open the dead event",
		chromedp.Click(chromedp.CSS(`#events a[href="/admin/events/`+deadEventID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#replay")),
	)
	got = value("read the status", chromedp.Text(chromedp.CSS("#event-status")))
	require.Equal(t, "dead", got, "the event's status = %q, want dead", got)
	got = value("read the error", chromedp.Text(chromedp.CSS("#event-error")))
	require.Equal(t, deadError, got, "the event's last error = %q, want %q", got, deadError)
	step("replay", chromedp.Click(chromedp.CSS("#replay")), chromedp.WaitVisible(chromedp.CSS(".flash")))

	// The page refreshes itself while the event is pending; wait for the processor.
	var status string
	for time.Now().Before(deadline) {
		status = value("read the status", chromedp.Text(chromedp.CSS("#event-status")))
		if status == string(store.EventProcessed) {
			break
		}
		time.Sleep(250 * time.Millisecond)
		step("reload", chromedp.Navigate(srv.URL+"/admin/events/"+deadEventID), chromedp.WaitVisible(chromedp.CSS("#event-status")))
	}
	require.Equal(t, string(store.EventProcessed), status, "after the replay the page says %q, want processed", status)
	got = value("read attempts", chromedp.Text(chromedp.CSS("#event-attempts")))
	require.Equal(t, "9", got, "attempts after the replay = %s, want 9", got)
	ev, err := st.Event(t.Context(), deadEventID)
	require.NoError(t, err, "the store has the event as %q (%v), want processed", ev.Status, err)
	require.Equal(t, store.EventProcessed, ev.Status, "the store has the event as %q (%v), want processed", ev.Status, err)
	screenshot("admin-event-replayed.png")

	step("open the jobs", chromedp.Navigate(srv.URL+"/admin/jobs"), chromedp.WaitVisible(chromedp.CSS("#recent-jobs")))
	jobs := value("read the jobs", chromedp.Text(chromedp.CSS("#recent-jobs")))
	require.Contains(t, jobs, "appbackend.process_events", "the recent jobs lack the replay's job:\n%s", jobs)
	screenshot("admin-jobs.png")

	// River's own UI renders under the admin's policy and sign-in, and lists the job.
	step("open River's UI", chromedp.Navigate(srv.URL+"/admin/river/jobs?state=completed"), chromedp.WaitVisible(chromedp.CSS("body")))
	riverShowsJob := false
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if strings.Contains(value("read River's UI", chromedp.Text(chromedp.CSS("body"))), "appbackend.process_events") {
			riverShowsJob = true
			break
		}
	}
	screenshot("admin-river.png")
	if !riverShowsJob {
		require.FailNow(t, fmt.Sprintf("River's UI does not list the completed event job:\n%s", value("read River's UI", chromedp.Text(chromedp.CSS("body")))))
	}

	html := pageHTML()
	require.NotContains(t, html, testToken, "a page shows the admin token")
	require.NotContains(t, logs.String(), testToken, "the log shows the admin token")
}

// artifactsDir is artifacts/ at the module root (git-ignored), created if needed.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			require.FailNow(t, fmt.Sprint(err))
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test's directory")
		dir = parent
	}
	out := filepath.Join(dir, "artifacts")
	require.NoError(t, os.MkdirAll(out, 0o755))
	return out
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
