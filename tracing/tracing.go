// Package tracing builds the OpenTelemetry SDK that exports the gateway's
// spans: the tracer provider, its batch processor with a bounded queue, the
// OTLP exporter (gRPC or HTTP/protobuf), the parent-based sampler and the
// resource (service.name, service.version), from the tracing block of the
// file and the standard OTEL_* environment variables.
//
// It is its own top-level package because building the SDK from the file
// and the environment is shared by serve, the decision service and reload
// (which keep the provider a gateway started with), and none of proxy,
// token, jwks or gateway owns it: proxy, token and jwks only ever see the
// OpenTelemetry trace API (a trace.Tracer, the span in a context), never
// the SDK, and gateway only hands the tracer on.
//
// It must never make a request wait for export: a span that finds the
// queue full is dropped and counted (portcullis_tracing_spans_dropped_total),
// and exports run in the background, bounded by tracing.timeout. It must
// never put a token or a claim into a span: it only carries what the
// request path chose to record.
//
// One concern a file: tracing.go resolves the settings (file first, then
// the environment) and builds the provider; export.go counts what reaches
// the collector and what does not.
package tracing

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/remote"
)

// TracerName is the instrumentation scope of every span the gateway makes.
const TracerName = "github.com/portcullis/portcullis"

// DefaultQueueSize is the export queue's bound when neither
// tracing.queue_size nor OTEL_BSP_MAX_QUEUE_SIZE says: the SDK's own.
const DefaultQueueSize = sdktrace.DefaultMaxQueueSize

// DefaultServiceName is service.name when neither the file nor the
// environment names the service.
const DefaultServiceName = "portcullis"

// Tracing is a running tracer provider and what feeds it. A nil *Tracing is
// tracing off: every method works on it and does nothing.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	settings Settings
}

// Settings are the resolved settings, file and environment together, as
// the start-up log line reports them (never the headers' values).
type Settings struct {
	Protocol    string
	Endpoint    string // the file's, else the environment's; "" for the exporter's default (localhost)
	ServiceName string
	QueueSize   int
	Sampler     string // what decides new traces, in words
}

// New starts the tracer provider that c and the environment describe, or
// returns nil when tracing is off (c.Enabled false, or OTEL_SDK_DISABLED
// set to true). m counts exported and dropped spans; log receives export
// failures (rate-limited) and the SDK's own errors. Nothing is dialled
// here: an unreachable collector costs dropped spans, never a failed start.
func New(ctx context.Context, c config.Tracing, m *metrics.Tracing, log *zap.Logger) (*Tracing, error) {
	if !c.Enabled || envTrue("OTEL_SDK_DISABLED") {
		return nil, nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = metrics.NewTracing()
	}
	s, exporter, err := newExporter(ctx, c)
	if err != nil {
		return nil, err
	}
	s.QueueSize = c.QueueSize
	if s.QueueSize == 0 {
		s.QueueSize = envInt("OTEL_BSP_MAX_QUEUE_SIZE", DefaultQueueSize)
	}
	res, err := newResource(ctx, c.ServiceName)
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES still leaves a usable
		// resource: tell, and go on with it.
		log.Warn("tracing: some resource attributes were not read", zap.Error(err))
	}
	if v, ok := res.Set().Value("service.name"); ok {
		s.ServiceName = v.AsString()
	}
	// The SDK's own errors (an export that failed, a partial success)
	// are reported by the counting exporter, once in a while; through
	// the global handler they would reach stderr, unstructured, on every
	// batch. (The handler is process-wide: the last gateway started wins.)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Debug("tracing: opentelemetry sdk", zap.Error(err))
	}))
	q := newQueue(s.QueueSize, m)
	counted := &countingExporter{next: exporter, queue: q, log: log,
		exported: m.Exported, failed: m.Dropped.WithLabelValues(metrics.SpansExportError)}
	batch := sdktrace.NewBatchSpanProcessor(counted,
		sdktrace.WithMaxQueueSize(s.QueueSize),
		sdktrace.WithMaxExportBatchSize(min(sdktrace.DefaultMaxExportBatchSize, s.QueueSize)))
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(&boundedProcessor{SpanProcessor: batch, queue: q}),
	}
	s.Sampler = samplerWords()
	if r := c.SampleRatio; r != nil {
		// The file's ratio wins over OTEL_TRACES_SAMPLER; without one, the
		// SDK reads the environment itself, and its default is
		// parentbased_always_on.
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*r))))
		s.Sampler = "parentbased_traceidratio " + strconv.FormatFloat(*r, 'g', -1, 64)
	}
	provider := sdktrace.NewTracerProvider(opts...)
	return &Tracing{
		provider: provider,
		tracer:   provider.Tracer(TracerName, trace.WithInstrumentationVersion(version())),
		settings: s,
	}, nil
}

// Tracer is the tracer of the request path; nil when t is nil, which the
// request path reads as tracing off.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return nil
	}
	return t.tracer
}

// Provider is the tracer provider, for the stages that start spans of
// their own (a JWKS refresh); nil when t is nil.
func (t *Tracing) Provider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.provider
}

// Settings are the resolved settings.
func (t *Tracing) Settings() Settings {
	if t == nil {
		return Settings{}
	}
	return t.settings
}

// Shutdown exports the spans still queued, within ctx, and stops the
// provider; spans that end afterwards are not recorded.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// displayEndpoint is an endpoint from the environment as the start-up line
// may show it: credentials in its user part or query (which the file's
// endpoint may not have, config refuses them) replaced by "redacted".
func displayEndpoint(e string) string {
	if u, err := url.Parse(e); err == nil && u.Host != "" {
		if u.User != nil {
			u.User = url.User("redacted")
		}
		if u.RawQuery != "" {
			u.RawQuery = "redacted"
		}
		return u.String()
	}
	if i := strings.LastIndexByte(e, '@'); i >= 0 {
		return "redacted" + e[i:] // host:port with a user part: no scheme to parse by
	}
	return e
}

// newExporter builds the OTLP exporter that c describes, the environment
// filling what c leaves empty: the exporters read OTEL_EXPORTER_OTLP_* for
// every option they are not given.
func newExporter(ctx context.Context, c config.Tracing) (Settings, sdktrace.SpanExporter, error) {
	s := Settings{Protocol: c.Protocol, Endpoint: c.Endpoint}
	if s.Protocol == "" {
		s.Protocol = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	}
	if s.Protocol == "" {
		s.Protocol = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	if s.Protocol == "" {
		s.Protocol = config.TracingGRPC
	}
	if s.Endpoint == "" {
		// For the start-up line only: the exporter reads these itself.
		s.Endpoint = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
		if s.Endpoint == "" {
			s.Endpoint = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
		}
		s.Endpoint = displayEndpoint(s.Endpoint)
	}
	headers, err := readHeaders(c.Headers)
	if err != nil {
		return s, nil, err
	}
	switch s.Protocol {
	case config.TracingGRPC:
		var opts []otlptracegrpc.Option
		if e := c.Endpoint; strings.Contains(e, "://") {
			opts = append(opts, otlptracegrpc.WithEndpointURL(e))
		} else if e != "" {
			opts = append(opts, otlptracegrpc.WithEndpoint(e))
		}
		if c.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if headers != nil {
			opts = append(opts, otlptracegrpc.WithHeaders(headers))
		}
		if c.Timeout > 0 {
			opts = append(opts, otlptracegrpc.WithTimeout(c.Timeout.D()))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		return s, exp, err
	case config.TracingHTTPProtobuf:
		var opts []otlptracehttp.Option
		if e := c.Endpoint; e != "" {
			u, err := url.Parse(e)
			if err != nil {
				return s, nil, fmt.Errorf("tracing.endpoint: %w", err)
			}
			if u.Path == "" || u.Path == "/" {
				// As OTEL_EXPORTER_OTLP_ENDPOINT is read: a base URL
				// to which the signal's path is added.
				u.Path = "/v1/traces"
			}
			s.Endpoint = u.String()
			opts = append(opts, otlptracehttp.WithEndpointURL(s.Endpoint))
		}
		if c.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		if headers != nil {
			opts = append(opts, otlptracehttp.WithHeaders(headers))
		}
		if c.Timeout > 0 {
			opts = append(opts, otlptracehttp.WithTimeout(c.Timeout.D()))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		return s, exp, err
	}
	return s, nil, fmt.Errorf("tracing: OTLP protocol %q is not supported: grpc or http/protobuf", s.Protocol)
}

// readHeaders resolves the values written "@file". Errors name the header
// and the file, never a value.
func readHeaders(in map[string]string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for name, v := range in {
		if path, ok := strings.CutPrefix(v, "@"); ok {
			secret, err := remote.SecretFile(strings.TrimSpace(path))
			if err != nil {
				return nil, fmt.Errorf("tracing.headers.%s: %w", name, err)
			}
			if strings.ContainsAny(secret, "\r\x00") {
				return nil, fmt.Errorf("tracing.headers.%s: %s holds a control character", name, path)
			}
			v = secret
		}
		out[name] = v
	}
	return out, nil
}

// newResource is service.name and service.version, with what
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES add: the file's
// service_name wins over them, and they over the default name.
func newResource(ctx context.Context, serviceName string) (*resource.Resource, error) {
	opts := []resource.Option{
		resource.WithAttributes(
			attribute.String("service.name", DefaultServiceName),
			attribute.String("service.version", version()),
		),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	}
	if serviceName != "" {
		opts = append(opts, resource.WithAttributes(attribute.String("service.name", serviceName)))
	}
	res, err := resource.New(ctx, opts...)
	if res == nil {
		res = resource.Empty()
	}
	return res, err
}

// samplerWords says what the SDK will sample with when the file gives no
// ratio.
func samplerWords() string {
	s := strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER"))
	if s == "" {
		return "parentbased_always_on"
	}
	if arg := strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG")); arg != "" {
		return s + " " + arg
	}
	return s
}

// version is the module's version as the build recorded it.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func envTrue(name string) bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv(name)), "true")
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(os.Getenv(name))); err == nil && n > 0 {
		return n
	}
	return def
}

// ShutdownTimeout bounds the export of the spans still queued at shutdown
// when the exporter's own timeout is longer: a collector that is down must
// not hold the process past its grace.
const ShutdownTimeout = 5 * time.Second
