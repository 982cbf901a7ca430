package tracing_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/tracing"
	"github.com/portcullis/portcullis/tracing/tracingtest"
)

// clearEnv unsets every OTEL_* variable the package or the SDK reads, so
// that the caller's shell cannot change what a test means.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "OTEL_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	// Exports in tests are sent at once, not after the SDK's 5s.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
}

func ratio(r float64) *float64 { return &r }

// start builds the tracing c describes and shuts it down when the test
// ends.
func start(t *testing.T, c config.Tracing) (*tracing.Tracing, *metrics.Tracing) {
	t.Helper()
	m := metrics.NewTracing()
	tr, err := tracing.New(context.Background(), c, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, m
}

// oneSpan starts and ends one root span named name; the batch processor
// exports it within OTEL_BSP_SCHEDULE_DELAY (clearEnv).
func oneSpan(t *testing.T, tr *tracing.Tracing, name string) trace.SpanContext {
	t.Helper()
	_, span := tr.Tracer().Start(context.Background(), name)
	span.End()
	return span.SpanContext()
}

func TestTracingOff(t *testing.T) {
	clearEnv(t)
	cases := []struct {
		name string
		c    config.Tracing
		env  string
	}{
		{"absent block is off", config.DefaultTracing, ""},
		{"OTEL_SDK_DISABLED=true turns an enabled block off", config.Tracing{Enabled: true, TrustIncoming: config.TrustAlways}, "true"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("OTEL_SDK_DISABLED", c.env)
			tr, err := tracing.New(context.Background(), c.c, metrics.NewTracing(), nil)
			if err != nil || tr != nil {
				t.Fatalf("New = %v, %v; want nil, nil", tr, err)
			}
			// A nil Tracing is usable as off.
			if tr.Tracer() != nil || tr.Provider() != nil || tr.Shutdown(context.Background()) != nil {
				t.Fatal("a nil Tracing must read as off")
			}
		})
	}
}

func TestExportsOverGRPCWithFileHeaderAndServiceName(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	rcv := tracingtest.NewGRPC(t)
	secret := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(secret, []byte("s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, m := start(t, config.Tracing{
		Enabled: true, Endpoint: rcv.Endpoint(), Insecure: true,
		Headers:     map[string]string{"x-api-key": "@" + secret},
		ServiceName: "edge-gateway", TrustIncoming: config.TrustTrustedProxies,
	})
	sc := oneSpan(t, tr, "hello")
	s := rcv.WaitSpan(t, 5*time.Second, "hello", func(s tracingtest.Span) bool { return s.Name == "hello" })
	if s.TraceID != sc.TraceID().String() || s.SpanID != sc.SpanID().String() {
		t.Errorf("received %s/%s, want %s/%s", s.TraceID, s.SpanID, sc.TraceID(), sc.SpanID())
	}
	if got := s.Resource["service.name"]; got != "edge-gateway" {
		t.Errorf("service.name = %q, want the file's edge-gateway over OTEL_SERVICE_NAME", got)
	}
	if s.Resource["service.version"] == "" {
		t.Error("no service.version")
	}
	if h := rcv.Headers(); len(h) == 0 || h[0]["x-api-key"] != "s3cret-value" {
		t.Errorf("export headers = %v, want x-api-key read from the file, trimmed", h)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.Exported); got != 1 {
		t.Errorf("exported = %v, want 1", got)
	}
}

func TestExportsOverHTTPProtobufFromTheEnvironment(t *testing.T) {
	clearEnv(t)
	rcv := tracingtest.NewHTTP(t)
	// The file says nothing but enabled: the environment fills the rest.
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint())
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
	tr, _ := start(t, config.Tracing{Enabled: true, TrustIncoming: config.TrustTrustedProxies})
	if s := tr.Settings(); s.Protocol != config.TracingHTTPProtobuf || s.ServiceName != "from-env" || s.QueueSize != tracing.DefaultQueueSize {
		t.Errorf("settings = %+v", s)
	}
	oneSpan(t, tr, "over-http")
	s := rcv.WaitSpan(t, 5*time.Second, "over-http", func(s tracingtest.Span) bool { return s.Name == "over-http" })
	if s.Resource["service.name"] != "from-env" || s.Resource["deployment.environment"] != "test" {
		t.Errorf("resource = %v, want OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES", s.Resource)
	}
}

func TestHTTPEndpointFromTheFileGetsTheTracesPath(t *testing.T) {
	clearEnv(t)
	rcv := tracingtest.NewHTTP(t)
	tr, _ := start(t, config.Tracing{Enabled: true, Protocol: config.TracingHTTPProtobuf, Endpoint: rcv.Endpoint(), TrustIncoming: config.TrustTrustedProxies})
	if got, want := tr.Settings().Endpoint, rcv.Endpoint()+"/v1/traces"; got != want {
		t.Errorf("endpoint = %q, want %q", got, want)
	}
	oneSpan(t, tr, "path")
	rcv.WaitSpan(t, 5*time.Second, "path", func(s tracingtest.Span) bool { return s.Name == "path" })
}

func TestSamplingIsParentBased(t *testing.T) {
	clearEnv(t)
	rcv := tracingtest.NewGRPC(t)
	tr, _ := start(t, config.Tracing{Enabled: true, Endpoint: rcv.Endpoint(), Insecure: true, SampleRatio: ratio(0), TrustIncoming: config.TrustTrustedProxies})
	// A new trace is not sampled at ratio 0...
	_, root := tr.Tracer().Start(context.Background(), "new-root")
	root.End()
	if root.SpanContext().IsSampled() {
		t.Error("a new root was sampled at sample_ratio 0")
	}
	// ...but a trace that a sampled parent started is followed.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	_, child := tr.Tracer().Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "child")
	child.End()
	s := rcv.WaitSpan(t, 5*time.Second, "child", func(s tracingtest.Span) bool { return s.Name == "child" })
	if s.ParentSpanID != parent.SpanID().String() || s.TraceID != parent.TraceID().String() {
		t.Errorf("child: trace %s parent %s, want %s %s", s.TraceID, s.ParentSpanID, parent.TraceID(), parent.SpanID())
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range rcv.Spans() {
		if s.Name == "new-root" {
			t.Error("an unsampled span was exported")
		}
	}
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestCollectorDownDropsAndCountsNeverBlocks(t *testing.T) {
	clearEnv(t)
	tr, m := start(t, config.Tracing{
		Enabled: true, Endpoint: closedPort(t), Insecure: true,
		Timeout: config.Duration(time.Second), QueueSize: 2, TrustIncoming: config.TrustTrustedProxies,
	})
	// The first two spans fill the queue (and become the batch whose
	// export fails within the timeout); the other eight find it full.
	began := time.Now()
	for range 10 {
		oneSpan(t, tr, "lost")
	}
	if d := time.Since(began); d > 500*time.Millisecond {
		t.Errorf("ending 10 spans took %v with the collector down: span ends must never wait", d)
	}
	full := m.Dropped.WithLabelValues(metrics.SpansQueueFull)
	if got := testutil.ToFloat64(full); got != 8 {
		t.Errorf("dropped queue_full = %v, want 8", got)
	}
	failed := m.Dropped.WithLabelValues(metrics.SpansExportError)
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(failed) != 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := testutil.ToFloat64(failed); got != 2 {
		t.Errorf("dropped export_error = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Exported); got != 0 {
		t.Errorf("exported = %v, want 0", got)
	}
	// Shutdown is bounded by its context even with the collector down.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	began = time.Now()
	_ = tr.Shutdown(ctx)
	if d := time.Since(began); d > 4*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}

func TestBadSettingsFailTheStart(t *testing.T) {
	clearEnv(t)
	cases := []struct {
		name string
		c    config.Tracing
		env  [2]string
	}{
		{"header file missing", config.Tracing{Enabled: true, Headers: map[string]string{"x-key": "@/nonexistent/key"}}, [2]string{}},
		{"protocol from the environment not supported", config.Tracing{Enabled: true}, [2]string{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env[0] != "" {
				t.Setenv(c.env[0], c.env[1])
			}
			tr, err := tracing.New(context.Background(), c.c, metrics.NewTracing(), nil)
			if err == nil {
				_ = tr.Shutdown(context.Background())
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestSamplerFromTheEnvironmentUnlessTheFileSaysARatio(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	tr, _ := start(t, config.Tracing{Enabled: true, Endpoint: closedPort(t), Insecure: true, TrustIncoming: config.TrustTrustedProxies})
	if sc := oneSpan(t, tr, "env"); sc.IsSampled() {
		t.Error("OTEL_TRACES_SAMPLER=always_off was not honoured")
	}
	if got := tr.Settings().Sampler; got != "always_off" {
		t.Errorf("sampler = %q", got)
	}
	tr, _ = start(t, config.Tracing{Enabled: true, Endpoint: closedPort(t), Insecure: true, SampleRatio: ratio(1),
		Timeout: config.Duration(200 * time.Millisecond), TrustIncoming: config.TrustTrustedProxies})
	if sc := oneSpan(t, tr, "file"); !sc.IsSampled() {
		t.Error("the file's sample_ratio 1 did not win over OTEL_TRACES_SAMPLER")
	}
}

// The start-up line logs Settings().Endpoint. The file's endpoint may hold
// no credentials (config refuses them); one from the environment may, and
// they are not shown.
func TestSettingsShowNoCredentialsFromTheEnvironment(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"https://tenant:s3cret@127.0.0.1:1", "https://redacted@127.0.0.1:1"},
		{"https://127.0.0.1:1/otlp?api_key=s3cret", "https://127.0.0.1:1/otlp?redacted"},
		{"tenant:s3cret@127.0.0.1:1", "redacted@127.0.0.1:1"},
		{"http://127.0.0.1:1", "http://127.0.0.1:1"},
	} {
		t.Run(c.env, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.env)
			tr, _ := start(t, config.Tracing{Enabled: true})
			if got := tr.Settings().Endpoint; got != c.want {
				t.Errorf("Settings().Endpoint %q, want %q", got, c.want)
			}
		})
	}
}
