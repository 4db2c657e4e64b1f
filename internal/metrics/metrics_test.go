package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/metrics"
	"github.com/appbackend/appbackend/internal/store"
)

// fakeSource is a store with fixed contents, or failing listings.
type fakeSource struct {
	installations []store.Installation
	events        []store.Event // newest first, as the store lists them
	err           error
}

func (f *fakeSource) ListInstallations(ctx context.Context, _ store.InstallationFilter) ([]store.Installation, error) {
	return f.installations, f.err
}

func (f *fakeSource) ListEvents(ctx context.Context, flt store.EventFilter) ([]store.Event, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []store.Event
	for _, ev := range f.events {
		if flt.Livemode != nil && ev.Livemode != *flt.Livemode {
			continue
		}
		out = append(out, ev)
		if flt.Limit > 0 && len(out) == flt.Limit {
			break
		}
	}
	return out, nil
}

func (f *fakeSource) CountEvents(ctx context.Context) (map[store.EventStatus]int, error) {
	if f.err != nil {
		return nil, f.err
	}
	counts := map[store.EventStatus]int{}
	for _, ev := range f.events {
		counts[ev.Status]++
	}
	return counts, nil
}

func newMetrics(t *testing.T, src metrics.Source) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Config{Registry: reg, Store: src})
	require.NoError(t, err, "New")
	return m, reg
}

// TestScriptedSequence drives the calls the server makes for a short history and
// checks every counter the operator reads.
func TestScriptedSequence(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t, nil)

	m.ObserveRequest("POST /webhooks/stripe", 200, 3*time.Millisecond)
	m.ObserveRequest("POST /webhooks/stripe", 200, 2*time.Millisecond)
	m.ObserveRequest("POST /webhooks/stripe", 400, time.Millisecond)
	m.ObserveRequest("POST /api/whoami", 401, time.Millisecond)
	m.ObserveRequest("", 404, time.Millisecond)
	m.SignatureFailure("webhook", metrics.SignatureFailureReason(appauth.ErrNoValidSignature))
	m.SignatureFailure("api", metrics.SignatureFailureReason(fmt.Errorf("verify: %w", appauth.ErrTooOld)))
	m.SignatureFailure("api", metrics.SignatureFailureReason(appauth.ErrNotSigned))
	m.EventReceived("account.application.authorized")
	m.EventReceived("account.application.authorized")
	m.EventReceived("invoice.paid")
	m.EventDuplicate("account.application.authorized")
	m.WebhookCommit(2, 4*time.Millisecond, nil)
	m.WebhookCommit(1, 9*time.Millisecond, errors.New("disk full"))
	m.EventProcessed("account.application.authorized", 40*time.Millisecond)
	m.EventProcessed("account.application.authorized", 2*time.Second)
	m.EventDead("invoice.paid")
	m.JobRun("appbackend.process_events", 10*time.Millisecond, metrics.JobCompleted)
	m.JobRun("appbackend.process_events", 20*time.Millisecond, metrics.JobRetried)
	m.JobRun("appbackend.remove_account_data", time.Millisecond, metrics.JobCompleted)

	want := `
# HELP appbackend_http_requests_total HTTP requests answered, by route pattern and status code.
# TYPE appbackend_http_requests_total counter
appbackend_http_requests_total{route="POST /api/whoami",status="401"} 1
appbackend_http_requests_total{route="POST /webhooks/stripe",status="200"} 2
appbackend_http_requests_total{route="POST /webhooks/stripe",status="400"} 1
appbackend_http_requests_total{route="unmatched",status="404"} 1
# HELP appbackend_signature_failures_total Requests refused for their Stripe-Signature, by endpoint (api, webhook) and reason (missing, malformed, expired, invalid).
# TYPE appbackend_signature_failures_total counter
appbackend_signature_failures_total{endpoint="api",reason="expired"} 1
appbackend_signature_failures_total{endpoint="api",reason="missing"} 1
appbackend_signature_failures_total{endpoint="webhook",reason="invalid"} 1
# HELP appbackend_events_received_total Webhook events stored in the inbox for the first time, by event type.
# TYPE appbackend_events_received_total counter
appbackend_events_received_total{type="account.application.authorized"} 2
appbackend_events_received_total{type="invoice.paid"} 1
# HELP appbackend_events_duplicate_total Webhook events acknowledged again because their id was already stored, by event type.
# TYPE appbackend_events_duplicate_total counter
appbackend_events_duplicate_total{type="account.application.authorized"} 1
# HELP appbackend_events_processed_total Inbox events whose handlers committed, by event type.
# TYPE appbackend_events_processed_total counter
appbackend_events_processed_total{type="account.application.authorized"} 2
# HELP appbackend_events_dead_total Inbox events that failed every attempt and wait for a replay, by event type.
# TYPE appbackend_events_dead_total counter
appbackend_events_dead_total{type="invoice.paid"} 1
# HELP appbackend_webhook_commits_total Inbox transactions of the webhook receiver, by outcome (ok, error).
# TYPE appbackend_webhook_commits_total counter
appbackend_webhook_commits_total{outcome="error"} 1
appbackend_webhook_commits_total{outcome="ok"} 1
# HELP appbackend_job_runs_total River job runs, by kind and outcome (completed, retried, discarded, cancelled, snoozed).
# TYPE appbackend_job_runs_total counter
appbackend_job_runs_total{kind="appbackend.process_events",outcome="completed"} 1
appbackend_job_runs_total{kind="appbackend.process_events",outcome="retried"} 1
appbackend_job_runs_total{kind="appbackend.remove_account_data",outcome="completed"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"appbackend_http_requests_total", "appbackend_signature_failures_total",
		"appbackend_events_received_total", "appbackend_events_duplicate_total",
		"appbackend_events_processed_total", "appbackend_events_dead_total",
		"appbackend_webhook_commits_total", "appbackend_job_runs_total"))

	histograms := []struct {
		name      string
		wantCount uint64
		wantSum   float64
	}{
		{"appbackend_event_processing_lag_seconds", 2, 2.04},
		{"appbackend_webhook_commit_events", 2, 3},
		{"appbackend_http_request_duration_seconds", 5, 0.008},
		{"appbackend_job_duration_seconds", 3, 0.031},
	}
	for _, h := range histograms {
		count, sum := histogramTotals(t, reg, h.name)
		require.Equal(t, h.wantCount, count, "%s: count %d, sum %v; want %d, %v", h.name, count, sum, h.wantCount, h.wantSum)
		require.True(t, near(sum, h.wantSum), "%s: count %d, sum %v; want %d, %v", h.name, count, sum, h.wantCount, h.wantSum)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// seriesValue returns the value of the counter or gauge series of name with exactly
// the given label pairs.
func seriesValue(t *testing.T, reg *prometheus.Registry, name string, labelPairs ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labelPairs); i += 2 {
		want[labelPairs[i]] = labelPairs[i+1]
	}
	families, err := reg.Gather()
	require.NoError(t, err, "Gather")
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) != len(want) {
				continue
			}
			for _, l := range s.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
	}
	require.FailNow(t, fmt.Sprintf("no series %s%v", name, want))
	return 0
}

func histogramTotals(t *testing.T, reg *prometheus.Registry, name string) (count uint64, sum float64) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err, "Gather")
	for _, f := range families {
		if f.GetName() == name {
			for _, s := range f.GetMetric() {
				count += s.GetHistogram().GetSampleCount()
				sum += s.GetHistogram().GetSampleSum()
			}
			return count, sum
		}
	}
	require.FailNow(t, fmt.Sprintf("no histogram %s", name))
	return 0, 0
}

func TestSignatureFailureReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"no header", appauth.ErrNotSigned, metrics.ReasonMissing},
		{"too old", appauth.ErrTooOld, metrics.ReasonExpired},
		{"in the future", appauth.ErrTooNew, metrics.ReasonExpired},
		{"malformed header", appauth.ErrMalformedHeader, metrics.ReasonMalformed},
		{"no timestamp", appauth.ErrNoTimestamp, metrics.ReasonMalformed},
		{"no v1", appauth.ErrNoSignatures, metrics.ReasonMalformed},
		{"no match", appauth.ErrNoValidSignature, metrics.ReasonInvalid},
		{"wrapped no match", fmt.Errorf("webhook: %w", appauth.ErrNoValidSignature), metrics.ReasonInvalid},
	} {
		got := metrics.SignatureFailureReason(tc.err)
		require.Equal(t, tc.want, got, "%s: SignatureFailureReason = %q, want %q", tc.name, got, tc.want)
	}
}

type verifierFunc func(string, []byte) (time.Time, error)

func (f verifierFunc) VerifyPayload(h string, p []byte) (time.Time, error) { return f(h, p) }

func TestCountingVerifierCountsOnlyFailures(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t, nil)
	v := m.CountingVerifier(verifierFunc(func(h string, _ []byte) (time.Time, error) {
		if h == "good" {
			return time.Now(), nil
		}
		return time.Time{}, appauth.ErrTooOld
	}))
	for _, h := range []string{"good", "old", "good", "old", "old"} {
		_, _ = v.VerifyPayload(h, nil)
	}
	got := seriesValue(t, reg, "appbackend_signature_failures_total", "endpoint", "webhook", "reason", "expired")
	require.EqualValues(t, 3, got, "expired webhook signature failures = %v, want 3", got)
}

func TestJobOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		attempt, maxTrys int
		err              error
		want             string
	}{
		{"success", 1, 8, nil, metrics.JobCompleted},
		{"failure with attempts left", 3, 8, errors.New("boom"), metrics.JobRetried},
		{"failure on the last attempt", 8, 8, errors.New("boom"), metrics.JobDiscarded},
		{"cancel", 1, 8, &rivertype.JobCancelError{}, metrics.JobCancelled},
		{"snooze", 1, 8, &rivertype.JobSnoozeError{Duration: time.Second}, metrics.JobSnoozed},
	} {
		job := &rivertype.JobRow{Attempt: tc.attempt, MaxAttempts: tc.maxTrys}
		got := metrics.JobOutcome(job, tc.err)
		require.Equal(t, tc.want, got, "%s: JobOutcome = %q, want %q", tc.name, got, tc.want)
	}
}

func TestJobMiddlewareRecordsRuns(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t, nil)
	mw := m.JobMiddleware()
	job := &rivertype.JobRow{Kind: "app.sync", Attempt: 1, MaxAttempts: 3}
	boom := errors.New("boom")
	err := mw.Work(t.Context(), job, func(context.Context) error { return boom })
	require.ErrorIs(t, err, boom, "middleware returned %v, want the job's error", err)
	err = mw.Work(t.Context(), job, func(context.Context) error { return nil })
	require.NoError(t, err, "middleware returned %v, want nil", err)
	for outcome, want := range map[string]float64{metrics.JobRetried: 1, metrics.JobCompleted: 1} {
		got := seriesValue(t, reg, "appbackend_job_runs_total", "kind", "app.sync", "outcome", outcome)
		require.Equal(t, want, got, "app.sync %s runs = %v, want %v", outcome, got, want)
	}
}

func TestLabelValuesAreBounded(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t, nil)
	for i := range metrics.MaxLabelValues + 50 {
		m.EventReceived(fmt.Sprintf("type.%d", i))
	}
	m.EventReceived("bad\xffutf8")
	m.EventReceived(strings.Repeat("x", 200))
	got, want := testutil.CollectAndCount(m.Registry(), "appbackend_events_received_total"), metrics.MaxLabelValues+1
	require.Equal(t, want, got, "series of events_received_total = %d, want %d (the bound plus %q)", got, want, metrics.OtherLabel)
	if got, want := seriesValue(t, reg, "appbackend_events_received_total", "type", metrics.OtherLabel), 52.0; got != want {
		require.FailNow(t, fmt.Sprintf("events counted as %q = %v, want %v", metrics.OtherLabel, got, want))
	}
}

func TestNilMetricsIgnoresCalls(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	m.ObserveRequest("GET /healthz", 200, time.Millisecond)
	m.SignatureFailure("api", metrics.ReasonInvalid)
	m.EventReceived("x")
	m.EventDuplicate("x")
	m.EventProcessed("x", time.Second)
	m.EventDead("x")
	m.WebhookCommit(1, time.Millisecond, nil)
	m.JobRun("k", time.Millisecond, metrics.JobCompleted)
	require.NoError(t, m.JobMiddleware().Work(t.Context(), &rivertype.JobRow{}, func(context.Context) error { return nil }), "nil metrics' middleware returned")
}

func TestStoreGauges(t *testing.T) {
	t.Parallel()
	received := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	src := &fakeSource{
		installations: []store.Installation{
			{AccountID: "acct_1", Livemode: true, Status: store.Installed},
			{AccountID: "acct_2", Livemode: true, Status: store.Installed},
			{AccountID: "acct_2", Livemode: false, Status: store.Uninstalled},
			{AccountID: "acct_3", Livemode: false, Status: store.Installed},
		},
		events: []store.Event{
			{ID: "evt_3", Livemode: false, Status: store.EventDead, ReceivedAt: received.Add(time.Hour)},
			{ID: "evt_2", Livemode: true, Status: store.EventProcessed, ReceivedAt: received},
			{ID: "evt_1", Livemode: true, Status: store.EventProcessed, ReceivedAt: received.Add(-time.Hour)},
		},
	}
	m, _ := newMetrics(t, src)
	want := fmt.Sprintf(`
# HELP appbackend_installations Accounts by mode (live, test) and state (installed, uninstalled), read from the database up to 15 s (by default) before the scrape.
# TYPE appbackend_installations gauge
appbackend_installations{mode="live",state="installed"} 2
appbackend_installations{mode="live",state="uninstalled"} 0
appbackend_installations{mode="test",state="installed"} 1
appbackend_installations{mode="test",state="uninstalled"} 1
# HELP appbackend_events Inbox events by status (pending, processed, failed, dead), read from the database up to 15 s (by default) before the scrape.
# TYPE appbackend_events gauge
appbackend_events{status="dead"} 1
appbackend_events{status="failed"} 0
appbackend_events{status="pending"} 0
appbackend_events{status="processed"} 2
# HELP appbackend_last_event_received_timestamp_seconds When the newest inbox event of a mode was received (Unix time); absent while none was.
# TYPE appbackend_last_event_received_timestamp_seconds gauge
appbackend_last_event_received_timestamp_seconds{mode="live"} %d
appbackend_last_event_received_timestamp_seconds{mode="test"} %d
`, received.Unix(), received.Add(time.Hour).Unix())
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"appbackend_installations", "appbackend_events", "appbackend_last_event_received_timestamp_seconds"))
}

// TestHandlerServesDespiteStoreError: a database that does not answer leaves its
// gauges out, but /metrics still serves the counters.
func TestHandlerServesDespiteStoreError(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t, &fakeSource{err: errors.New("database is locked")})
	m.EventReceived("invoice.paid")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		require.FailNow(t, fmt.Sprintf("GET /metrics = %d, want 200", resp.StatusCode))
	}
	require.Contains(t, string(body), `appbackend_events_received_total{type="invoice.paid"} 1`, "/metrics lacks the received counter:\n%s", body)
	require.NotContains(t, string(body), "appbackend_installations{", "/metrics has installation gauges although the store failed:\n%s", body)
}

func TestNewRefusesADoubleRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	_, err := metrics.New(metrics.Config{Registry: reg})
	require.NoError(t, err, "first New")
	if _, err := metrics.New(metrics.Config{Registry: reg}); err == nil {
		require.FailNow(t, "second New on the same registry succeeded, want an error")
	}
}

func TestDefaultRegistryHasRuntimeMetrics(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(metrics.Config{})
	require.NoError(t, err)
	n := testutil.CollectAndCount(m.Registry(), "go_goroutines")
	require.Equal(t, 1, n, "go_goroutines series = %d, want 1", n)
}
