// Package telemetry exports OpenTelemetry traces of a running appbackend: a span for
// each HTTP request, the webhook's commit, each River job, each event handler, each
// Stripe API call, each outbound call and, in gateway mode, the proxied request and
// each delivery, with W3C traceparent sent along. It is configured only by the
// standard OTEL_* variables (FromEnv) and is off when they are unset: then nothing in
// this package is on the request path, so it costs nothing.
//
// Spans carry names, never secrets: no header value (Stripe-Signature,
// Authorization), no body, no query string of a call.
package telemetry

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ErrConfig marks a bad OTEL_* value; callers wrap it in their own configuration error.
var ErrConfig = errors.New("invalid OpenTelemetry configuration")

// DefaultServiceName is service.name when neither OTEL_SERVICE_NAME nor
// OTEL_RESOURCE_ATTRIBUTES names the service.
const DefaultServiceName = "appbackend"

// defaultEndpoint is the OTLP/HTTP traces URL when OTEL_TRACES_EXPORTER=otlp names no
// endpoint, as the specification has it.
const defaultEndpoint = "http://localhost:4318/v1/traces"

// Settings are the OTEL_* variables, parsed. FromEnv returns nil when traces are off.
type Settings struct {
	// Endpoint is the full URL spans are POSTed to (…/v1/traces).
	Endpoint *url.URL
	// Headers are sent with every export (OTEL_EXPORTER_OTLP_[TRACES_]HEADERS): often a
	// vendor's API key, so never logged.
	Headers map[string]string
	// Timeout bounds one export; Gzip compresses it.
	Timeout time.Duration
	Gzip    bool
	// Resource attributes (OTEL_RESOURCE_ATTRIBUTES), service.name among them.
	Resource []attribute.KeyValue
	Sampler  sdktrace.Sampler
	// SamplerName is OTEL_TRACES_SAMPLER as given (for the start-up line).
	SamplerName string
	// Propagator reads and writes trace context on HTTP (OTEL_PROPAGATORS).
	Propagator propagation.TextMapPropagator
	// Batch span processor (OTEL_BSP_*); zero leaves the SDK's default.
	BatchDelay, ExportTimeout  time.Duration
	MaxQueueSize, MaxBatchSize int
}

// ServiceName is the service.name of the settings' resource.
func (s *Settings) ServiceName() string {
	for _, kv := range s.Resource {
		if kv.Key == "service.name" {
			return kv.Value.AsString()
		}
	}
	return DefaultServiceName
}

func bad(name, value, want string) error {
	return fmt.Errorf("%w: %s %q %s", ErrConfig, name, value, want)
}

// FromEnv reads the standard OTEL_* variables through getenv. Traces are on when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (or
// OTEL_TRACES_EXPORTER=otlp, to localhost:4318), unless OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none; off, FromEnv returns nil. A value that does not parse is
// an error wrapping ErrConfig whether or not traces are on, so that a typo is not
// found out by the traces missing; a valid choice that is not supported (the grpc
// protocol, the console exporter) is refused only when traces are on.
func FromEnv(getenv func(string) string) (*Settings, error) {
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	switch v := strings.ToLower(env("OTEL_SDK_DISABLED")); v {
	case "true":
		return nil, nil
	case "", "false":
	default:
		return nil, bad("OTEL_SDK_DISABLED", v, "is not true or false")
	}

	exporter := strings.ToLower(env("OTEL_TRACES_EXPORTER"))
	var unsupported error
	switch exporter {
	case "", "otlp", "none":
	case "console", "zipkin", "jaeger", "logging":
		unsupported = bad("OTEL_TRACES_EXPORTER", exporter, "is not supported: use otlp or none")
	default:
		return nil, bad("OTEL_TRACES_EXPORTER", exporter, "is not an exporter (otlp, none)")
	}

	s := &Settings{}
	generic, traces := env("OTEL_EXPORTER_OTLP_ENDPOINT"), env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	var err error
	switch {
	case traces != "":
		// The signal's own endpoint is used as given.
		s.Endpoint, err = parseEndpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces)
	case generic != "":
		// The generic one is a base: the signal's path goes under it.
		s.Endpoint, err = parseEndpoint("OTEL_EXPORTER_OTLP_ENDPOINT", generic)
		if err == nil {
			s.Endpoint.Path = strings.TrimSuffix(s.Endpoint.Path, "/") + "/v1/traces"
			s.Endpoint.RawPath = ""
		}
	default:
		s.Endpoint, _ = url.Parse(defaultEndpoint)
	}
	if err != nil {
		return nil, err
	}
	if traces != "" && generic != "" {
		if _, err := parseEndpoint("OTEL_EXPORTER_OTLP_ENDPOINT", generic); err != nil {
			return nil, err
		}
	}

	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		switch v := env(name); v {
		case "", "http/protobuf":
		case "grpc", "http/json":
			if unsupported == nil {
				unsupported = bad(name, v, "is not supported: use http/protobuf (an OpenTelemetry Collector takes it on port 4318)")
			}
		default:
			return nil, bad(name, v, "is not a protocol (http/protobuf, grpc, http/json)")
		}
	}

	s.Headers = map[string]string{}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		// The signal's own headers come second, so that they win.
		if err := parseHeaders(name, env(name), s.Headers); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"} {
		if v := env(name); v != "" {
			ms, err := strconv.Atoi(v)
			if err != nil || ms <= 0 {
				return nil, bad(name, v, "is not a positive number of milliseconds")
			}
			s.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"} {
		switch v := strings.ToLower(env(name)); v {
		case "":
		case "gzip":
			s.Gzip = true
		case "none":
			s.Gzip = false
		default:
			return nil, bad(name, v, "is not gzip or none")
		}
	}

	if s.Resource, err = parseResource(env("OTEL_RESOURCE_ATTRIBUTES"), env("OTEL_SERVICE_NAME")); err != nil {
		return nil, err
	}
	s.SamplerName = strings.ToLower(env("OTEL_TRACES_SAMPLER"))
	if s.Sampler, err = parseSampler(s.SamplerName, env("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return nil, err
	}
	if s.SamplerName == "" {
		s.SamplerName = "parentbased_always_on"
	}
	if s.Propagator, err = parsePropagators(env("OTEL_PROPAGATORS")); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"OTEL_BSP_SCHEDULE_DELAY", &s.BatchDelay}, {"OTEL_BSP_EXPORT_TIMEOUT", &s.ExportTimeout}} {
		if v := env(d.name); v != "" {
			ms, err := strconv.Atoi(v)
			if err != nil || ms <= 0 {
				return nil, bad(d.name, v, "is not a positive number of milliseconds")
			}
			*d.to = time.Duration(ms) * time.Millisecond
		}
	}
	for _, n := range []struct {
		name string
		to   *int
	}{{"OTEL_BSP_MAX_QUEUE_SIZE", &s.MaxQueueSize}, {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &s.MaxBatchSize}} {
		if v := env(n.name); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i <= 0 {
				return nil, bad(n.name, v, "is not a positive number")
			}
			*n.to = i
		}
	}

	on := exporter == "otlp" || (exporter == "" && (generic != "" || traces != ""))
	if !on {
		return nil, nil
	}
	if unsupported != nil {
		return nil, unsupported
	}
	return s, nil
}

// parseEndpoint accepts an absolute http:// or https:// URL with a host. The value is
// not quoted back in the error: a URL may carry credentials.
func parseEndpoint(name, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %s is not an http:// or https:// URL with a host, such as http://localhost:4318", ErrConfig, name)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%w: %s has an invalid port", ErrConfig, name)
		}
	}
	return u, nil
}

// parseHeaders reads a W3C-baggage-like list key=value,key=value, values
// percent-encoded. Values are never quoted back: they are credentials.
func parseHeaders(name, v string, into map[string]string) error {
	if v == "" {
		return nil
	}
	for i, item := range strings.Split(v, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, val, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return fmt.Errorf("%w: %s entry %d is not key=value", ErrConfig, name, i+1)
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil || strings.ContainsAny(dec, "\r\n") {
			return fmt.Errorf("%w: %s entry %d (%s) has a value that is not percent-encoded text", ErrConfig, name, i+1, k)
		}
		into[k] = dec
	}
	return nil
}

// parseResource reads OTEL_RESOURCE_ATTRIBUTES (key=value,…, values percent-encoded)
// and sets service.name: OTEL_SERVICE_NAME first, then the attributes', then appbackend.
func parseResource(attrs, service string) ([]attribute.KeyValue, error) {
	var kvs []attribute.KeyValue
	named := false
	if attrs != "" {
		for i, item := range strings.Split(attrs, ",") {
			if strings.TrimSpace(item) == "" {
				continue
			}
			k, v, ok := strings.Cut(item, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return nil, bad("OTEL_RESOURCE_ATTRIBUTES", attrs, fmt.Sprintf("entry %d is not key=value", i+1))
			}
			dec, err := url.PathUnescape(strings.TrimSpace(v))
			if err != nil {
				return nil, bad("OTEL_RESOURCE_ATTRIBUTES", attrs, fmt.Sprintf("entry %d has a value that is not percent-encoded", i+1))
			}
			if k == "service.name" {
				if service != "" {
					continue
				}
				named = true
			}
			kvs = append(kvs, attribute.String(k, dec))
		}
	}
	if service != "" {
		kvs = append(kvs, attribute.String("service.name", service))
	} else if !named {
		kvs = append(kvs, attribute.String("service.name", DefaultServiceName))
	}
	return kvs, nil
}

func parseSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, bad("OTEL_TRACES_SAMPLER_ARG", arg, "is not a ratio between 0 and 1")
		}
		return r, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		r, err := ratio()
		return sdktrace.TraceIDRatioBased(r), err
	case "parentbased_traceidratio":
		r, err := ratio()
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), err
	}
	return nil, bad("OTEL_TRACES_SAMPLER", name, "is not a sampler (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)")
}

func parsePropagators(v string) (propagation.TextMapPropagator, error) {
	if v == "" {
		return propagation.TraceContext{}, nil
	}
	var ps []propagation.TextMapPropagator
	for p := range strings.SplitSeq(strings.ToLower(v), ",") {
		switch strings.TrimSpace(p) {
		case "tracecontext":
			ps = append(ps, propagation.TraceContext{})
		case "baggage":
			ps = append(ps, propagation.Baggage{})
		case "none":
		default:
			return nil, bad("OTEL_PROPAGATORS", v, "names a propagator other than tracecontext, baggage or none")
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...), nil
}
