package proxy

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/cors"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/outcome"
)

// finalStatus is the status the client got, as metrics and logs record it.
func (ex *exchange) finalStatus() int {
	status := ex.rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if ex.status != 0 {
		status = int(ex.status)
	}
	if ex.rec.status == 0 && ex.upgrade == upgradeSwitched {
		// ReverseProxy wrote the 101 to the hijacked connection, past
		// the recorder; the request ends when the tunnel closes.
		status = http.StatusSwitchingProtocols
	}
	return status
}

// finish records the request's metrics and access-log line.
func (h *Handler) finish(rt *serving, r *http.Request, ex *exchange) {
	status := ex.finalStatus()
	elapsed := time.Since(ex.start)
	route, series, mode := metrics.Unmatched, rt.unmatched, metrics.ModeEnforce
	switch {
	case ex.route != nil:
		route, series = ex.route.Name, rt.series[ex.route.Index]
		if ex.route.Audit {
			mode = metrics.ModeAudit
		}
	case ex.metadata:
		route, series = metrics.ResourceMetadata, rt.metadata
	}
	via := metrics.ViaProxy
	if ex.decide {
		via = metrics.ViaDecision
	}
	series.Request(r.Method, status, via).Inc()
	series.Duration(via).Observe(elapsed.Seconds())
	if ex.route != nil && ex.decision != "" {
		series.Decision(ex.decision, mode, via).Inc()
	}
	// Only a refused token is an authentication failure: an allowed
	// request keeps its decision when its exchange fails afterwards
	// (upstream_timeout, client_timeout, stream_idle...), and those
	// reasons are the access log's, never this metric's.
	if ex.route != nil && ex.reason != "" && outcome.Of(ex.reason).AuthFailure {
		issuer := ex.issuer
		if issuer == "" {
			issuer = metrics.UnknownIssuer
		}
		h.metrics.AuthFailure(issuer, string(ex.reason)).Inc()
	}
	if ex.upstream > 0 {
		series.Upstream().Observe(ex.upstream.Seconds())
	}
	if rt.tracer != nil {
		endSpan(r, ex, route, status)
	}
	if !rt.accessLog {
		return
	}
	fp := logFields.Get().(*[]zap.Field)
	fields := append((*fp)[:0],
		zap.String("request_id", ex.id),
		zap.String("route", route),
		zap.String("method", r.Method),
		zap.String("host", r.Host),
		zap.String("path", ex.path),
		zap.Int("status", status),
		zap.Duration("duration", elapsed),
		zap.String("decision", ex.decision),
		zap.String("reason", string(ex.reason)),
		zap.String("issuer", ex.issuer),
		zap.String("remote", r.RemoteAddr),
		zap.Int64("bytes", ex.rec.bytes.Load()),
	)
	if ex.routedHost != "" {
		// Routed on a trusted proxy's X-Forwarded-Host: the host the route
		// was chosen for and the upstream told, beside the Host sent.
		fields = append(fields, zap.String("routed_host", ex.routedHost))
	}
	if ex.upstream > 0 {
		fields = append(fields, zap.Duration("upstream_duration", ex.upstream))
	}
	if ex.upgrade != noUpgrade {
		fields = append(fields, zap.String("upgrade", ex.upgrade.String()))
	}
	if mode == metrics.ModeAudit {
		fields = append(fields, zap.String("mode", mode))
	}
	if ex.decide {
		fields = append(fields, zap.String("via", via))
	}
	if ex.limitedBy != 0 {
		fields = append(fields, zap.String("rate_limit", rt.refusedBy(ex)))
	}
	if ex.cors.Kind != cors.NotCORS {
		fields = append(fields, zap.String("cors", corsLogValue(ex.cors)))
	}
	if ex.rec.grpc != "" {
		if code, ok := grpcStatus(ex.rec.ResponseWriter.Header()); ok {
			fields = append(fields, zap.String("grpc_status", code))
		}
	}
	if rt.tracer != nil {
		fields = traceFields(fields, r)
	}
	if ex.subject != "" && h.log.Core().Enabled(zap.DebugLevel) {
		fields = append(fields, zap.String("sub", ex.subject))
	}
	h.log.Info("request", fields...)
	clear(fields) // no request's strings outlive it in the pool
	*fp = fields[:0]
	logFields.Put(fp)
}

// grpcStatus is the grpc-status a gRPC call ended with, as the response's
// headers hold it once the exchange is over: in the headers of a
// trailers-only answer (the gateway's refusals among them), or in the
// trailers ReverseProxy copied into the map, under their own name or with
// http.TrailerPrefix. A call that fails upstream is still a 200 to HTTP,
// so this is how its access line tells. Only a code of one to three digits
// is logged: the value is the upstream's.
func grpcStatus(h http.Header) (string, bool) {
	v := h.Get("Grpc-Status")
	if v == "" {
		v = h.Get(http.TrailerPrefix + "Grpc-Status")
	}
	if v == "" || len(v) > 3 {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", false
		}
	}
	return v, true
}

// logFields lends finish its field slices: a new one per request was the
// largest allocation the gateway itself made (1.5 KiB once grown). Lending
// is safe because zap's cores encode the fields before Info returns and keep
// nothing of the slice (the observer core used by tests copies it).
var logFields = sync.Pool{New: func() any {
	f := make([]zap.Field, 0, 14)
	return &f
}}

// recorder remembers the status and size of a response. bytes is atomic
// because the watchdog of a forwarded exchange reads it to see the
// response move (stream.go).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  atomic.Int64
	// grpc, when the request is a gRPC call, is the Content-Type its
	// refusal answers with (grpcCall): a refusal is written as a gRPC
	// status (refuse.go) and the exchange may be a stream from its first
	// byte (stream.go). "" for any other request.
	grpc string
	// http1: the request came over HTTP/1.x, whose connection a refusal
	// that leaves the body unread must close (refuse.go). Over HTTP/2 that
	// would end every stream of a shared connection.
	http1 bool
	// writeFailed: a write to the client failed (it went away), which
	// tells a stream the client broke off from one the upstream did.
	writeFailed bool
	// http10: the request came over HTTP/1.0, which defined no 1xx
	// status: an upstream's informational answers are not relayed to it
	// (WriteHeader).
	http10 bool

	// The gateway's own response headers (X-Request-Id, CORS, RateLimit)
	// are set before forwarding. ReverseProxy clears the header map after
	// relaying an upstream's 1xx (103 Early Hints, 102 Processing), so the
	// final answer would lose them: own keeps them from the first look at
	// the headers after forwarding began and before the upstream's final
	// answer, which is a 1xx's (or an error's), and informational makes
	// the final WriteHeader put them back.
	forwarding    bool // forward handed the exchange to ReverseProxy
	answered      bool // the upstream's final response arrived (responded)
	informational bool // a 1xx went out before the final status
	own           []ownHeader
}

// ownHeader is one of the gateway's response headers, as set before
// forwarding.
type ownHeader struct {
	name   string
	values []string
}

func (r *recorder) Header() http.Header {
	h := r.ResponseWriter.Header()
	if r.forwarding && !r.answered && r.own == nil {
		// Nothing but the gateway has written here yet.
		r.own = make([]ownHeader, 0, len(h))
		for name, values := range h {
			r.own = append(r.own, ownHeader{name, values})
		}
	}
	return h
}

func (r *recorder) WriteHeader(code int) {
	switch {
	case r.status == 0 && code >= 200:
		r.final()
		r.status = code
	case code >= 100 && code < 200 && code != http.StatusSwitchingProtocols:
		r.informational = true
		if r.http10 {
			// RFC 9110 §15.2: a server must not send a 1xx to an
			// HTTP/1.0 client, which would read it as the final answer
			// and, on a kept-alive connection, the real one as the
			// answer to its next request. net/http's server writes
			// one all the same, so an upstream's 103, or the 100 it
			// sends to the Expect that such a client may send and no
			// one honours for it (§10.1.1), stops here. ReverseProxy
			// clears the header map after it all the same, and final
			// puts the gateway's headers back.
			return
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

// final puts the gateway's own headers back in front of the final
// answer's, after a 1xx cleared them: where they would have been had no
// 1xx come (ReverseProxy adds the upstream's after them).
func (r *recorder) final() {
	if !r.informational {
		return
	}
	h := r.ResponseWriter.Header()
	for _, o := range r.own {
		h[o.name] = append(o.values[:len(o.values):len(o.values)], h[o.name]...)
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.final()
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes.Add(int64(n))
	if err != nil {
		r.writeFailed = true
	}
	return n, err
}

// Unwrap lets http.ResponseController (used by ReverseProxy to flush
// streamed responses) reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
