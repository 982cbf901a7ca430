package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/outcome"
)

// Tracing on the request path: a server span per request, a client span per
// upstream call, the W3C trace context read from clients and written to
// upstreams. Every call here is behind a check of Runtime.tracer, so that
// with tracing off the request path does exactly what it did before: no
// context lookup, no allocation, and traceparent/tracestate headers pass
// through untouched like any other end-to-end header.
//
// What a span carries is chosen here and nowhere else: the method, the
// scheme, the host, the protocol version, the peer, the status, the route's
// name, the decision, the refusal's reason and the issuer's configured name.
// Never the path or the query (tokens and identifiers travel in them),
// never a header, a token or a claim.

// TraceTrust says whose incoming trace context (traceparent, tracestate) a
// request's server span continues.
type TraceTrust uint8

const (
	// TraceTrustedProxies continues the trace of a peer in
	// server.trusted_proxies; anyone else's request starts a new trace,
	// linked to the one the client named.
	TraceTrustedProxies TraceTrust = iota
	// TraceAlways continues every client's trace.
	TraceAlways
	// TraceNever starts every request's trace anew, without a link.
	TraceNever
)

// traceContext is the W3C Trace Context propagator: traceparent and
// tracestate.
var traceContext = propagation.TraceContext{}

// The span attributes the gateway sets beyond the HTTP semantic
// conventions.
const (
	attrRoute    = attribute.Key("portcullis.route")
	attrDecision = attribute.Key("portcullis.decision")
	attrReason   = attribute.Key("portcullis.reason")
	attrIssuer   = attribute.Key("portcullis.issuer")
	attrVia      = attribute.Key("portcullis.via")
)

// startSpan starts the request's server span and returns r carrying it.
// The span is named by the method alone until finish knows the route.
func (rt *Runtime) startSpan(r *http.Request, decide bool) *http.Request {
	ctx := r.Context()
	carrier := propagation.HeaderCarrier(r.Header)
	opts := make([]trace.SpanStartOption, 0, 4)
	opts = append(opts, trace.WithSpanKind(trace.SpanKindServer))
	switch {
	case rt.traceTrust == TraceAlways,
		rt.traceTrust == TraceTrustedProxies && rt.Trusted(r.RemoteAddr):
		ctx = traceContext.Extract(ctx, carrier)
	case rt.traceTrust == TraceTrustedProxies:
		// An untrusted client may name any trace, and with it force
		// sampling: its context is kept as a link only, and the sampler
		// decides this new root on its own.
		if sc := trace.SpanContextFromContext(traceContext.Extract(context.Background(), carrier)); sc.IsValid() {
			// The link names the client's trace and nothing more: its
			// tracestate is text of the client's choosing, not recorded.
			sc = trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: sc.TraceID(), SpanID: sc.SpanID(), TraceFlags: sc.TraceFlags(), Remote: true,
			})
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
		opts = append(opts, trace.WithNewRoot())
	default:
		opts = append(opts, trace.WithNewRoot())
	}
	method := spanMethod(r.Method)
	ctx, span := rt.tracer.Start(ctx, method, opts...)
	// The attributes are set after the sampler decided, not given to
	// it: an unsampled request does not pay for them.
	if span.IsRecording() {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		attrs := make([]attribute.KeyValue, 0, 6)
		attrs = append(attrs,
			attribute.String("http.request.method", method),
			attribute.String("url.scheme", scheme),
			attribute.String("server.address", hostOnly(r.Host)),
			attribute.String("network.protocol.version", protocolVersion(r)),
			attribute.String("client.address", hostOnly(r.RemoteAddr)))
		if decide {
			attrs = append(attrs, attrVia.String(metrics.ViaDecision))
		}
		span.SetAttributes(attrs...)
	}
	return r.WithContext(ctx)
}

// endSpan names the server span after its route ("GET orders-read", "GET
// unmatched": never the path, whose values are unbounded), records what
// the stages decided and ends it.
func endSpan(r *http.Request, ex *exchange, route string, status int) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	span.SetName(spanMethod(r.Method) + " " + route)
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs,
		attribute.Int("http.response.status_code", status),
		attrRoute.String(route))
	if ex.decision != "" {
		attrs = append(attrs, attrDecision.String(ex.decision))
	}
	if ex.reason != "" {
		attrs = append(attrs, attrReason.String(string(ex.reason)))
	}
	if ex.issuer != "" {
		attrs = append(attrs, attrIssuer.String(ex.issuer))
	}
	span.SetAttributes(attrs...)
	if status >= 500 {
		errorType := string(ex.reason)
		if errorType == "" {
			errorType = strconv.Itoa(status)
		}
		span.SetAttributes(attribute.String("error.type", errorType))
		span.SetStatus(codes.Error, errorType)
	}
	span.End()
}

// traceFields appends the access-log fields that tie the line to its
// trace: the server span's ids, when it has valid ones (tracing on, the
// request sampled or not).
func traceFields(fields []zap.Field, r *http.Request) []zap.Field {
	sc := trace.SpanContextFromContext(r.Context())
	if !sc.IsValid() {
		return fields
	}
	return append(fields,
		zap.String("trace_id", sc.TraceID().String()),
		zap.String("span_id", sc.SpanID().String()))
}

// upstreamSpanKey carries the client span of an upstream call in the
// outgoing request's context, from rewrite to responded or upstreamFailed.
type upstreamSpanKey struct{}

// traceUpstream starts the client span of the upstream call and writes its
// context into the outgoing request: the upstream always sees the
// gateway's traceparent, never the client's, and a client's tracestate
// reaches it only inside a trace the gateway continued.
func (rt *Runtime) traceUpstream(pr *httputil.ProxyRequest, f *forwarding) {
	out := pr.Out
	out.Header.Del("Traceparent")
	out.Header.Del("Tracestate")
	method := spanMethod(out.Method)
	ctx, span := rt.tracer.Start(out.Context(), method, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		route := f.ex.route
		port := route.Upstream.Port()
		if port == "" {
			port = "80"
			if route.Upstream.Scheme == "https" {
				port = "443"
			}
		}
		portN, _ := strconv.Atoi(port)
		span.SetAttributes(
			attribute.String("http.request.method", method),
			attribute.String("server.address", route.Upstream.Hostname()),
			attribute.Int("server.port", portN),
			attribute.String("url.scheme", route.Upstream.Scheme),
			attrRoute.String(route.Name))
	}
	traceContext.Inject(ctx, propagation.HeaderCarrier(out.Header))
	pr.Out = out.WithContext(context.WithValue(ctx, upstreamSpanKey{}, span))
}

// endUpstreamSpan ends the client span that ctx carries, if any: with the
// upstream's status, or with the reason nothing usable came back.
func endUpstreamSpan(ctx context.Context, status int, reason outcome.Reason) {
	span, ok := ctx.Value(upstreamSpanKey{}).(trace.Span)
	if !ok {
		return
	}
	if status > 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	switch {
	case reason != "":
		span.SetAttributes(attribute.String("error.type", string(reason)))
		span.SetStatus(codes.Error, string(reason))
	case status >= 400:
		span.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// spanMethod is the method as spans record it: the registered methods as
// they are, anything else as "_OTHER" (the semantic conventions' word), so
// that a client cannot make span names of its own.
func spanMethod(m string) string {
	if v := metrics.Method(m); v != "OTHER" {
		return v
	}
	return "_OTHER"
}

// hostOnly is the host of a host[:port].
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// protocolVersion is network.protocol.version: "1.1", "2", "3".
func protocolVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return "1.1"
	case r.ProtoMajor == 1:
		return "1.0"
	}
	return strconv.Itoa(r.ProtoMajor)
}
