package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
	"github.com/portcullis/portcullis/tracing/tracingtest"
)

// tracingEnv sends spans at once rather than after the SDK's 5s batch
// delay, so that the tests wait for spans in milliseconds.
var tracingEnv = []string{"OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_SDK_DISABLED=", "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_SERVICE_NAME="}

// trustedPeer is the loopback address the tests' trusted proxy connects
// from; 127.0.0.1, where the other requests come from, is not trusted.
const trustedPeer = "127.0.0.2"

// tracingConfig renders a gateway with tracing on (the tracing block is
// given whole), a protected route, orders, forwarding sub, and a public
// one, down, whose upstream refuses connections.
func tracingConfig(t *testing.T, idp *tokentest.Issuer, upstream, tracingBlock string) func(listen, admin string) string {
	closedAddr := gatewaytest.FreeAddr(t) // nothing listens there
	return func(listen, admin string) string {
		head := featureHead(listen, admin, fmt.Sprintf("trusted_proxies: [%q]", trustedPeer))
		return head + tracingBlock + "\nissuers:\n" + corpIssuer(idp) + "routes:\n" + ordersRoute(upstream) + fmt.Sprintf(`  - name: down
    match: {path_prefix: /down}
    upstream: "http://%s"
    auth: {mode: public}
`, closedAddr)
	}
}

// fromPeer is an HTTP client whose connections come from local (an
// address of the loopback network).
func fromPeer(local string) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: d.DialContext}}
}

func send(t *testing.T, c *http.Client, url string, headers map[string]string) *response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	return &response{Response: res}
}

// upstreamTraceparent is the traceparent the upstream received with the
// request whose id is id.
func upstreamTraceparent(t *testing.T, u *gatewaytest.Upstream, id string) (traceparent, tracestate string) {
	t.Helper()
	for _, r := range u.Requests() {
		if r.Header.Get(requestIDHeader) == id {
			return r.Header.Get("Traceparent"), r.Header.Get("Tracestate")
		}
	}
	t.Fatalf("the upstream received no request with id %s", id)
	return "", ""
}

// parseTraceparent splits a version 00 traceparent.
func parseTraceparent(t *testing.T, v string) (traceID, spanID, flags string) {
	t.Helper()
	parts := strings.Split(v, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		t.Fatalf("traceparent %q is not 00-<32 hex>-<16 hex>-<flags>", v)
	}
	return parts[1], parts[2], parts[3]
}

// TestTracingEndToEnd runs the built binary with tracing on, exporting over
// gRPC to an in-process OTLP receiver, and checks what a collector gets:
// route-named server spans whose parent is the traceparent of a trusted
// proxy, and a new root linked to it for anyone else; a verification span
// for a token the cache has not seen; a client span for the upstream call
// whose id is the parent the upstream was told; the access-log line's ids;
// and no token, claim or path in any span.
func TestTracingEndToEnd(t *testing.T) {
	t.Parallel()
	rcv := tracingtest.NewGRPC(t)
	idp, keys := newIssuer(t, "k1")
	upstream := gatewaytest.NewUpstream(t)
	block := fmt.Sprintf(`tracing:
  enabled: true
  endpoint: %q
  insecure: true
  service_name: portcullis-e2e
`, rcv.Endpoint())
	g := gatewaytest.StartGatewayProcess(t, binary, append(baseEnv(), tracingEnv...), tracingConfig(t, idp, upstream.URL, block))
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)

	tok := keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "alice-subject", "orders:read", time.Hour))
	const (
		clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		clientSpan  = "00f067aa0ba902b7"
	)
	traceparent := "00-" + clientTrace + "-" + clientSpan + "-01"
	headers := map[string]string{"Authorization": "Bearer " + tok, "Traceparent": traceparent, "Tracestate": "vendor=abc"}

	spanOf := func(t *testing.T, kind tracepb.Span_SpanKind, what string, match func(tracingtest.Span) bool) tracingtest.Span {
		t.Helper()
		return rcv.WaitSpan(t, 5*time.Second, what, func(s tracingtest.Span) bool { return s.Kind == kind && match(s) })
	}
	// answered sends an untrusted GET for path, fails unless it is
	// answered with want, and returns its access-log line and the span of
	// kind in the trace that line names.
	answered := func(t *testing.T, path string, want int, kind tracepb.Span_SpanKind) (map[string]any, tracingtest.Span) {
		t.Helper()
		res := send(t, fromPeer("127.0.0.1"), g.URL(path), nil)
		if res.StatusCode != want {
			t.Fatalf("GET %s: status %d, want %d", path, res.StatusCode, want)
		}
		line := accessLine(t, g, res)
		what := fmt.Sprintf("%v span of the %d to %s", kind, want, path)
		return line, spanOf(t, kind, what, func(s tracingtest.Span) bool { return s.TraceID == line["trace_id"] })
	}

	t.Run("a trusted proxy's trace is continued and handed on", func(t *testing.T) {
		res := send(t, fromPeer(trustedPeer), g.URL("/orders/secret-order-123?q=1"), headers)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", res.StatusCode)
		}
		id := res.Header.Get(requestIDHeader)
		server := spanOf(t, tracepb.Span_SPAN_KIND_SERVER, "server span in the client's trace", func(s tracingtest.Span) bool { return s.TraceID == clientTrace })
		if server.Name != "GET orders" || server.ParentSpanID != clientSpan {
			t.Errorf("server span %q parent %s, want \"GET orders\" parent %s", server.Name, server.ParentSpanID, clientSpan)
		}
		want := map[string]string{
			"http.request.method": "GET", "url.scheme": "http", "http.response.status_code": "200",
			"network.protocol.version": "1.1", "client.address": trustedPeer,
			"portcullis.route": "orders", "portcullis.decision": "allowed", "portcullis.issuer": "corp",
		}
		for k, v := range want {
			if server.Attrs[k] != v {
				t.Errorf("server span %s = %q, want %q", k, server.Attrs[k], v)
			}
		}
		if server.Resource["service.name"] != "portcullis-e2e" {
			t.Errorf("service.name = %q", server.Resource["service.name"])
		}
		verify := spanOf(t, tracepb.Span_SPAN_KIND_INTERNAL, "verify token", func(s tracingtest.Span) bool { return s.TraceID == clientTrace && s.Name == "verify token" })
		if verify.ParentSpanID != server.SpanID || verify.Attrs["portcullis.issuer"] != "corp" {
			t.Errorf("verify span parent %s issuer %q, want parent %s issuer corp", verify.ParentSpanID, verify.Attrs["portcullis.issuer"], server.SpanID)
		}
		client := spanOf(t, tracepb.Span_SPAN_KIND_CLIENT, "client span", func(s tracingtest.Span) bool { return s.TraceID == clientTrace })
		if client.ParentSpanID != server.SpanID || client.Attrs["http.response.status_code"] != "200" || client.Attrs["server.address"] != "127.0.0.1" {
			t.Errorf("client span parent %s attrs %v, want parent %s, status 200, server.address 127.0.0.1", client.ParentSpanID, client.Attrs, server.SpanID)
		}
		tp, ts := upstreamTraceparent(t, upstream, id)
		gotTrace, gotParent, flags := parseTraceparent(t, tp)
		if gotTrace != clientTrace || gotParent != client.SpanID || flags != "01" {
			t.Errorf("upstream traceparent %s, want trace %s parent %s (the client span) sampled", tp, clientTrace, client.SpanID)
		}
		if ts != "vendor=abc" {
			t.Errorf("upstream tracestate %q, want the trusted proxy's vendor=abc", ts)
		}
		line := accessLine(t, g, res)
		checkFields(t, line, map[string]any{"trace_id": clientTrace, "span_id": server.SpanID})
	})

	t.Run("an untrusted client's trace becomes a link of a new root", func(t *testing.T) {
		const evilTrace, evilSpan = "11111111111111111111111111111111", "2222222222222222"
		h := withHeaders(headers, map[string]string{"Traceparent": "00-" + evilTrace + "-" + evilSpan + "-01", "Tracestate": "vendor=evil"})
		res := send(t, fromPeer("127.0.0.1"), g.URL("/orders/1"), h)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", res.StatusCode)
		}
		id := res.Header.Get(requestIDHeader)
		server := spanOf(t, tracepb.Span_SPAN_KIND_SERVER, "server span linked to the client's", func(s tracingtest.Span) bool {
			return len(s.Links) == 1 && s.Links[0].TraceID == evilTrace
		})
		if server.TraceID == evilTrace || server.ParentSpanID != "" || server.Links[0].SpanID != evilSpan {
			t.Errorf("server span trace %s parent %q link %v: want a new root linked to %s/%s", server.TraceID, server.ParentSpanID, server.Links, evilTrace, evilSpan)
		}
		client := spanOf(t, tracepb.Span_SPAN_KIND_CLIENT, "client span", func(s tracingtest.Span) bool { return s.TraceID == server.TraceID })
		tp, ts := upstreamTraceparent(t, upstream, id)
		gotTrace, gotParent, _ := parseTraceparent(t, tp)
		if gotTrace != server.TraceID || gotParent != client.SpanID {
			t.Errorf("upstream traceparent %s, want the gateway's trace %s, parent %s", tp, server.TraceID, client.SpanID)
		}
		if ts != "" {
			t.Errorf("upstream tracestate %q: an untrusted client's tracestate must not be handed on", ts)
		}
		checkFields(t, accessLine(t, g, res), map[string]any{"trace_id": server.TraceID, "span_id": server.SpanID})
	})

	t.Run("refusals and unmatched requests are named by route", func(t *testing.T) {
		_, refused := answered(t, "/orders/2", http.StatusUnauthorized, tracepb.Span_SPAN_KIND_SERVER)
		if refused.Name != "GET orders" || refused.Attrs["portcullis.reason"] != "missing" || refused.Attrs["portcullis.decision"] != "unauthenticated" || refused.Attrs["http.response.status_code"] != "401" {
			t.Errorf("refused span %q attrs %v", refused.Name, refused.Attrs)
		}
		_, unmatched := answered(t, "/nowhere/at-all", http.StatusNotFound, tracepb.Span_SPAN_KIND_SERVER)
		if unmatched.Name != "GET unmatched" || unmatched.Attrs["portcullis.reason"] != "no_route" {
			t.Errorf("unmatched span %q attrs %v", unmatched.Name, unmatched.Attrs)
		}
	})

	t.Run("an upstream that refuses is an error in both spans", func(t *testing.T) {
		line, server := answered(t, "/down", http.StatusBadGateway, tracepb.Span_SPAN_KIND_SERVER)
		client := spanOf(t, tracepb.Span_SPAN_KIND_CLIENT, "the failed call's span", func(s tracingtest.Span) bool { return s.TraceID == line["trace_id"] })
		if server.Name != "GET down" || server.StatusCode != tracepb.Status_STATUS_CODE_ERROR || server.Attrs["error.type"] != "upstream_error" {
			t.Errorf("server span %q status %v attrs %v, want an error of type upstream_error", server.Name, server.StatusCode, server.Attrs)
		}
		if client.ParentSpanID != server.SpanID || client.StatusCode != tracepb.Status_STATUS_CODE_ERROR {
			t.Errorf("client span parent %s status %v, want an error child of %s", client.ParentSpanID, client.StatusCode, server.SpanID)
		}
	})

	t.Run("the key set's fetch is a span of its own", func(t *testing.T) {
		fetch := spanOf(t, tracepb.Span_SPAN_KIND_CLIENT, "jwks fetch", func(s tracingtest.Span) bool { return s.Name == "jwks fetch" })
		if fetch.ParentSpanID != "" || fetch.Attrs["portcullis.issuer"] != "corp" || fetch.Attrs["portcullis.jwks.keys"] != "1" {
			t.Errorf("jwks fetch span parent %q attrs %v", fetch.ParentSpanID, fetch.Attrs)
		}
	})

	// Nothing of the token, its claims or the path reached the collector.
	for _, s := range rcv.Spans() {
		text := s.Name + fmt.Sprint(s.Attrs)
		checkNoSecret(t, "span "+s.Name, text, tok, tok[strings.LastIndexByte(tok, '.')+1:], "alice-subject", "secret-order-123", "q=1")
	}
}

// TestTracingOverHTTPProtobuf exports with the http/protobuf protocol to a
// receiver that decodes the collector's protobuf messages.
func TestTracingOverHTTPProtobuf(t *testing.T) {
	t.Parallel()
	rcv := tracingtest.NewHTTP(t)
	idp, keys := newIssuer(t, "k1")
	upstream := gatewaytest.NewUpstream(t)
	block := fmt.Sprintf("tracing:\n  enabled: true\n  protocol: http/protobuf\n  endpoint: %q\n", rcv.Endpoint())
	g := gatewaytest.StartGatewayProcess(t, binary, append(baseEnv(), tracingEnv...), tracingConfig(t, idp, upstream.URL, block))
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)
	tok := keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "bob", "orders:read", time.Hour))
	res := do(t, http.MethodGet, g.URL("/orders/7"), bearer(tok))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	line := accessLine(t, g, res)
	server := rcv.WaitSpan(t, 5*time.Second, "server span", func(s tracingtest.Span) bool {
		return s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.TraceID == line["trace_id"]
	})
	if server.Name != "GET orders" || server.SpanID != line["span_id"] {
		t.Errorf("server span %q %s, access log span_id %v", server.Name, server.SpanID, line["span_id"])
	}
	rcv.WaitSpan(t, 5*time.Second, "client span", func(s tracingtest.Span) bool {
		return s.Kind == tracepb.Span_SPAN_KIND_CLIENT && s.ParentSpanID == server.SpanID
	})
}

// TestTracingCollectorDown points the exporter at a closed port: requests
// are answered as quickly as ever, and the spans that could not be
// delivered are counted in /metrics.
func TestTracingCollectorDown(t *testing.T) {
	t.Parallel()
	closed := gatewaytest.FreeAddr(t) // nothing listens there
	idp, keys := newIssuer(t, "k1")
	upstream := gatewaytest.NewUpstream(t)
	block := fmt.Sprintf("tracing:\n  enabled: true\n  endpoint: %q\n  insecure: true\n  timeout: 500ms\n  queue_size: 8\n", closed)
	g := gatewaytest.StartGatewayProcess(t, binary, append(baseEnv(), tracingEnv...), tracingConfig(t, idp, upstream.URL, block))
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)
	tok := keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "carol", "orders:read", time.Hour))
	began := time.Now()
	for i := range 30 {
		res := do(t, http.MethodGet, g.URL(fmt.Sprintf("/orders/%d", i)), bearer(tok))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200 with the collector down", i, res.StatusCode)
		}
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("30 requests took %v with the collector down", d)
	}
	dropped := func() (float64, float64) {
		return counter(t, g, "portcullis_tracing_spans_dropped_total", labels("reason", "queue_full")),
			counter(t, g, "portcullis_tracing_spans_dropped_total", labels("reason", "export_error"))
	}
	eventually(t, 10*time.Second, "dropped spans counted", func() (bool, string) {
		full, failed := dropped()
		return full > 0 && failed > 0, fmt.Sprintf("queue_full %v, export_error %v", full, failed)
	})
	if n := counter(t, g, "portcullis_tracing_spans_exported_total", labels()); n != 0 {
		t.Errorf("exported = %v, want 0", n)
	}
	if !strings.Contains(g.Output(), "spans could not be exported") {
		t.Error("the export failure was not logged")
	}
}
