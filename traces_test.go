package appbackend_test

import (
	"context"
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
			t.Fatalf("no span %s was exported; got:\n%s", what, rc.dump())
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
