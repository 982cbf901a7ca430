package proxy_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/tracing"
	"github.com/portcullis/portcullis/tracing/tracingtest"
)

const (
	clientTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	clientTracestate  = "vendor=abc"
)

func TestTraceHeadersPassThroughWhenTracingIsOff(t *testing.T) {
	p := newBenchPath(t, benchOptions{})
	tok := benchKeys()["RS256"].Sign(p.claims("orders:read"))
	if got := p.serve("Bearer "+tok, "Traceparent", clientTraceparent, "Tracestate", clientTracestate); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	h := p.upstream.lastHeader()
	if h.Get("Traceparent") != clientTraceparent || h.Get("Tracestate") != clientTracestate {
		t.Errorf("upstream got traceparent %q tracestate %q, want the client's, untouched", h.Get("Traceparent"), h.Get("Tracestate"))
	}
}

// recorded is a tracer whose spans are kept in memory, synchronously: the
// real SDK, with no export.
func recorded(t testing.TB) (trace.Tracer, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp.Tracer("test"), exp
}

func byKind(spans tracetest.SpanStubs, kind trace.SpanKind, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.SpanKind == kind && (name == "" || s.Name == name) {
			out = append(out, s)
		}
	}
	return out
}

func TestTracedRequestFromAnUntrustedClient(t *testing.T) {
	tracer, exp := recorded(t)
	p := newBenchPath(t, benchOptions{tracer: tracer})
	tok := benchKeys()["RS256"].Sign(p.claims("orders:read"))
	// httptest's requests come from 192.0.2.1, which no trusted_proxies
	// entry names.
	if got := p.serve("Bearer "+tok, "Traceparent", clientTraceparent, "Tracestate", clientTracestate); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	spans := exp.GetSpans()
	servers := byKind(spans, trace.SpanKindServer, "GET orders")
	clients := byKind(spans, trace.SpanKindClient, "")
	verifies := byKind(spans, trace.SpanKindInternal, "verify token")
	if len(servers) != 1 || len(clients) != 1 || len(verifies) != 1 {
		t.Fatalf("spans: %d server, %d client, %d verify; want 1 each", len(servers), len(clients), len(verifies))
	}
	server, client, verify := servers[0], clients[0], verifies[0]
	if server.Parent.IsValid() || len(server.Links) != 1 || server.Links[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("server span parent %v links %v: want a new root linked to the client's trace", server.Parent, server.Links)
	} else if ts := server.Links[0].SpanContext.TraceState().String(); ts != "" {
		t.Errorf("the link carries the untrusted client's tracestate %q into the exported span", ts)
	}
	if client.Parent.SpanID() != server.SpanContext.SpanID() || verify.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Error("the client and verify spans are not children of the server span")
	}
	h := p.upstream.lastHeader()
	want := "00-" + server.SpanContext.TraceID().String() + "-" + client.SpanContext.SpanID().String() + "-01"
	if got := h.Get("Traceparent"); got != want {
		t.Errorf("upstream traceparent %q, want %q", got, want)
	}
	if got := h.Values("Tracestate"); len(got) != 0 {
		t.Errorf("upstream tracestate %q: the untrusted client's must not pass", got)
	}
	if got := h.Values("Traceparent"); len(got) != 1 {
		t.Errorf("upstream got %d traceparent headers", len(got))
	}

	// The token is cached now: the next request has no verify span.
	exp.Reset()
	p.serve("Bearer " + tok)
	if n := len(byKind(exp.GetSpans(), trace.SpanKindInternal, "verify token")); n != 0 {
		t.Errorf("a cache hit made %d verify spans", n)
	}
	if n := len(byKind(exp.GetSpans(), trace.SpanKindServer, "GET orders")); n != 1 {
		t.Errorf("%d server spans for the second request", n)
	}
}

// BenchmarkHandlerTraced is the cached RS256 request of
// BenchmarkHandlerAllowed (tracing off: the same figure) with tracing on:
// "unsampled" with sample_ratio 0 (the span contexts, the traceparent and
// the log fields, no span recorded); "sampled/no-export" with every span
// recorded by the real SDK and then discarded (the request path's own
// cost); "sampled/otlp" with every span exported over OTLP/gRPC to an
// in-process receiver on loopback, whose work (batching, encoding, the
// receiver's decoding) runs on the same CPUs. dropped/op counts the spans
// the export queue had no room for.
func BenchmarkHandlerTraced(b *testing.B) {
	auth := func(p *benchPath) string { return "Bearer " + benchKeys()["RS256"].Sign(p.claims("orders:read")) }
	b.Run("off", func(b *testing.B) {
		p := newBenchPath(b, benchOptions{})
		p.loop(b, http.StatusOK, auth(p))
	})
	b.Run("sampled/no-export", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider()
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		p := newBenchPath(b, benchOptions{tracer: tp.Tracer("bench")})
		p.loop(b, http.StatusOK, auth(p))
	})
	for _, c := range []struct {
		name  string
		ratio float64
	}{{"unsampled", 0}, {"sampled/otlp", 1}} {
		b.Run(c.name, func(b *testing.B) {
			rcv := tracingtest.NewGRPC(b)
			m := metrics.NewTracing()
			tr, err := tracing.New(context.Background(), config.Tracing{
				Enabled: true, Endpoint: rcv.Endpoint(), Insecure: true, SampleRatio: &c.ratio,
				TrustIncoming: config.TrustTrustedProxies,
			}, m, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
			p := newBenchPath(b, benchOptions{tracer: tr.Tracer()})
			p.loop(b, http.StatusOK, auth(p))
			b.StopTimer()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = tr.Shutdown(ctx)
			dropped := testutil.ToFloat64(m.Dropped.WithLabelValues(metrics.SpansQueueFull)) +
				testutil.ToFloat64(m.Dropped.WithLabelValues(metrics.SpansExportError))
			b.ReportMetric(dropped/float64(b.N), "dropped/op")
			if c.ratio == 1 && testutil.ToFloat64(m.Exported) == 0 {
				b.Fatal("no span was exported")
			}
			if c.ratio == 0 && len(rcv.Spans()) > 0 {
				b.Fatalf("%d spans exported at sample_ratio 0", len(rcv.Spans()))
			}
		})
	}
}
