package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
)

const (
	admin  = "usr_admin"
	viewer = "usr_viewer"
)

type testBundle struct {
	app    *appbackendtest.App
	tagger *tagger
}

// setup runs the tagger as main does — its migrations, then register with env as its
// environment — on appbackendtest's SQLite or PostgreSQL.
func setup(t *testing.T, env map[string]string) *testBundle {
	t.Helper()
	var tg *tagger
	app := appbackendtest.Start(t,
		func(app *appbackend.App) { tg = register(app, func(k string) string { return env[k] }) },
		appbackendtest.WithConfig(func(cfg *appbackend.Config) { cfg.Migrations = migrations }))
	return &testBundle{app: app, tagger: tg}
}

// count runs a COUNT query on the app's database.
func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.app.ReadDB().QueryRowContext(t.Context(), query, args...).Scan(&n), query)
	return n
}

// invoice seeds an invoice on account's test mode in the StripeFake and returns its id.
func (b *testBundle) invoice(account, id string) string {
	b.app.Fake.Put(account, false, "invoices", map[string]any{"id": id, "status": "draft", "amount_due": 1200})
	return id
}

// invoiceUpdates are the requests that changed invoice id in Stripe.
func (b *testBundle) invoiceUpdates(id string) []appbackendtest.StripeRequest {
	var out []appbackendtest.StripeRequest
	for _, r := range b.app.Fake.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/invoices/"+id {
			out = append(out, r)
		}
	}
	return out
}

func tagsOf(t *testing.T, res *appbackendtest.Response) []string {
	t.Helper()
	var out struct {
		Tags []tag `json:"tags"`
	}
	res.JSON(t, &out)
	names := []string{}
	for _, tg := range out.Tags {
		names = append(names, tg.Tag)
	}
	return names
}

func TestInstallWritesTheAccountsRow(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"INVOICETAGGER_DEFAULT_TAG": "To-Check"})

	b.app.Install(t, "acct_1Install", false)
	var tag string
	require.NoError(t, b.app.ReadDB().QueryRowContext(t.Context(),
		`SELECT default_tag FROM tagger_accounts WHERE account_id = $1 AND livemode = $2`, "acct_1Install", false).Scan(&tag))
	require.Equal(t, "to-check", tag, "the configured default tag, normalised")

	// Stripe delivers the same install event again: the hook ran with the event, once.
	id := b.app.Deliver(t, appbackendtest.Event{ID: "evt_install_again", Type: "account.application.authorized", Account: "acct_1Install"})
	b.app.WaitForEvent(t, id)
	b.app.Deliver(t, appbackendtest.Event{ID: id, Type: "account.application.authorized", Account: "acct_1Install"})
	require.Equal(t, 1, b.app.WaitForEvent(t, id).Attempts)
	require.Equal(t, 1, b.count(t, `SELECT COUNT(*) FROM tagger_accounts`))
}

func TestTaggingNeedsTheAdminRoleAndTagsTheMerchantsInvoice(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const account = "acct_1Merchant"
	inv := b.invoice(account, "in_1Tagme")
	path := "/api/invoices/" + inv + "/tags"

	res := b.app.As(viewer, account).Post(t, path, map[string]any{"tag": "urgent"})
	require.Equal(t, http.StatusForbidden, res.Status, res)
	require.Equal(t, "role_required", res.ErrorCode())
	res = b.app.As(viewer, account).WithRoles("view_only").Post(t, path, map[string]any{"tag": "urgent"})
	require.Equal(t, http.StatusForbidden, res.Status, res)
	require.Empty(t, b.invoiceUpdates(inv), "a refused request reaches neither Stripe…")
	require.Zero(t, b.count(t, `SELECT COUNT(*) FROM invoice_tags`), "…nor the table")

	res = b.app.As(admin, account).WithRoles("admin").Post(t, path, map[string]any{"tag": "urgent"})
	require.Equal(t, http.StatusCreated, res.Status, res)
	require.Equal(t, []string{"urgent"}, tagsOf(t, res))

	updates := b.invoiceUpdates(inv)
	require.Len(t, updates, 1)
	require.Equal(t, account, updates[0].Account, "the call is made on the merchant's account (Stripe-Account)")
	require.Equal(t, appbackendtest.TestSecretKey, updates[0].Key())
	require.Equal(t, "true", updates[0].Form.Get("metadata[tag_urgent]"))
	stored, ok := b.app.Fake.Get(account, false, "invoices", inv)
	require.True(t, ok)
	require.Equal(t, map[string]any{"tag_urgent": "true"}, stored["metadata"])

	// Reading needs no role; a GET proves the user and account only.
	res = b.app.As(viewer, account).Get(t, path)
	require.Equal(t, http.StatusOK, res.Status, res)
	require.Equal(t, []string{"urgent"}, tagsOf(t, res))
	res = b.app.As(viewer, "acct_2Other").Get(t, path)
	require.Equal(t, http.StatusOK, res.Status, res)
	require.Empty(t, tagsOf(t, res), "another account sees none of this account's tags")
}

func TestDuplicateTagIsAConflict(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const account = "acct_1Dup"
	inv := b.invoice(account, "in_1Dup")
	caller := b.app.As(admin, account).WithRoles("admin")

	res := caller.Post(t, "/api/invoices/"+inv+"/tags", map[string]any{"tag": "urgent"})
	require.Equal(t, http.StatusCreated, res.Status, res)
	for _, again := range []string{"urgent", " URGENT "} {
		res = caller.Post(t, "/api/invoices/"+inv+"/tags", map[string]any{"tag": again})
		require.Equal(t, http.StatusConflict, res.Status, res)
		require.Equal(t, "conflict", res.ErrorCode())
	}
	require.Len(t, b.invoiceUpdates(inv), 1, "a duplicate costs no Stripe call")

	res = caller.Post(t, "/api/invoices/"+inv+"/tags", map[string]any{"tag": "disputed"})
	require.Equal(t, http.StatusCreated, res.Status, res)
	require.Equal(t, []string{"disputed", "urgent"}, tagsOf(t, res))
	stored, _ := b.app.Fake.Get(account, false, "invoices", inv)
	require.Equal(t, map[string]any{"tag_urgent": "true", "tag_disputed": "true"}, stored["metadata"])
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const account = "acct_1Bad"
	inv := b.invoice(account, "in_1Bad")
	b.app.Fake.Put("acct_2Else", false, "invoices", map[string]any{"id": "in_1Elsewhere"})
	caller := b.app.As(admin, account).WithRoles("admin")

	for _, tc := range []struct {
		name       string
		invoice    string
		payload    any
		wantStatus int
		wantCode   string
	}{
		{name: "no tag", invoice: inv, payload: map[string]any{}, wantStatus: 400, wantCode: "bad_request"},
		{name: "empty tag", invoice: inv, payload: map[string]any{"tag": "  "}, wantStatus: 400, wantCode: "bad_request"},
		{name: "space inside", invoice: inv, payload: map[string]any{"tag": "two words"}, wantStatus: 400, wantCode: "bad_request"},
		{name: "too long", invoice: inv, payload: map[string]any{"tag": strings.Repeat("a", 31)}, wantStatus: 400, wantCode: "bad_request"},
		{name: "leading dash", invoice: inv, payload: map[string]any{"tag": "-x"}, wantStatus: 400, wantCode: "bad_request"},
		{name: "tag not a string", invoice: inv, payload: map[string]any{"tag": 7}, wantStatus: 400, wantCode: "bad_request"},
		{name: "not an invoice id", invoice: "cus_1", payload: map[string]any{"tag": "ok"}, wantStatus: 400, wantCode: "bad_request"},
		{name: "no such invoice", invoice: "in_1Missing", payload: map[string]any{"tag": "ok"}, wantStatus: 404, wantCode: "not_found"},
		{name: "another account's invoice", invoice: "in_1Elsewhere", payload: map[string]any{"tag": "ok"}, wantStatus: 404, wantCode: "not_found"},
	} {
		res := caller.Post(t, "/api/invoices/"+tc.invoice+"/tags", tc.payload)
		require.Equal(t, tc.wantStatus, res.Status, "%s: %s", tc.name, res)
		require.Equal(t, tc.wantCode, res.ErrorCode(), tc.name)
	}
	require.Zero(t, b.count(t, `SELECT COUNT(*) FROM invoice_tags`))
	other, _ := b.app.Fake.Get("acct_2Else", false, "invoices", "in_1Elsewhere")
	require.Nil(t, other["metadata"], "the other account's invoice is untouched")
}

func TestInvoiceFinalizedDeliveredTwiceTagsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const account = "acct_1Final"
	b.app.Install(t, account, false)
	inv := b.invoice(account, "in_1Final")

	finalized := appbackendtest.Event{ID: "evt_1Finalized", Type: "invoice.finalized", Account: account,
		Object: map[string]any{"id": inv, "object": "invoice", "status": "open"}}
	b.app.WaitForEvent(t, b.app.Deliver(t, finalized))
	b.app.Deliver(t, finalized) // Stripe's at-least-once delivery: the same event again
	ev := b.app.WaitForEvent(t, finalized.ID)
	require.Equal(t, 1, ev.Attempts, "the redelivered event was not processed again")

	require.Equal(t, 1, b.count(t, `SELECT COUNT(*) FROM invoice_tags WHERE invoice_id = $1 AND tag = $2 AND added_by = $3`,
		inv, "unreviewed", finalized.ID))
	updates := b.invoiceUpdates(inv)
	require.Len(t, updates, 1, "Stripe was called once")
	require.Equal(t, account, updates[0].Account)
	require.Equal(t, "true", updates[0].Form.Get("metadata[tag_unreviewed]"))

	// A Dashboard user tagging the same tag afterwards meets the handler's row.
	res := b.app.As(admin, account).WithRoles("admin").Post(t, "/api/invoices/"+inv+"/tags", map[string]any{"tag": "unreviewed"})
	require.Equal(t, http.StatusConflict, res.Status, res)

	// An account that has not installed the app gets nothing tagged.
	other := b.invoice("acct_2NotInstalled", "in_1NotInstalled")
	b.app.WaitForEvent(t, b.app.Deliver(t, appbackendtest.Event{Type: "invoice.finalized", Account: "acct_2NotInstalled",
		Object: map[string]any{"id": other, "object": "invoice"}}))
	require.Empty(t, b.invoiceUpdates(other))
	require.Zero(t, b.count(t, `SELECT COUNT(*) FROM invoice_tags WHERE invoice_id = $1`, other))
}

func TestExportIsAJobTheUIPolls(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const account = "acct_1Export"
	caller := b.app.As(admin, account).WithRoles("admin")
	for _, tc := range []struct{ invoice, tag string }{{"in_1A", "urgent"}, {"in_1A", "disputed"}, {"in_1B", "urgent"}} {
		b.invoice(account, tc.invoice)
		res := caller.Post(t, "/api/invoices/"+tc.invoice+"/tags", map[string]any{"tag": tc.tag})
		require.Equal(t, http.StatusCreated, res.Status, res)
	}
	b.invoice("acct_2Else", "in_1Else")
	res := b.app.As(admin, "acct_2Else").WithRoles("admin").Post(t, "/api/invoices/in_1Else/tags", map[string]any{"tag": "elsewhere"})
	require.Equal(t, http.StatusCreated, res.Status, res)

	res = b.app.As(viewer, account).Post(t, "/api/exports", nil)
	require.Equal(t, http.StatusAccepted, res.Status, res)
	var created struct {
		JobID int64 `json:"job_id"`
	}
	res.JSON(t, &created)
	status := b.app.WaitForJob(t, created.JobID)
	require.Equal(t, "completed", status.State, "errors: %v", status.Errors)

	// What the UI sees when it polls.
	jobPath := "/api/jobs/" + strconv.FormatInt(created.JobID, 10)
	res = b.app.As(viewer, account).Get(t, jobPath)
	require.Equal(t, http.StatusOK, res.Status, res)
	var job struct {
		State  string `json:"state"`
		Kind   string `json:"kind"`
		Output struct {
			Rows int    `json:"rows"`
			CSV  string `json:"csv"`
		} `json:"output"`
	}
	res.JSON(t, &job)
	require.Equal(t, "completed", job.State)
	require.Equal(t, "invoicetagger.export", job.Kind)
	require.Equal(t, 3, job.Output.Rows)
	lines := strings.Split(strings.TrimSpace(job.Output.CSV), "\n")
	require.Len(t, lines, 4)
	require.Equal(t, "invoice_id,tag,added_by,created_at", lines[0])
	require.True(t, strings.HasPrefix(lines[1], "in_1A,disputed,"+admin+","), lines[1])
	require.True(t, strings.HasPrefix(lines[3], "in_1B,urgent,"+admin+","), lines[3])
	require.NotContains(t, job.Output.CSV, "elsewhere", "only the caller's account's tags")

	res = b.app.As(viewer, "acct_2Else").Get(t, jobPath)
	require.Equal(t, http.StatusNotFound, res.Status, "another account cannot see the job: %s", res)
}

func TestUninstallRemovesTheAccountsData(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const account, kept = "acct_1Leaving", "acct_2Staying"
	for _, acct := range []string{account, kept} {
		b.app.Install(t, acct, false)
		inv := b.invoice(acct, "in_"+acct)
		res := b.app.As(admin, acct).WithRoles("admin").Post(t, "/api/invoices/"+inv+"/tags", map[string]any{"tag": "urgent"})
		require.Equal(t, http.StatusCreated, res.Status, res)
		require.NoError(t, b.tagger.summarize(t.Context(), appbackend.Run{AccountID: acct, Slot: time.Now().AddDate(0, 0, 1)}))
	}
	rows := func(acct string) int {
		return b.count(t, `SELECT COUNT(*) FROM invoice_tags WHERE account_id = $1`, acct) +
			b.count(t, `SELECT COUNT(*) FROM tag_summaries WHERE account_id = $1`, acct) +
			b.count(t, `SELECT COUNT(*) FROM tagger_accounts WHERE account_id = $1`, acct)
	}
	require.Equal(t, 3, rows(account))

	// Uninstall returns once OnUninstall ran with the event (the settings are gone, new
	// invoices are not tagged) and OnCleanup ran in the data-removal job that follows.
	b.app.Uninstall(t, account, false)
	require.Zero(t, rows(account), "the uninstalled account's settings, tags and summaries were not removed")
	require.Equal(t, 3, rows(kept), "the other account's data stays")
}

func TestSummaryCountsTheDaysTags(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const account = "acct_1Summary"
	caller := b.app.As(admin, account).WithRoles("admin")
	for _, tc := range []struct{ invoice, tag string }{{"in_1A", "urgent"}, {"in_1B", "urgent"}, {"in_1B", "disputed"}} {
		b.invoice(account, tc.invoice)
		res := caller.Post(t, "/api/invoices/"+tc.invoice+"/tags", map[string]any{"tag": tc.tag})
		require.Equal(t, http.StatusCreated, res.Status, res)
	}
	b.invoice("acct_2Else", "in_1Else")
	res := b.app.As(admin, "acct_2Else").WithRoles("admin").Post(t, "/api/invoices/in_1Else/tags", map[string]any{"tag": "urgent"})
	require.Equal(t, http.StatusCreated, res.Status, res)

	// The run of tomorrow 02:00 sums up today; one day later (a missed slot folded in)
	// it sums up both days.
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)
	tomorrow2am := time.Date(now.Year(), now.Month(), now.Day()+1, 2, 0, 0, 0, time.UTC)
	run := appbackend.Run{Name: "invoicetagger.summary", AccountID: account, Slot: tomorrow2am, Attempt: 1}
	require.NoError(t, b.tagger.summarize(t.Context(), run))
	require.NoError(t, b.tagger.summarize(t.Context(), run), "a second run of the slot rewrites its summary")

	var count int
	var byTag string
	require.NoError(t, b.app.ReadDB().QueryRowContext(t.Context(),
		`SELECT tag_count, by_tag FROM tag_summaries WHERE account_id = $1 AND livemode = $2 AND day = $3`,
		account, false, today).Scan(&count, &byTag))
	require.Equal(t, 3, count)
	require.JSONEq(t, `{"urgent":2,"disputed":1}`, byTag)
	require.Equal(t, 1, b.count(t, `SELECT COUNT(*) FROM tag_summaries`), "only the run's account")
	if b.app.Postgres() {
		// migrations/postgres/0002 made by_tag JSONB there: PostgreSQL can query into it.
		require.Equal(t, 2, b.count(t, `SELECT (by_tag->>'urgent')::int FROM tag_summaries WHERE account_id = $1`, account))
	}

	run.Slot, run.Missed = tomorrow2am.AddDate(0, 0, 1), 1
	require.NoError(t, b.tagger.summarize(t.Context(), run))
	require.Equal(t, 2, b.count(t, `SELECT COUNT(*) FROM tag_summaries WHERE account_id = $1`, account))
	require.Equal(t, 0, b.count(t, `SELECT tag_count FROM tag_summaries WHERE account_id = $1 AND day = $2`,
		account, tomorrow2am.Format(time.DateOnly)))
}

func TestSummaryScheduleRunsForEachInstalledAccount(t *testing.T) {
	t.Parallel()
	// The same registration as production, with a spec that comes round every second.
	b := setup(t, map[string]string{"INVOICETAGGER_SUMMARY_SPEC": "@every 1s"})
	b.app.Install(t, "acct_1Scheduled", false)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT COUNT(*) FROM tag_summaries WHERE account_id = $1`, "acct_1Scheduled") > 0
	}, appbackendtest.WaitTimeout, 50*time.Millisecond, "the summary schedule wrote no row for the installed account")
	require.Zero(t, b.count(t, `SELECT COUNT(*) FROM tag_summaries WHERE account_id <> $1`, "acct_1Scheduled"))
}
