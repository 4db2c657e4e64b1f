package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/appbackend/appbackend/internal/store"
)

// Attribute keys of appbackend's own spans (besides OpenTelemetry's HTTP ones).
const (
	AttrAccount  = attribute.Key("appbackend.account")    // acct_…: the Stripe account concerned
	AttrMode     = attribute.Key("appbackend.mode")       // live or test
	AttrEventID  = attribute.Key("appbackend.event.id")   // evt_…
	AttrEventTyp = attribute.Key("appbackend.event.type") // invoice.paid
	AttrEventIDs = attribute.Key("appbackend.event.ids")  // a processing job's events
	AttrJobKind  = attribute.Key("appbackend.job.kind")   // a River job's kind
	AttrBatch    = attribute.Key("appbackend.batch.size") // events in one webhook commit
	AttrHandler  = attribute.Key("appbackend.handler")    // an event handler's pattern
	AttrDelivery = attribute.Key("appbackend.webhook_id") // a gateway delivery's webhook-id
	AttrRequest  = attribute.Key("appbackend.request_id") // the X-Request-Id answered
)

// instrumentation is the tracer's name.
const instrumentation = "github.com/appbackend/appbackend"

// eventJobKind is events.ProcessEventsArgs' kind (not imported: events is below the
// runtime this package hooks into).
const eventJobKind = "appbackend.process_events"

// Tracing is a running trace pipeline: the SDK's provider exporting over OTLP/HTTP.
type Tracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	s      *Settings
}

// Start builds the provider of s and installs it as OpenTelemetry's global provider
// and propagator too, so that the app's own spans (otel.Tracer) join the same traces.
// Export failures go to logger, at most one line a minute.
func Start(ctx context.Context, s *Settings, logger *slog.Logger) (*Tracing, error) {
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(s.Endpoint.String())}
	if len(s.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(s.Headers))
	}
	if s.Timeout > 0 {
		opts = append(opts, otlptracehttp.WithTimeout(s.Timeout))
	}
	if s.Gzip {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	} else {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithHost(), resource.WithAttributes(s.Resource...))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, err
	}
	var bsp []sdktrace.BatchSpanProcessorOption
	if s.BatchDelay > 0 {
		bsp = append(bsp, sdktrace.WithBatchTimeout(s.BatchDelay))
	}
	if s.ExportTimeout > 0 {
		bsp = append(bsp, sdktrace.WithExportTimeout(s.ExportTimeout))
	}
	if s.MaxQueueSize > 0 {
		bsp = append(bsp, sdktrace.WithMaxQueueSize(s.MaxQueueSize))
	}
	if s.MaxBatchSize > 0 {
		bsp = append(bsp, sdktrace.WithMaxExportBatchSize(s.MaxBatchSize))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, bsp...), sdktrace.WithResource(res), sdktrace.WithSampler(s.Sampler))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(s.Propagator)
	if logger != nil {
		otel.SetErrorHandler(&errorLog{logger: logger})
	}
	return &Tracing{tp: tp, tracer: tp.Tracer(instrumentation), prop: s.Propagator, s: s}, nil
}

// Shutdown exports what is buffered and stops the provider.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }

// ForceFlush exports what is buffered now.
func (t *Tracing) ForceFlush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }

// Describe is the start-up log's view of the settings: where, the service and the
// sampler; never the export headers.
func (t *Tracing) Describe() []any {
	u := *t.s.Endpoint
	u.User, u.RawQuery = nil, "" // either may carry a credential
	return []any{"endpoint", u.String(), "service", t.s.ServiceName(), "sampler", t.s.SamplerName}
}

// errorLog logs the SDK's errors (an unreachable collector) at most once a minute.
type errorLog struct {
	logger *slog.Logger
	last   atomic.Int64
}

func (e *errorLog) Handle(err error) {
	now := time.Now().UnixNano()
	if last := e.last.Load(); now-last < int64(time.Minute) || !e.last.CompareAndSwap(last, now) {
		return
	}
	e.logger.Warn("traces not exported", "err", err)
}

// routeHolder carries a request's route from the router (Route) to the span's name.
type routeHolder struct {
	route string
	set   bool // Route was called: route, even "", is what the name says
}

type routeKey struct{}

// untraced are the routes probes and scrapers call every few seconds: spans of them
// would drown the requests that matter.
func untraced(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// Handler gives every request but /healthz, /readyz and /metrics a server span (a
// child of an incoming traceparent), named by its method and, once Route said it, its
// route. No header value and no body is recorded.
func (t *Tracing) Handler(next http.Handler) http.Handler {
	traced := otelhttp.NewHandler(next, "appbackend",
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(t.prop),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			h, _ := r.Context().Value(routeKey{}).(*routeHolder)
			switch {
			case h != nil && h.set && h.route != "":
				return r.Method + " " + h.route
			case h != nil && h.set, r.Pattern == "":
				return r.Method
			case strings.Contains(r.Pattern, " "):
				return r.Pattern // "POST /v1/jobs"
			}
			return r.Method + " " + r.Pattern
		}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if untraced(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		traced.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, &routeHolder{})))
	})
}

// Route names the request's span by its route pattern (the metrics' label) and
// records the request id answered.
func Route(ctx context.Context, method, route, requestID string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrRequest.String(requestID))
	h, _ := ctx.Value(routeKey{}).(*routeHolder)
	if h != nil {
		h.set = true
	}
	if route == "" || route == "unmatched" {
		return
	}
	// A pattern may name its method ("POST /api/whoami"); the route is its path.
	if m, path, ok := strings.Cut(route, " "); ok && m != "" && strings.Trim(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
		route = strings.TrimSpace(path)
	}
	if h != nil {
		h.route = route
	}
	span.SetName(method + " " + route)
	span.SetAttributes(attribute.String("http.route", route))
}

// Mode names a livemode.
func Mode(livemode bool) string {
	if livemode {
		return "live"
	}
	return "test"
}

// Signed records a signed request's account and, when the payload signed it, mode.
func Signed(ctx context.Context, account string, livemode *bool) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrAccount.String(account))
	if livemode != nil {
		span.SetAttributes(AttrMode.String(Mode(*livemode)))
	}
}

func eventAttrs(ev *store.Event) []attribute.KeyValue {
	return []attribute.KeyValue{AttrEventID.String(ev.ID), AttrEventTyp.String(ev.Type),
		AttrAccount.String(ev.AccountID), AttrMode.String(Mode(ev.Livemode))}
}

// WebhookEvent records on the webhook request's span which event it carries.
func WebhookEvent(ctx context.Context, ev *store.Event) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(eventAttrs(ev)...)
	}
}

// commitKey carries a webhook commit's events' request spans to the job insert.
type commitKey struct{}

// StartCommit starts the span of one webhook batch's commit: a child of the request
// of the batch's first traced event, linked to the other requests. The jobs the
// commit enqueues then carry, each, the traceparent of the request that stored its
// first event (see ConfigureRiver), so that an event's processing is a child of the
// request that stored it. event(i) is the batch's i-th event and its request's span.
// The returned function ends the span; an error is recorded without its text (a
// database's message may quote a row).
func (t *Tracing) StartCommit(ctx context.Context, n int, event func(i int) (id string, sc trace.SpanContext)) (context.Context, func(error)) {
	spans := make(map[string]trace.SpanContext, n)
	var parent trace.SpanContext
	var links []trace.Link
	for i := range n {
		id, sc := event(i)
		if !sc.IsValid() {
			continue
		}
		spans[id] = sc
		switch {
		case !parent.IsValid():
			parent = sc
		case len(links) < 128 && !sc.Equal(parent):
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{AttrEventID.String(id)}})
		}
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	attrs := []attribute.KeyValue{AttrBatch.Int(n)}
	if n == 1 {
		id, _ := event(0)
		attrs = append(attrs, AttrEventID.String(id))
	}
	ctx, span := t.tracer.Start(ctx, "webhook.commit", trace.WithLinks(links...), trace.WithAttributes(attrs...))
	ctx = context.WithValue(ctx, commitKey{}, spans)
	return ctx, func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, "the batch was not stored")
		}
		span.End()
	}
}

// HandleEvent runs an event handler under a span named after the event's type.
func (t *Tracing) HandleEvent(ctx context.Context, handler string, ev *store.Event, fn func(context.Context) error) error {
	ctx, span := t.tracer.Start(ctx, "event "+ev.Type, trace.WithAttributes(append(eventAttrs(ev), AttrHandler.String(handler))...))
	defer span.End()
	err := fn(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "the handler failed")
	}
	return err
}

// ConfigureRiver adds River's own OpenTelemetry middleware (otelriver: a span per
// insert and per job, trace context in the job's metadata) between two of
// appbackend's: outside, one that makes a job's span a child of the span that
// enqueued it (otelriver only links to it); inside, one that gives an event
// processing job the traceparent of the request that stored its first event, and
// names its events on its span.
func (t *Tracing) ConfigureRiver(c *river.Config) {
	c.Middleware = append(c.Middleware,
		&parentMiddleware{},
		otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
			TracerProvider:              t.tp,
			MeterProvider:               metricnoop.NewMeterProvider(),
			EnableTracePropagation:      true,
			EnableWorkSpanJobKindSuffix: true,
		}),
		&eventJobMiddleware{},
	)
}

type parentMiddleware struct{ river.MiddlewareDefaults }

func (parentMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if sc := metadataParent(job.Metadata); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return doInner(ctx)
}

func metadataParent(metadata []byte) trace.SpanContext {
	if len(metadata) == 0 {
		return trace.SpanContext{}
	}
	var meta map[string]any
	if json.Unmarshal(metadata, &meta) != nil {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{}
	for _, k := range []string{"traceparent", "tracestate"} {
		if s, ok := meta[k].(string); ok {
			carrier[k] = s
		}
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
}

type eventJobMiddleware struct{ river.MiddlewareDefaults }

type eventJobArgs struct {
	EventIDs []string `json:"event_ids"`
}

func (eventJobMiddleware) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	spans, _ := ctx.Value(commitKey{}).(map[string]trace.SpanContext)
	for _, p := range params {
		if p.Kind != eventJobKind || len(spans) == 0 {
			continue
		}
		var args eventJobArgs
		if json.Unmarshal(p.EncodedArgs, &args) != nil {
			continue
		}
		for _, id := range args.EventIDs {
			if sc, ok := spans[id]; ok {
				p.Metadata = withTraceparent(p.Metadata, sc)
				break
			}
		}
	}
	return doInner(ctx)
}

// withTraceparent sets metadata's traceparent (and tracestate) to sc's.
func withTraceparent(metadata []byte, sc trace.SpanContext) []byte {
	meta := map[string]any{}
	if len(metadata) > 0 && json.Unmarshal(metadata, &meta) != nil {
		return metadata
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithRemoteSpanContext(context.Background(), sc), carrier)
	delete(meta, "tracestate")
	for k, v := range carrier {
		meta[k] = v
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return metadata
	}
	return b
}

func (eventJobMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(AttrJobKind.String(job.Kind))
		if job.Kind == eventJobKind {
			var args eventJobArgs
			if json.Unmarshal(job.EncodedArgs, &args) == nil {
				span.SetAttributes(AttrEventIDs.StringSlice(args.EventIDs))
			}
		}
	}
	return doInner(ctx)
}

// Transport instruments base for calls made under a span: such a request gets a
// client span, a child of the caller's, named name(r), with the attributes of
// attrs(r) (may be nil), and a W3C traceparent header. url.full is recorded without
// its query string or user info (a query may carry a token); no header value and no
// body is recorded. A request whose context has no span goes straight to base, so an
// untraced process pays nothing but this check.
func Transport(base http.RoundTripper, name func(*http.Request) string, attrs func(*http.Request) []attribute.KeyValue) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &clientTransport{base: base, traced: otelhttp.NewTransport(&scrubbing{base: base, attrs: attrs},
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return name(r) }))}
}

type clientTransport struct {
	base   http.RoundTripper
	traced http.RoundTripper
}

func (t *clientTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return t.base.RoundTrip(r)
	}
	return t.traced.RoundTrip(r)
}

// CloseIdleConnections passes on to base (http.Client.CloseIdleConnections).
func (t *clientTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// scrubbing runs under otelhttp's span: it replaces otelhttp's url.full, which keeps
// the query, and adds the caller's attributes.
type scrubbing struct {
	base  http.RoundTripper
	attrs func(*http.Request) []attribute.KeyValue
}

func (s *scrubbing) RoundTrip(r *http.Request) (*http.Response, error) {
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() && r.URL != nil {
		u := *r.URL
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
		span.SetAttributes(attribute.String("url.full", u.String()))
		if s.attrs != nil {
			span.SetAttributes(s.attrs(r)...)
		}
	}
	return s.base.RoundTrip(r)
}

// StripeSpanName is "stripe METHOD /v1/path" with the object ids of the path
// replaced by {id}, so that span names stay few.
func StripeSpanName(r *http.Request) string {
	segs := strings.Split(r.URL.Path, "/")
	for i, s := range segs {
		if i > 1 && looksLikeID(s) {
			segs[i] = "{id}"
		}
	}
	return "stripe " + r.Method + " " + strings.Join(segs, "/")
}

// looksLikeID: Stripe's ids are a prefix, an underscore and a random part (cus_…,
// acct_1…); so are secrets' (never in a path) and names such as payment_intents
// (no digit).
func looksLikeID(s string) bool {
	i := strings.IndexByte(s, '_')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	return strings.ContainsAny(s[i+1:], "0123456789") || len(s) > 24
}
