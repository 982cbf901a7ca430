package jwks_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/token/tokentest"
)

// TestFetchesAreRootSpansLinkedToTheRequest: with a tracer provider, every
// fetch is a span of its own (a root: it is shared), and one that a
// request's unknown kid started links to that request's span.
func TestFetchesAreRootSpansLinkedToTheRequest(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	is := tokentest.NewIssuer(ecA())
	defer is.Close()
	clk := newClock()
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL(), MinRefreshInterval: time.Minute}, nil)
	jwks.SetClock(h.set, clk.Now)
	h.set.Trace(tp)
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "jwks fetch" || spans[0].Parent.IsValid() || len(spans[0].Links) != 0 {
		t.Fatalf("the first fetch: %+v, want one root span without links", spans)
	}

	clk.Advance(2 * time.Minute)
	is.SetKeys(ecA(), ecB())
	exp.Reset()
	ctx, request := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := h.set.Lookup(ctx, "ec-b"); err != nil {
		t.Fatal(err)
	}
	request.End()
	var fetch *tracetest.SpanStub
	for i, s := range exp.GetSpans() {
		if s.Name == "jwks fetch" {
			fetch = &exp.GetSpans()[i]
		}
	}
	if fetch == nil {
		t.Fatalf("no fetch span: %+v", exp.GetSpans())
	}
	if fetch.Parent.IsValid() || fetch.SpanContext.TraceID() == request.SpanContext().TraceID() {
		t.Error("the shared fetch was made a child of one request")
	}
	if len(fetch.Links) != 1 || fetch.Links[0].SpanContext.SpanID() != request.SpanContext().SpanID() {
		t.Errorf("fetch links %+v, want the request's span", fetch.Links)
	}

	// A failed fetch is an error span.
	is.Close()
	exp.Reset()
	_ = h.set.Refresh(context.Background())
	if s := exp.GetSpans(); len(s) != 1 || s[0].Status.Code != codes.Error {
		t.Errorf("failed fetch spans %+v, want one with status Error", s)
	}
}
