package jwks

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the key set's spans.
const tracerName = "github.com/portcullis/portcullis/jwks"

// Trace makes every fetch of the set a span of tp's: a root span of its
// own, since a fetch is shared by every request that waits on it and by the
// refresh loop, linked to the request whose unknown kid started it. It must
// be called before Start; without it (tracing off) fetches make no spans.
func (k *KeySet) Trace(tp trace.TracerProvider) {
	if tp != nil {
		k.tracer = tp.Tracer(tracerName)
	}
}

// startFetchSpan starts the span of one fetch; nil when the set is not
// traced. ctx's span context, when valid, is the request that asked for the
// fetch: it becomes a link.
func (k *KeySet) startFetchSpan(ctx context.Context) (context.Context, trace.Span) {
	if k.tracer == nil {
		return ctx, nil
	}
	opts := []trace.SpanStartOption{
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("portcullis.issuer", k.src.Issuer)),
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return k.tracer.Start(ctx, "jwks fetch", opts...)
}

// endFetchSpan records a fetch's outcome: the keys served, or the failure.
func endFetchSpan(span trace.Span, keys int, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.Int("portcullis.jwks.keys", keys))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// fetchBase is the context a fetch that ctx's request starts runs under:
// detached from the request (the fetch is shared), but carrying its span
// context for the fetch span's link when the request is traced. An
// untraced set (no Trace) looks at nothing: its fetches make no span.
func (k *KeySet) fetchBase(ctx context.Context) context.Context {
	if k.tracer == nil {
		return context.Background()
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsSampled() {
		return trace.ContextWithSpanContext(context.Background(), sc)
	}
	return context.Background()
}
