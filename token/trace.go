package token

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the verifier's spans.
const tracerName = "github.com/portcullis/portcullis/token"

// startSpan starts a child of the request's span for work that the token
// cache did not spare (a signature check, an opaque token's introspection,
// which the introspection client's own cache may still answer), when that
// span is recording. With tracing off, or the request not sampled,
// it costs one context lookup and returns a nil span.
func startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal))
}

// endSpan records the outcome of a verification on span: the issuer's
// configured name and, on failure, the reason. Never the token, a claim or
// the error's detail, which may quote token material.
func endSpan(span trace.Span, tok *Token, err error) {
	if span == nil {
		return
	}
	if tok != nil {
		span.SetAttributes(attribute.String("portcullis.issuer", tok.Issuer))
	}
	if te, ok := err.(*Error); ok {
		if te.Issuer != "" {
			span.SetAttributes(attribute.String("portcullis.issuer", te.Issuer))
		}
		span.SetAttributes(attribute.String("portcullis.reason", string(te.Reason)))
		span.SetStatus(codes.Error, string(te.Reason))
	} else if err != nil {
		span.SetStatus(codes.Error, "verification failed")
	}
	span.End()
}
