package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

// tracingDoc is a valid file with a tracing block whose lines follow.
func tracingDoc(block string) string {
	return "tracing:\n" + block + "\n" + issuerOK + routeOK
}

func TestTracingRulesAreReportedWithTheirFieldAndLine(t *testing.T) {
	tests := []problemCase{
		{"an unknown protocol is refused",
			tracingDoc("  protocol: http/json #<"), "tracing.protocol", config.CodeUnknownValue, "grpc or http/protobuf"},
		{"a grpc endpoint without a port is refused",
			tracingDoc("  endpoint: collector #<"), "tracing.endpoint", config.CodeBadAddress, ""},
		{"a grpc endpoint with port 0 is refused",
			tracingDoc("  endpoint: collector:0 #<"), "tracing.endpoint", config.CodeBadAddress, ""},
		{"an http/protobuf endpoint must be a URL",
			tracingDoc("  protocol: http/protobuf\n  endpoint: collector:4318 #<"), "tracing.endpoint", config.CodeBadURL, "http://"},
		{"an endpoint of another scheme is refused",
			tracingDoc("  endpoint: ftp://collector:4317 #<"), "tracing.endpoint", config.CodeBadURL, "scheme"},
		{"credentials in the endpoint are refused, and not repeated",
			tracingDoc("  endpoint: https://user:hunter2@collector:4317 #<"), "tracing.endpoint", config.CodeBadURL, "tracing.headers"},
		{"a query in the endpoint is refused",
			tracingDoc("  protocol: http/protobuf\n  endpoint: https://collector/v1/traces?key=1 #<"), "tracing.endpoint", config.CodeBadURL, ""},
		{"a path in a grpc endpoint is refused",
			tracingDoc("  endpoint: http://collector:4317/v1/traces #<"), "tracing.endpoint", config.CodeBadURL, "gRPC"},
		{"a header name must be a token",
			tracingDoc("  headers:\n    \"x@key\": v #<"), `tracing.headers["x@key"]`, config.CodeBadHeader, ""},
		{"a header the exporter sets is refused",
			tracingDoc("  headers:\n    Content-Type: text/plain #<"), "tracing.headers.Content-Type", config.CodeReserved, ""},
		{"a header value from no file is refused",
			tracingDoc("  headers:\n    x-key: \"@\" #<"), "tracing.headers.x-key", config.CodeRequired, "@/path"},
		{"a sample ratio over 1 is refused",
			tracingDoc("  sample_ratio: 1.5 #<"), "tracing.sample_ratio", config.CodeOutOfRange, ""},
		{"a negative sample ratio is refused",
			tracingDoc("  sample_ratio: -0.1 #<"), "tracing.sample_ratio", config.CodeOutOfRange, ""},
		{"a sample ratio must be a number",
			tracingDoc("  sample_ratio: half #<"), "tracing.sample_ratio", config.CodeWrongType, ""},
		{"an unknown trust is refused",
			tracingDoc("  trust_incoming: sometimes #<"), "tracing.trust_incoming", config.CodeUnknownValue, "trusted_proxies"},
		{"a timeout under 1ms is refused",
			tracingDoc("  timeout: 500us #<"), "tracing.timeout", config.CodeOutOfRange, "from 1ms"},
		{"a timeout over 5m is refused",
			tracingDoc("  timeout: 10m #<"), "tracing.timeout", config.CodeOutOfRange, ""},
		{"a negative queue size is refused",
			tracingDoc("  queue_size: -1 #<"), "tracing.queue_size", config.CodeOutOfRange, ""},
		{"an unknown tracing key is refused",
			tracingDoc("  sampler_ratio: 0.5 #<"), "tracing.sampler_ratio", config.CodeUnknownKey, "sample_ratio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, tt.doc)
			requireProblem(t, ps, tt.field, markedLine(t, tt.doc), tt.code, tt.saying)
			for _, p := range ps {
				if strings.Contains(p.Msg, "hunter2") {
					t.Errorf("a message repeats the password: %s", p.Msg)
				}
			}
		})
	}
}

func TestTracingIsOffByDefaultAndKeepsWhatIsWritten(t *testing.T) {
	cfg := mustParse(t, issuerOK+routeOK)
	if !reflect.DeepEqual(cfg.Tracing, config.DefaultTracing) || cfg.Tracing.Enabled || cfg.Tracing.TrustIncoming != config.TrustTrustedProxies {
		t.Errorf("absent tracing block = %+v, want DefaultTracing (off, trusted_proxies)", cfg.Tracing)
	}
	cfg = mustParse(t, tracingDoc(`  enabled: true
  protocol: http/protobuf
  endpoint: https://collector.example.com:4318
  headers: {x-api-key: "@/run/secrets/otlp"}
  timeout: 3s
  sample_ratio: 0
  service_name: edge
  trust_incoming: never
  queue_size: 100`))
	tr := cfg.Tracing
	if !tr.Enabled || tr.Protocol != config.TracingHTTPProtobuf || tr.Endpoint != "https://collector.example.com:4318" ||
		tr.Headers["x-api-key"] != "@/run/secrets/otlp" || tr.Timeout != config.Duration(3*time.Second) ||
		tr.SampleRatio == nil || *tr.SampleRatio != 0 || tr.ServiceName != "edge" || tr.TrustIncoming != config.TrustNever || tr.QueueSize != 100 {
		t.Errorf("tracing = %+v", tr)
	}
	// A whole number is a ratio too, and a grpc endpoint may be host:port.
	cfg = mustParse(t, tracingDoc("  enabled: true\n  endpoint: otel-collector:4317\n  sample_ratio: 1"))
	if cfg.Tracing.SampleRatio == nil || *cfg.Tracing.SampleRatio != 1 {
		t.Errorf("sample_ratio 1 read as %v", cfg.Tracing.SampleRatio)
	}
}
