// Package tracingtest is an OTLP trace receiver for tests: the collector's
// own protobuf service (go.opentelemetry.io/proto/otlp) served over gRPC or
// HTTP/protobuf on a loopback port, recording every span it is sent, so that
// tests see what a real collector would receive. It is for tests only.
package tracingtest

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, flattened for assertions.
type Span struct {
	Name         string
	Kind         tracepb.Span_SpanKind
	TraceID      string // hex
	SpanID       string // hex
	ParentSpanID string // hex; "" for a root
	Attrs        map[string]string
	Links        []Link
	StatusCode   tracepb.Status_StatusCode
	Scope        string
	Resource     map[string]string
}

// Link is a span link: the trace and span it points to.
type Link struct{ TraceID, SpanID string }

// Receiver records the spans sent to it.
type Receiver struct {
	collectortrace.UnimplementedTraceServiceServer

	endpoint string
	mu       sync.Mutex
	spans    []Span
	headers  []map[string]string // the headers (metadata) of each export
	exports  int
}

// NewGRPC starts a receiver of OTLP over gRPC on 127.0.0.1; it stops when
// the test ends. Endpoint is its host:port.
func NewGRPC(t testing.TB) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{endpoint: ln.Addr().String()}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, r)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return r
}

// NewHTTP starts a receiver of OTLP over HTTP/protobuf (POST /v1/traces) on
// 127.0.0.1; it stops when the test ends. Endpoint is its base URL.
func NewHTTP(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces, application/x-protobuf", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var msg collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := map[string]string{}
		for k, v := range req.Header {
			h[strings.ToLower(k)] = strings.Join(v, ",")
		}
		r.record(&msg, h)
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	r.endpoint = srv.URL
	return r
}

// Endpoint is where to send spans: host:port (gRPC) or a base URL (HTTP).
func (r *Receiver) Endpoint() string { return r.endpoint }

// Export is the gRPC service's one method.
func (r *Receiver) Export(ctx context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	h := map[string]string{}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for k, v := range md {
			h[k] = strings.Join(v, ",")
		}
	}
	r.record(req, h)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *Receiver) record(req *collectortrace.ExportTraceServiceRequest, headers map[string]string) {
	var spans []Span
	for _, rs := range req.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{
					Name:         s.GetName(),
					Kind:         s.GetKind(),
					TraceID:      hex.EncodeToString(s.GetTraceId()),
					SpanID:       hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
					Attrs:        attrs(s.GetAttributes()),
					StatusCode:   s.GetStatus().GetCode(),
					Scope:        ss.GetScope().GetName(),
					Resource:     res,
				}
				for _, l := range s.GetLinks() {
					sp.Links = append(sp.Links, Link{TraceID: hex.EncodeToString(l.GetTraceId()), SpanID: hex.EncodeToString(l.GetSpanId())})
				}
				spans = append(spans, sp)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, spans...)
	r.headers = append(r.headers, headers)
	r.exports++
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

func value(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	}
	return v.String()
}

// Spans are the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// Headers are the headers (gRPC metadata) of every export so far, names in
// lower case.
func (r *Receiver) Headers() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.headers)
}

// WaitSpan waits (at most timeout) for a span that match accepts, and
// fails the test without one.
func (r *Receiver) WaitSpan(t testing.TB, timeout time.Duration, what string, match func(Span) bool) Span {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, s := range r.Spans() {
			if match(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span %s within %v; received:\n%s", what, timeout, Describe(r.Spans()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Describe lists spans one a line, for failure messages.
func Describe(spans []Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %q kind=%v trace=%s span=%s parent=%s links=%v attrs=%v\n", s.Name, s.Kind, s.TraceID, s.SpanID, s.ParentSpanID, s.Links, s.Attrs)
	}
	return b.String()
}
