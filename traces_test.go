package appbackend_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/outbound"
)

// otlpReceiver is an OTLP/HTTP traces endpoint: it decodes what the exporter POSTs to
// /v1/traces with the OTLP protobuf types, as a collector would.
type otlpReceiver struct {
	URL string

	mu       sync.Mutex
	spans    []*tracepb.Span
	resource []*commonpb.KeyValue
	headers  []http.Header
	arrived  chan struct{} // signalled after each export
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{arrived: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces application/x-protobuf", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.headers = append(rc.headers, r.Header.Clone())
		for _, rs := range req.ResourceSpans {
			rc.resource = rs.GetResource().GetAttributes()
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		select {
		case rc.arrived <- struct{}{}:
		default:
		}
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

// waitFor returns the first span ok accepts, waiting for exports (not polling) until
// WaitTimeout.
func (rc *otlpReceiver) waitFor(t *testing.T, what string, ok func(*tracepb.Span) bool) *tracepb.Span {
	t.Helper()
	deadline := time.After(appbackendtest.WaitTimeout)
	for {
		rc.mu.Lock()
		for _, s := range rc.spans {
			if ok(s) {
				rc.mu.Unlock()
				return s
			}
		}
		rc.mu.Unlock()
		select {
		case <-rc.arrived:
		case <-deadline:
			require.Failf(t, "no span was exported", "want %s; got:\n%s", what, rc.dump())
		}
	}
}

func (rc *otlpReceiver) dump() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var b strings.Builder
	for _, s := range rc.spans {
		fmt.Fprintf(&b, "%s trace=%x span=%x parent=%x", s.Name, s.TraceId, s.SpanId, s.ParentSpanId)
		for _, kv := range s.Attributes {
			fmt.Fprintf(&b, " %s=%s", kv.Key, valueText(kv.Value))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func named(name string) func(*tracepb.Span) bool {
	return func(s *tracepb.Span) bool { return s.Name == name }
}

func childOf(parent *tracepb.Span, name string) func(*tracepb.Span) bool {
	return func(s *tracepb.Span) bool {
		return s.Name == name && string(s.TraceId) == string(parent.TraceId) && string(s.ParentSpanId) == string(parent.SpanId)
	}
}

func valueText(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_ArrayValue:
		var parts []string
		for _, e := range x.ArrayValue.Values {
			parts = append(parts, valueText(e))
		}
		return strings.Join(parts, ",")
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	}
	return fmt.Sprint(v.GetValue())
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return valueText(kv.Value)
		}
	}
	return ""
}

// tracedConfig points an app's traces at rc through the OTEL_* variables, as serve
// reads them; otelHeader is an export header (a vendor's key) that must reach the
// receiver and nothing else.
func tracedConfig(t *testing.T, rc *otlpReceiver, database string) appbackendtest.Option {
	return appbackendtest.WithConfig(func(c *appbackend.Config) {
		tracing, err := appbackend.TracingFromEnv(envFunc(map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": rc.URL,
			"OTEL_EXPORTER_OTLP_HEADERS":  "x-otlp-key=" + otelHeader,
			"OTEL_SERVICE_NAME":           "traced-app",
			"OTEL_BSP_SCHEDULE_DELAY":     "20",
		}))
		require.NoError(t, err)
		require.NotNil(t, tracing)
		c.Tracing = tracing
		c.Database = database
	})
}

const otelHeader = "otlpheadersecret0123"

func testDatabases(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "traces.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	}
}

// TestTracesFollowASignedRequestAndAnEventToStripe: with OTEL_EXPORTER_OTLP_ENDPOINT
// set, a signed request's span has its Stripe call as a child, and an event's spans
// go from the webhook POST through the commit to the processing job (a child of the
// request that stored the event), its handler and the handler's Stripe call; no span
// carries a secret, a signature or a body.
func TestTracesFollowASignedRequestAndAnEventToStripe(t *testing.T) {
	t.Parallel()
	for name, database := range testDatabases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rc := newOTLPReceiver(t)
			const adminToken = "admintokensecret-0123456789"
			var app *appbackendtest.App
			app = appbackendtest.Start(t, func(a *appbackend.App) {
				a.HandleFunc("POST /api/customers", func(w http.ResponseWriter, r *http.Request) {
					sc, err := a.Stripe(r.Context())
					if err != nil {
						a.WriteError(w, r, err)
						return
					}
					cus, err := sc.V1Customers.Create(r.Context(), &stripe.CustomerCreateParams{Email: stripe.String("bodymarker@example.com")})
					if err != nil {
						a.WriteError(w, r, err)
						return
					}
					appbackend.WriteJSON(w, http.StatusOK, map[string]string{"id": cus.ID})
				})
				a.OnEvent("customer.created", func(ctx context.Context, ev appbackend.Event) error {
					sc, err := a.Stripe(ctx)
					if err != nil {
						return err
					}
					_, err = sc.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("bodymarker@example.com")})
					return err
				})
			}, tracedConfig(t, rc, database(t)), appbackendtest.WithConfig(func(c *appbackend.Config) { c.AdminToken = adminToken }))

			// (a) A signed request calling Stripe.
			res := app.As("usr_traced", "acct_traced").Post(t, "/api/customers", map[string]any{"note": "bodymarker"})
			require.Equal(t, http.StatusOK, res.Status, res.String())
			server := rc.waitFor(t, "POST /api/customers", named("POST /api/customers"))
			require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, server.Kind)
			require.Equal(t, "acct_traced", attr(server, "appbackend.account"))
			require.Equal(t, "/api/customers", attr(server, "http.route"))
			require.Equal(t, "200", attr(server, "http.response.status_code"))
			call := rc.waitFor(t, "stripe POST /v1/customers under the request", childOf(server, "stripe POST /v1/customers"))
			require.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, call.Kind)
			require.Equal(t, "acct_traced", attr(call, "appbackend.account"))
			require.Equal(t, "test", attr(call, "appbackend.mode"))
			require.NotContains(t, attr(call, "url.full"), "?")

			// (b) An event from the webhook POST to its handler's Stripe call.
			app.Install(t, "acct_traced", false)
			id := app.Deliver(t, appbackendtest.Event{Type: "customer.created", Account: "acct_traced"})
			app.WaitForEvent(t, id)
			hook := rc.waitFor(t, "POST /webhooks/stripe for "+id, func(s *tracepb.Span) bool {
				return s.Name == "POST /webhooks/stripe" && attr(s, "appbackend.event.id") == id
			})
			require.Equal(t, "customer.created", attr(hook, "appbackend.event.type"))
			require.Equal(t, "acct_traced", attr(hook, "appbackend.account"))
			require.Equal(t, "test", attr(hook, "appbackend.mode"))
			commit := rc.waitFor(t, "webhook.commit under the request", childOf(hook, "webhook.commit"))
			require.Equal(t, id, attr(commit, "appbackend.event.id"))
			rc.waitFor(t, "river.insert_many under the commit", childOf(commit, "river.insert_many"))
			work := rc.waitFor(t, "the processing job under the request", childOf(hook, "river.work/appbackend.process_events"))
			require.Equal(t, tracepb.Span_SPAN_KIND_CONSUMER, work.Kind)
			require.Contains(t, attr(work, "appbackend.event.ids"), id)
			require.Equal(t, "appbackend.process_events", attr(work, "appbackend.job.kind"))
			handler := rc.waitFor(t, "the handler under the job", childOf(work, "event customer.created"))
			require.Equal(t, id, attr(handler, "appbackend.event.id"))
			require.Equal(t, "customer.created", attr(handler, "appbackend.handler"))
			rc.waitFor(t, "the handler's Stripe call", childOf(handler, "stripe POST /v1/customers"))

			// Admin requests are traced too; their bearer token is not.
			req, err := http.NewRequest(http.MethodGet, app.URL+"/admin/api/events", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			rc.waitFor(t, "an admin request", func(s *tracepb.Span) bool {
				return strings.HasPrefix(s.Name, "GET ") && attr(s, "url.path") == "/admin/api/events"
			})

			// Nothing secret anywhere in what was exported.
			rc.mu.Lock()
			defer rc.mu.Unlock()
			require.Equal(t, otelHeader, rc.headers[0].Get("X-Otlp-Key"), "OTEL_EXPORTER_OTLP_HEADERS reach the collector")
			var all strings.Builder
			for _, kv := range rc.resource {
				fmt.Fprintf(&all, "%s=%s\n", kv.Key, valueText(kv.Value))
			}
			require.Contains(t, all.String(), "service.name=traced-app")
			for _, s := range rc.spans {
				fmt.Fprintf(&all, "%s %s\n", s.Name, s.GetStatus().GetMessage())
				for _, kv := range s.Attributes {
					fmt.Fprintf(&all, "%s=%s\n", kv.Key, valueText(kv.Value))
				}
				for _, e := range s.Events {
					fmt.Fprintf(&all, "event %s\n", e.Name)
					for _, kv := range e.Attributes {
						fmt.Fprintf(&all, "%s=%s\n", kv.Key, valueText(kv.Value))
					}
				}
				for _, l := range s.Links {
					for _, kv := range l.Attributes {
						fmt.Fprintf(&all, "link %s=%s\n", kv.Key, valueText(kv.Value))
					}
				}
			}
			text := all.String()
			for _, secret := range []string{
				appbackendtest.AppSecret, appbackendtest.LiveWebhookSecret, appbackendtest.TestWebhookSecret,
				appbackendtest.TestSecretKey, adminToken, otelHeader, "Bearer", "v1=", "bodymarker",
			} {
				require.NotContains(t, text, secret)
			}
		})
	}
}

// TestTracesInGatewayMode: the proxied request and each event delivery get a client
// span, and the upstream receives a W3C traceparent naming it, so that its own spans
// continue the trace.
func TestTracesInGatewayMode(t *testing.T) {
	t.Parallel()
	rc := newOTLPReceiver(t)
	b := setupGateway(t, func(c *appbackend.Config) {
		tracing, err := appbackend.TracingFromEnv(envFunc(map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rc.URL + "/v1/traces",
			"OTEL_BSP_SCHEDULE_DELAY":            "20",
		}))
		require.NoError(t, err)
		c.Tracing = tracing
	})
	resp := b.app.As("usr_1", "acct_gw").WithLivemode(false).Post(t, "/api/things?page=2", map[string]any{"hello": "world"})
	require.Equal(t, http.StatusOK, resp.Status, resp.String())
	server := rc.waitFor(t, "the proxied request", func(s *tracepb.Span) bool { return s.Name == "POST /api/ (upstream)" })
	require.Equal(t, "acct_gw", attr(server, "appbackend.account"))
	require.Equal(t, "test", attr(server, "appbackend.mode"))
	proxied := rc.waitFor(t, "the call upstream", childOf(server, "upstream POST"))
	require.Equal(t, "acct_gw", attr(proxied, "appbackend.account"))
	require.NotContains(t, attr(proxied, "url.full"), "page=2")
	c := b.upstream.waitFor(t, func(c recordedCall) bool { return strings.Contains(c.Path, "/api/things") })
	require.Equal(t, traceparent(proxied), c.Header.Get("Traceparent"))

	b.app.Install(t, "acct_gw", false)
	id := b.app.Deliver(t, appbackendtest.Event{Type: "customer.created", Account: "acct_gw"})
	b.app.WaitForEvent(t, id)
	delivery := rc.waitFor(t, "the delivery of "+id, func(s *tracepb.Span) bool {
		return s.Name == "deliver POST /stripe-app/appbackend/events" && attr(s, "appbackend.webhook_id") == id
	})
	require.Equal(t, "acct_gw", attr(delivery, "appbackend.account"))
	require.Equal(t, "test", attr(delivery, "appbackend.mode"))
	hook := rc.waitFor(t, "the webhook of "+id, func(s *tracepb.Span) bool {
		return attr(s, "appbackend.event.id") == id && s.Name == "POST /webhooks/stripe"
	})
	require.Equal(t, string(hook.TraceId), string(delivery.TraceId), "the delivery is in the trace of the request that stored the event")
	c = b.upstream.waitFor(t, func(c recordedCall) bool { return c.Header.Get("Webhook-Id") == id })
	require.Equal(t, traceparent(delivery), c.Header.Get("Traceparent"))
}

func traceparent(s *tracepb.Span) string {
	return "00-" + hex.EncodeToString(s.TraceId) + "-" + hex.EncodeToString(s.SpanId) + "-01"
}

// TestTracingFromEnv: off unless an endpoint (or OTEL_TRACES_EXPORTER=otlp) is set,
// and a value that does not parse is refused with one line naming the variable.
func TestTracingFromEnv(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"unset":          {},
		"service only":   {"OTEL_SERVICE_NAME": "x"},
		"disabled":       {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
		"exporter none":  {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
		"grpc while off": {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
	} {
		s, err := appbackend.TracingFromEnv(envFunc(env))
		require.NoError(t, err, name)
		require.Nil(t, s, name)
	}
	s, err := appbackend.TracingFromEnv(envFunc(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/base/"}))
	require.NoError(t, err)
	require.Equal(t, "http://collector:4318/base/v1/traces", s.Endpoint.String())
	require.Equal(t, "appbackend", s.ServiceName())
	s, err = appbackend.TracingFromEnv(envFunc(map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25", "OTEL_RESOURCE_ATTRIBUTES": "service.name=fromattrs,deployment.environment=prod"}))
	require.NoError(t, err)
	require.Equal(t, "http://localhost:4318/v1/traces", s.Endpoint.String())
	require.Equal(t, "fromattrs", s.ServiceName())

	const ep = "http://collector:4318"
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"protocol":      {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/xml"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		"grpc":          {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "use http/protobuf"},
		"sampler":       {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
		"sampler arg":   {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"},
		"endpoint":      {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		"bad url":       {map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://[::1"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		"port":          {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:99999"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		"disabled":      {map[string]string{"OTEL_SDK_DISABLED": "yes"}, "OTEL_SDK_DISABLED"},
		"exporter":      {map[string]string{"OTEL_TRACES_EXPORTER": "otlpp"}, "OTEL_TRACES_EXPORTER"},
		"headers":       {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_EXPORTER_OTLP_HEADERS": "api-key"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		"timeout":       {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		"compression":   {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		"propagators":   {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_PROPAGATORS": "b3"}, "OTEL_PROPAGATORS"},
		"bsp":           {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_BSP_SCHEDULE_DELAY": "soon"}, "OTEL_BSP_SCHEDULE_DELAY"},
		"resource":      {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_RESOURCE_ATTRIBUTES": "novalue"}, "OTEL_RESOURCE_ATTRIBUTES"},
		"bad while off": {map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
	} {
		_, err := appbackend.TracingFromEnv(envFunc(c.env))
		require.ErrorIs(t, err, appbackend.ErrConfig, name)
		require.ErrorContains(t, err, c.want, name)
		require.NotContains(t, err.Error(), "\n", name)
	}
	// An endpoint's credentials are not quoted back.
	_, err = appbackend.TracingFromEnv(envFunc(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://user:hunter2@collector"}))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

// TestTracesOfOutboundCalls: an outbound call made under a traced request gets a
// client span, a child of the request's, recorded without its query (which may hold a
// token), and the API called receives the traceparent.
func TestTracesOfOutboundCalls(t *testing.T) {
	t.Parallel()
	rc := newOTLPReceiver(t)
	got := make(chan string, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Traceparent")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(api.Close)
	client := outbound.New(outbound.Config{})
	app := appbackendtest.Start(t, func(a *appbackend.App) {
		a.HandleFunc("POST /api/sync", func(w http.ResponseWriter, r *http.Request) {
			if err := client.GetJSON(r.Context(), api.URL+"/contacts?api_token=outboundsecret", nil, nil); err != nil {
				a.WriteError(w, r, err)
				return
			}
			appbackend.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
		})
	}, tracedConfig(t, rc, "sqlite:"+filepath.Join(t.TempDir(), "outbound.db")))
	res := app.As("usr_1", "acct_out").Post(t, "/api/sync", nil)
	require.Equal(t, http.StatusOK, res.Status, res.String())
	server := rc.waitFor(t, "POST /api/sync", named("POST /api/sync"))
	call := rc.waitFor(t, "outbound GET under the request", childOf(server, "outbound GET"))
	require.Equal(t, api.URL+"/contacts", attr(call, "url.full"))
	require.Equal(t, traceparent(call), <-got)
	require.NotContains(t, rc.dump(), "outboundsecret")
}
