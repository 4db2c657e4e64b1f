// Package metrics is appbackend's Prometheus instrumentation: the counters and
// histograms the server updates as it works, the gauges read from the database at
// scrape time, and the GET /metrics handler.
//
// The server calls one method at each point of interest:
//
//	request served                    ObserveRequest(route, status, took)
//	signature rejected                SignatureFailure(endpoint, reason)
//	webhook event stored / duplicate  EventReceived(type) / EventDuplicate(type)
//	webhook batch committed           WebhookCommit(events, took, err)
//	event processed / dead            EventProcessed(type, lag) / EventDead(type)
//	River job worked                  JobRun(kind, took, outcome), or JobMiddleware()
//
// and serves installations by mode and state, events by status and the time of the
// newest event from its [Source] (a [store.Store]), read at most once per
// [Config.GaugeMaxAge] in the background so that a scrape costs the same whatever the
// number of installations.
//
// Every method is safe on a nil *Metrics, so instrumented code needs no checks when
// metrics are off. Label values that come from outside (event types, job kinds,
// routes) are bounded: after [MaxLabelValues] distinct values, or for a value that is
// too long or not UTF-8, the value "other" is used, so a flood of odd event types
// cannot grow the series without limit.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/baseservice"
)

// Namespace prefixes every metric name.
const Namespace = "appbackend"

// MaxLabelValues bounds the distinct values of one label fed from outside (event type,
// job kind, route); later new values are counted as [OtherLabel].
const MaxLabelValues = 256

// OtherLabel replaces a label value past [MaxLabelValues], longer than 128 bytes, or not
// valid UTF-8.
const OtherLabel = "other"

// Signature failure reasons, the values of the reason label.
const (
	ReasonMissing   = appauth.FailureMissing   // no Stripe-Signature header
	ReasonMalformed = appauth.FailureMalformed // a header that does not parse
	ReasonExpired   = appauth.FailureExpired   // timestamp outside the tolerance
	ReasonInvalid   = appauth.FailureInvalid   // no v1 matches any secret
)

// Job outcomes, the values of the outcome label of job runs.
const (
	JobCompleted = "completed" // Work returned nil
	JobRetried   = "retried"   // Work failed; River tries again later
	JobDiscarded = "discarded" // Work failed on the last attempt
	JobCancelled = "cancelled" // Work returned river.JobCancel
	JobSnoozed   = "snoozed"   // Work returned river.JobSnooze
)

// DefaultScrapeTimeout bounds the database reads of one scrape.
const DefaultScrapeTimeout = 5 * time.Second

// Config configures [New]. The zero value is usable.
type Config struct {
	// Registry receives every collector; nil means a new registry that also holds the
	// Go runtime and process collectors.
	Registry *prometheus.Registry
	// Store, when set, is read at every scrape for the installation, event and
	// last-event gauges.
	Store Source
	// ScrapeTimeout bounds the Store reads of one scrape (default DefaultScrapeTimeout).
	ScrapeTimeout time.Duration
	// GaugeMaxAge is how old the Store gauges may be before a scrape has them read
	// again, in the background (default DefaultGaugeMaxAge). A scrape never reads the
	// whole installations table itself, except the first one.
	GaugeMaxAge time.Duration
	// Archetype is the App's logger, which receives scrape errors, and its clock, which
	// dates the gauges' snapshots; nil discards the logs and uses the real clock.
	Archetype *baseservice.Archetype
}

// Metrics holds appbackend's collectors. Build it with [New]; a nil *Metrics ignores
// every call.
type Metrics struct {
	baseservice.Base
	registry *prometheus.Registry

	// requestSeries holds each (route, status)'s counter and histogram of the two
	// vectors once looked up: the vectors' lookup hashes the labels, twice per request.
	requestSeries sync.Map // requestKey → requestSeries

	requests          *prometheus.CounterVec
	requestDuration   *prometheus.HistogramVec
	signatureFailures *prometheus.CounterVec
	eventsReceived    *prometheus.CounterVec
	eventsDuplicate   *prometheus.CounterVec
	eventsProcessed   *prometheus.CounterVec
	eventsDead        *prometheus.CounterVec
	processingLag     prometheus.Histogram
	webhookCommits    *prometheus.CounterVec
	webhookBatch      prometheus.Histogram
	webhookCommitTime prometheus.Histogram
	jobRuns           *prometheus.CounterVec
	jobDuration       *prometheus.HistogramVec

	routes, eventTypes, jobKinds *boundedLabel
	store                        *storeCollector // nil without Config.Store
}

// InvalidateGauges makes the next scrape read the database gauges again before it
// answers; call it after a change a scrape should show at once (an installation).
func (m *Metrics) InvalidateGauges() {
	if m == nil || m.store == nil {
		return
	}
	m.store.invalidate()
}

// New builds the collectors and registers them on cfg.Registry. It fails only if a
// collector of the same name is already registered there.
func New(cfg Config) (*Metrics, error) {
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		if err := registerAll(reg, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, err
		}
	}
	durationBuckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern.", Buckets: durationBuckets,
		}, []string{"route"}),
		signatureFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "signature_failures_total",
			Help: "Requests refused for their Stripe-Signature, by endpoint (api, webhook) and reason (missing, malformed, expired, invalid).",
		}, []string{"endpoint", "reason"}),
		eventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_received_total",
			Help: "Webhook events stored in the inbox for the first time, by event type.",
		}, []string{"type"}),
		eventsDuplicate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_duplicate_total",
			Help: "Webhook events acknowledged again because their id was already stored, by event type.",
		}, []string{"type"}),
		eventsProcessed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_processed_total",
			Help: "Inbox events whose handlers committed, by event type.",
		}, []string{"type"}),
		eventsDead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_dead_total",
			Help: "Inbox events that failed every attempt and wait for a replay, by event type.",
		}, []string{"type"}),
		processingLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "event_processing_lag_seconds",
			Help:    "Time from an event's acknowledgement to the commit of its processing.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600},
		}),
		webhookCommits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_commits_total",
			Help: "Inbox transactions of the webhook receiver, by outcome (ok, error).",
		}, []string{"outcome"}),
		webhookBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "webhook_commit_events",
			Help:    "Events stored per webhook inbox transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		webhookCommitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "webhook_commit_duration_seconds",
			Help: "Time of one webhook inbox transaction, disk flush included.", Buckets: durationBuckets,
		}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "job_runs_total",
			Help: "River job runs, by kind and outcome (completed, retried, discarded, cancelled, snoozed).",
		}, []string{"kind", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "job_duration_seconds",
			Help: "Time a River job's Work took, by kind.", Buckets: durationBuckets,
		}, []string{"kind"}),
		routes:     newBoundedLabel(MaxLabelValues),
		eventTypes: newBoundedLabel(MaxLabelValues),
		jobKinds:   newBoundedLabel(MaxLabelValues),
	}
	m.Init(cfg.Archetype)
	cs := []prometheus.Collector{
		m.requests, m.requestDuration, m.signatureFailures,
		m.eventsReceived, m.eventsDuplicate, m.eventsProcessed, m.eventsDead, m.processingLag,
		m.webhookCommits, m.webhookBatch, m.webhookCommitTime, m.jobRuns, m.jobDuration,
	}
	if cfg.Store != nil {
		timeout := cfg.ScrapeTimeout
		if timeout <= 0 {
			timeout = DefaultScrapeTimeout
		}
		maxAge := cfg.GaugeMaxAge
		if maxAge <= 0 {
			maxAge = DefaultGaugeMaxAge
		}
		m.store = newStoreCollector(cfg.Store, timeout, maxAge, m.Now)
		cs = append(cs, m.store)
	}
	if err := registerAll(reg, cs...); err != nil {
		return nil, err
	}
	return m, nil
}

func registerAll(reg *prometheus.Registry, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Registry is the registry the collectors are on, for the app's own metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.registry
}

// Handler serves GET /metrics in Prometheus's text (or negotiated) format. A store
// read that fails is logged and leaves its gauges out of that scrape; the other
// metrics are still served.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.Logger().Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// ObserveRequest counts one answered HTTP request. route must be a route pattern such
// as "POST /webhooks/stripe" (never the raw path, which would make a series per URL);
// "" is recorded as "unmatched".
func (m *Metrics) ObserveRequest(route string, status int, took time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	key := requestKey{route, status}
	series, ok := m.requestSeries.Load(key)
	if !ok {
		// Keyed by the route as given: routeLabel passes patterns, so the keys stay as
		// few as the routes, and a route past the label cap shares the "other" series.
		label := m.routes.value(route)
		series, _ = m.requestSeries.LoadOrStore(key, requestSeries{
			count:    m.requests.WithLabelValues(label, statusLabel(status)),
			duration: m.requestDuration.WithLabelValues(label),
		})
	}
	s := series.(requestSeries)
	s.count.Inc()
	s.duration.Observe(took.Seconds())
}

type requestKey struct {
	route  string
	status int
}

type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// statusLabels are the status codes' label values, made once: strconv would
// allocate one per request.
var statusLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func statusLabel(status int) string {
	if status >= 0 && status < len(statusLabels) {
		return statusLabels[status]
	}
	return strconv.Itoa(status)
}

// SignatureFailure counts a request refused for its signature. endpoint is "api" for
// UI-extension requests or "webhook"; reason is one of the Reason constants (see
// [SignatureFailureReason]).
func (m *Metrics) SignatureFailure(endpoint, reason string) {
	if m == nil {
		return
	}
	switch endpoint {
	case "api", "webhook":
	default:
		endpoint = OtherLabel
	}
	switch reason {
	case ReasonMissing, ReasonMalformed, ReasonExpired, ReasonInvalid:
	default:
		reason = OtherLabel
	}
	m.signatureFailures.WithLabelValues(endpoint, reason).Inc()
}

// SignatureFailureReason maps a verification error of package appauth to a reason
// label (appauth.SignatureFailure); any other failure counts as ReasonInvalid.
func SignatureFailureReason(err error) string {
	if reason := appauth.SignatureFailure(err); reason != "" {
		return reason
	}
	return ReasonInvalid
}

// PayloadVerifier checks a Stripe-Signature header against a raw body; it is the
// method set of webhook.SignatureVerifier and of *appauth.Verifier.
type PayloadVerifier interface {
	VerifyPayload(header string, payload []byte) (time.Time, error)
}

// CountingVerifier returns v with every failure counted as a "webhook" signature
// failure; pass it to webhook.NewReceiver in place of v.
func (m *Metrics) CountingVerifier(v PayloadVerifier) PayloadVerifier {
	return countingVerifier{v: v, m: m}
}

type countingVerifier struct {
	v PayloadVerifier
	m *Metrics
}

func (c countingVerifier) VerifyPayload(header string, payload []byte) (time.Time, error) {
	t, err := c.v.VerifyPayload(header, payload)
	if err != nil {
		c.m.SignatureFailure("webhook", SignatureFailureReason(err))
	}
	return t, err
}

// EventReceived counts a webhook event stored for the first time.
func (m *Metrics) EventReceived(eventType string) {
	if m == nil {
		return
	}
	m.eventsReceived.WithLabelValues(m.eventTypes.value(eventType)).Inc()
}

// EventDuplicate counts a webhook event acknowledged again (its id was stored before).
func (m *Metrics) EventDuplicate(eventType string) {
	if m == nil {
		return
	}
	m.eventsDuplicate.WithLabelValues(m.eventTypes.value(eventType)).Inc()
}

// EventProcessed counts an event whose processing committed; lag is the time from its
// acknowledgement (received_at) to that commit.
func (m *Metrics) EventProcessed(eventType string, lag time.Duration) {
	if m == nil {
		return
	}
	m.eventsProcessed.WithLabelValues(m.eventTypes.value(eventType)).Inc()
	m.processingLag.Observe(max(lag, 0).Seconds())
}

// EventDead counts an event that failed its last attempt.
func (m *Metrics) EventDead(eventType string) {
	if m == nil {
		return
	}
	m.eventsDead.WithLabelValues(m.eventTypes.value(eventType)).Inc()
}

// WebhookCommit records one inbox transaction of the webhook receiver; its signature
// is that of webhook.Config.ObserveCommit, so the method value can be passed there.
func (m *Metrics) WebhookCommit(events int, took time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.webhookCommits.WithLabelValues(outcome).Inc()
	m.webhookBatch.Observe(float64(events))
	m.webhookCommitTime.Observe(took.Seconds())
}

// JobRun records one run of a River job: its kind, how long Work took and its outcome
// (one of the Job constants).
func (m *Metrics) JobRun(kind string, took time.Duration, outcome string) {
	if m == nil {
		return
	}
	kind = m.jobKinds.value(kind)
	m.jobRuns.WithLabelValues(kind, outcome).Inc()
	m.jobDuration.WithLabelValues(kind).Observe(took.Seconds())
}

// JobMiddleware is River worker middleware that records every job run with
// [Metrics.JobRun]. Install it with river.Config.Middleware (for the inbox's client:
// events.Config.RiverConfig).
func (m *Metrics) JobMiddleware() rivertype.WorkerMiddleware {
	return river.WorkerMiddlewareFunc(func(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
		start := time.Now()
		err := doInner(ctx)
		m.JobRun(job.Kind, time.Since(start), JobOutcome(job, err))
		return err
	})
}

// JobOutcome classifies the result of a job's Work.
func JobOutcome(job *rivertype.JobRow, err error) string {
	var cancel *rivertype.JobCancelError
	var snooze *rivertype.JobSnoozeError
	switch {
	case err == nil:
		return JobCompleted
	case errors.As(err, &cancel):
		return JobCancelled
	case errors.As(err, &snooze):
		return JobSnoozed
	case job.Attempt >= job.MaxAttempts:
		return JobDiscarded
	default:
		return JobRetried
	}
}

// boundedLabel admits up to max distinct label values and maps the rest to OtherLabel.
type boundedLabel struct {
	mu   sync.RWMutex
	max  int
	seen map[string]struct{}
}

func newBoundedLabel(max int) *boundedLabel {
	return &boundedLabel{max: max, seen: make(map[string]struct{})}
}

func (b *boundedLabel) value(v string) string {
	if len(v) > 128 || !utf8.ValidString(v) {
		return OtherLabel
	}
	b.mu.RLock()
	_, ok := b.seen[v]
	b.mu.RUnlock()
	if ok {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return OtherLabel
	}
	b.seen[v] = struct{}{}
	return v
}
