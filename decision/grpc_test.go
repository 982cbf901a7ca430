package decision_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/portcullis/portcullis/decision"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// grpcFixture is a gateway whose ext_authz gRPC service is served on a
// loopback listener and called, as Envoy calls it, through the generated
// Authorization client.
type grpcFixture struct {
	*fixture
	server *decision.GRPCServer
	addr   string
	conn   *grpc.ClientConn
	client authv3.AuthorizationClient
}

// newGRPCFixture starts a gateway that trusts the proxies in trusted
// (127.0.0.1, the test's client, or not) and serves its gRPC service
// with the default limits.
func newGRPCFixture(t *testing.T, trusted string) *grpcFixture {
	t.Helper()
	return newLimitedGRPCFixture(t, trusted, decision.GRPCLimits{})
}

// newLimitedGRPCFixture is newGRPCFixture with the listener's limits.
func newLimitedGRPCFixture(t *testing.T, trusted string, limits decision.GRPCLimits) *grpcFixture {
	t.Helper()
	f := newFixture(t, trusted)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := decision.NewGRPCServer(f.g.ProxyHandler(), limits, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &grpcFixture{fixture: f, server: srv, addr: ln.Addr().String(), conn: conn, client: authv3.NewAuthorizationClient(conn)}
}

// check asks about the request http describes, as Envoy does: headers
// with lower-case names and its pseudo-headers among them.
func (f *grpcFixture) check(t *testing.T, http *authv3.AttributeContext_HttpRequest) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := f.client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: http},
	}})
	if err != nil {
		t.Fatalf("Check: a decision is no gRPC error: %v", err)
	}
	return res
}

// envoyRequest is a request as Envoy describes it: the pseudo-headers in
// headers as well as in their fields.
func envoyRequest(method, host, path string, headers map[string]string) *authv3.AttributeContext_HttpRequest {
	h := map[string]string{":method": method, ":authority": host, ":path": path, ":scheme": "https", "x-request-id": "envoy-1"}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.AttributeContext_HttpRequest{Method: method, Host: host, Path: path, Scheme: "https", Protocol: "HTTP/2", Headers: h}
}

// set is the headers an allowed answer sets, by name.
func set(res *authv3.CheckResponse) map[string]string {
	out := map[string]string{}
	for _, o := range res.GetOkResponse().GetHeaders() {
		if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			panic("a claim header is not set with OVERWRITE_IF_EXISTS_OR_ADD: " + o.String())
		}
		out[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
	}
	return out
}

func deniedHeader(res *authv3.CheckResponse, name string) string {
	for _, o := range res.GetDeniedResponse().GetHeaders() {
		if o.GetHeader().GetKey() == name {
			return o.GetHeader().GetValue()
		}
	}
	return ""
}

// An allowed check sets the token's claim headers and removes every other
// claim header, so that a client's own copy of any claim header never
// reaches the upstream: replaced where the token sets it, removed where
// it does not. Nothing is both set and removed, since Envoy removes after
// it sets.
func TestGRPCAllowedSetsClaimsAndRemovesTheRest(t *testing.T) {
	f := newGRPCFixture(t, "127.0.0.1/32")
	res := f.check(t, envoyRequest("GET", "api.example.com", "/orders/7?x=1", map[string]string{
		"authorization": tokentest.Bearer(f.token("orders:read")),
		"x-user-id":     "mallory", // the client's own copies
		"x-tenant":      "evil",
	}))
	if codes.Code(res.GetStatus().GetCode()) != codes.OK || res.GetOkResponse() == nil {
		t.Fatalf("allowed request: %v", res)
	}
	if got := set(res); len(got) != 1 || got["x-user-id"] != "alice" {
		t.Errorf("headers set = %v, want only x-user-id: alice", got)
	}
	remove := res.GetOkResponse().GetHeadersToRemove()
	if want := append([]string{"x-tenant"}, overrideHeaders...); !slices.Equal(remove, want) {
		t.Errorf("headers to remove = %v, want %v: the claim header the token does not set, and the overrides", remove, want)
	}
	all := append(slices.DeleteFunc(slices.Clone(remove), func(n string) bool { return slices.Contains(overrideHeaders, n) }), "x-user-id")
	slices.Sort(all)
	if want := f.g.ProxyHandler().Runtime().ClaimHeaderNames(); !slices.Equal(all, want) {
		t.Errorf("set and removed together = %v, want every claim header %v", all, want)
	}
	for _, o := range res.GetOkResponse().GetHeaders() {
		if k := o.GetHeader().GetKey(); k == "x-request-id" || k == "cache-control" || k == "x-envoy-auth-headers-to-remove" {
			t.Errorf("the answer sets %s on the upstream request", k)
		}
	}
}

// Each refusal reaches Envoy as the code that its status means and the
// very status, challenge and JSON body a proxied request gets; every
// description a proxied request could not be is refused, never guessed.
func TestGRPCRefusalsAnswerAsTheProxy(t *testing.T) {
	f := newGRPCFixture(t, "127.0.0.1/32")
	good, weak := tokentest.Bearer(f.token("orders:read")), tokentest.Bearer(f.token("profile"))
	raw := func(kv ...string) *authv3.AttributeContext_HttpRequest {
		r := envoyRequest("GET", "api.example.com", "/orders/7", nil)
		r.Headers = nil
		r.HeaderMap = &corev3.HeaderMap{}
		for i := 0; i < len(kv); i += 2 {
			r.HeaderMap.Headers = append(r.HeaderMap.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
		}
		return r
	}
	tests := []struct {
		name      string
		req       *authv3.AttributeContext_HttpRequest
		code      codes.Code
		status    int32
		error     string // the JSON body's error
		challenge string // a part of WWW-Authenticate; "" for none
	}{
		{"a request without a token is unauthenticated, with the bare challenge",
			envoyRequest("GET", "api.example.com", "/orders/7", nil),
			codes.Unauthenticated, 401, "unauthorized", `Bearer realm="portcullis"`},
		{"a token without the route's scope is permission denied, naming the scope",
			envoyRequest("GET", "api.example.com", "/orders/7", map[string]string{"authorization": weak}),
			codes.PermissionDenied, 403, "insufficient_scope", `scope="orders:read"`},
		{"a bad token is unauthenticated, with invalid_token",
			envoyRequest("GET", "api.example.com", "/orders/7", map[string]string{"authorization": "Bearer not.a.token"}),
			codes.Unauthenticated, 401, "invalid_token", `error="invalid_token"`},
		{"an encoded slash is an invalid argument, as when proxied",
			envoyRequest("GET", "api.example.com", "/public%2F..%2Forders/7", map[string]string{"authorization": good}),
			codes.InvalidArgument, 400, "invalid_request", ""},
		{"a request no route matches is not found",
			envoyRequest("GET", "api.example.com", "/nowhere", map[string]string{"authorization": good}),
			codes.NotFound, 404, "not_found", ""},
		{"CONNECT is unimplemented: the gateway opens no tunnels",
			envoyRequest("CONNECT", "api.example.com", "/orders/7", map[string]string{"authorization": good}),
			codes.Unimplemented, 405, "method_not_allowed", ""},
		{"an absolute path is no description",
			envoyRequest("GET", "api.example.com", "http://evil/public/x", nil),
			codes.InvalidArgument, 400, "invalid_request", ""},
		{"a scheme-relative path is no description",
			envoyRequest("GET", "api.example.com", "//evil/public/x", nil),
			codes.InvalidArgument, 400, "invalid_request", ""},
		{"a missing method is no description",
			envoyRequest("", "api.example.com", "/public/x", nil),
			codes.InvalidArgument, 400, "invalid_request", ""},
		{"a missing host is no description",
			envoyRequest("GET", "", "/public/x", nil),
			codes.InvalidArgument, 400, "invalid_request", ""},
		{"a query that path does not carry is no description",
			func() *authv3.AttributeContext_HttpRequest {
				r := envoyRequest("GET", "api.example.com", "/public/x", nil)
				r.Query = "admin=1"
				return r
			}(),
			codes.InvalidArgument, 400, "invalid_request", ""},
		{"headers and header_map together are no description",
			func() *authv3.AttributeContext_HttpRequest {
				r := envoyRequest("GET", "api.example.com", "/public/x", nil)
				r.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "authorization", RawValue: []byte(good)}}}
				return r
			}(),
			codes.InvalidArgument, 400, "invalid_request", ""},
		{"a header value with a line break is no description",
			envoyRequest("GET", "api.example.com", "/public/x", map[string]string{"x-note": "a\r\nx-user-id: mallory"}),
			codes.InvalidArgument, 400, "invalid_request", ""},
		{"a call describing no HTTP request is no description",
			nil, codes.InvalidArgument, 400, "invalid_request", ""},
		{"two raw Authorization headers are refused as when proxied",
			raw("authorization", good, "authorization", good),
			codes.Unauthenticated, 401, "invalid_token", `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.check(t, tt.req)
			if got := codes.Code(res.GetStatus().GetCode()); got != tt.code {
				t.Errorf("code %v, want %v", got, tt.code)
			}
			d := res.GetDeniedResponse()
			if d == nil {
				t.Fatalf("no denied response: %v", res)
			}
			if got := int32(d.GetStatus().GetCode()); got != tt.status {
				t.Errorf("HTTP status %d, want %d", got, tt.status)
			}
			var body struct{ Error string }
			if err := json.Unmarshal([]byte(d.GetBody()), &body); err != nil || body.Error != tt.error {
				t.Errorf("body %q (%v), want error %q", d.GetBody(), err, tt.error)
			}
			if ct := deniedHeader(res, "content-type"); ct != "application/json" {
				t.Errorf("content-type %q", ct)
			}
			if c := deniedHeader(res, "www-authenticate"); tt.challenge == "" && c != "" || !strings.Contains(c, tt.challenge) {
				t.Errorf("www-authenticate %q, want %q", c, tt.challenge)
			}
			if tt.challenge == `Bearer realm="portcullis"` && deniedHeader(res, "www-authenticate") != tt.challenge {
				t.Errorf("www-authenticate %q, want exactly %q", deniedHeader(res, "www-authenticate"), tt.challenge)
			}
			for _, o := range d.GetHeaders() {
				if k := o.GetHeader().GetKey(); k == "x-request-id" || k == "connection" || k == "x-user-id" {
					t.Errorf("a refusal sends %s", k)
				}
			}
		})
	}
	t.Run("raw headers (encode_raw_headers) are read", func(t *testing.T) {
		res := f.check(t, raw("authorization", good))
		if codes.Code(res.GetStatus().GetCode()) != codes.OK || set(res)["x-user-id"] != "alice" {
			t.Errorf("raw headers: %v", res)
		}
	})
}

// A caller outside server.trusted_proxies is refused before its
// description is read: the request it describes is public, but an
// untrusted caller could make any request look public.
func TestGRPCUntrustedPeerIsRefused(t *testing.T) {
	f := newGRPCFixture(t, "10.0.0.0/8")
	res := f.check(t, envoyRequest("GET", "api.example.com", "/public/x", nil))
	if got := codes.Code(res.GetStatus().GetCode()); got != codes.PermissionDenied {
		t.Errorf("code %v, want PermissionDenied", got)
	}
	d := res.GetDeniedResponse()
	if d.GetStatus().GetCode() != 403 || !strings.Contains(d.GetBody(), "access_denied") {
		t.Errorf("denied %v, want 403 access_denied", d)
	}
	m := f.g.Metrics()
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("unmatched", "POST", "403", "decision")); got != 1 {
		t.Errorf(`portcullis_requests_total{route="unmatched",method="POST",code="403",via="decision"} = %v, want 1`, got)
	}
	if n := testutil.CollectAndCount(m.AuthFailures); n != 0 {
		t.Errorf("%d failure series: a refused call is no authentication failure", n)
	}
}

// Checks count like proxied requests, under via="decision", by the
// described request's route and method.
func TestGRPCChecksAreCounted(t *testing.T) {
	f := newGRPCFixture(t, "127.0.0.1/32")
	f.check(t, envoyRequest("GET", "api.example.com", "/orders/7", map[string]string{"authorization": tokentest.Bearer(f.token("orders:read"))}))
	f.check(t, envoyRequest("GET", "api.example.com", "/orders/7", nil))
	f.check(t, envoyRequest("GET", "api.example.com", "//evil", nil))
	m := f.g.Metrics()
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"orders", "GET", "200", "decision"}, 1},
		{[]string{"orders", "GET", "401", "decision"}, 1},
		{[]string{"unmatched", "POST", "400", "decision"}, 1},
	} {
		if got := testutil.ToFloat64(m.Requests.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("portcullis_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.Requests, "portcullis_requests_total"); n != 3 {
		t.Errorf("%d request series, want 3 (nothing counted via proxy)", n)
	}
	if got := testutil.ToFloat64(m.AuthDecisions.WithLabelValues("orders", "allowed", "enforce", "decision")); got != 1 {
		t.Errorf("allowed decisions = %v, want 1", got)
	}
}

// The health service answers SERVING for the server and for the
// Authorization service, and NOT_SERVING once the server drains.
func TestGRPCHealth(t *testing.T) {
	f := newGRPCFixture(t, "127.0.0.1/32")
	health := healthpb.NewHealthClient(f.conn)
	status := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health %q: %v", service, err)
		}
		return res.GetStatus()
	}
	for _, s := range []string{"", "envoy.service.auth.v3.Authorization"} {
		if got := status(s); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q = %v, want SERVING", s, got)
		}
	}
	f.server.Drain()
	if got := status(""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health while draining = %v, want NOT_SERVING", got)
	}
	res := f.check(t, envoyRequest("GET", "api.example.com", "/public/x", nil))
	if codes.Code(res.GetStatus().GetCode()) != codes.OK {
		t.Errorf("a check while draining: %v, want it still answered", res)
	}
}

// Shutdown ends what is still running when its context ends: a client
// watching the health service does not hold the server past the grace.
func TestGRPCShutdownEndsWithinTheGrace(t *testing.T) {
	f := newGRPCFixture(t, "127.0.0.1/32")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := healthpb.NewHealthClient(f.conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	grace, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stop()
	start := time.Now()
	if err := f.server.Shutdown(grace); err == nil {
		t.Errorf("Shutdown with a stream open past the grace returned nil, want the context's error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}

// BenchmarkGRPCCheck is BenchmarkDecide's allowed call as an ext_authz
// gRPC Check (called in process, as the server calls it, without the
// transport): the description read from the CheckRequest, the decision,
// and its translation into a CheckResponse.
//
//	go test ./decision -run '^$' -bench 'Decide|GRPCCheck' -benchmem
func BenchmarkGRPCCheck(b *testing.B) {
	g, auth := benchGateway(b)
	svc := decision.NewGRPC(g.ProxyHandler())
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}})
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: envoyRequest("GET", "api.example.com", "/orders/42", map[string]string{"authorization": auth}),
	}}}
	check := func() *authv3.CheckResponse {
		res, err := svc.Check(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	if res := check(); codes.Code(res.GetStatus().GetCode()) != codes.OK || len(res.GetOkResponse().GetHeaders()) != 3 {
		b.Fatalf("%v, want OK with three claim headers", res)
	}
	b.ReportAllocs()
	for b.Loop() {
		if res := check(); codes.Code(res.GetStatus().GetCode()) != codes.OK {
			b.Fatalf("%v, want OK", res)
		}
	}
}

// The ext_authz CheckRequest names the downstream peer Envoy saw in
// attributes.source.address: client_ip limits count by it, not by an
// x-forwarded-for the client wrote (Envoy passes one on unless
// use_remote_address is set, which the example leaves off).
func TestGRPCClientIPCountsBySourceAddress(t *testing.T) {
	svc, ctx := rateLimitedGRPC(t)
	var codes []int32
	for i := 1; i <= 3; i++ {
		res, err := svc.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "192.0.2.9", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Host: "api.example.com", Path: "/public/x",
				Headers: map[string]string{"x-forwarded-for": fmt.Sprintf("203.0.113.%d", i)},
			}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, res.GetStatus().GetCode())
	}
	if codes[0] != 0 || codes[1] == 0 || codes[2] == 0 {
		t.Errorf("one client (source 192.0.2.9) with three x-forwarded-for values of its own, limit 1/m: grpc codes %v, want [0, refused, refused]", codes)
	}
}

// A denied response carries the headers of the refusal that a proxied
// request gets beyond the challenge: a 405's Allow (RFC 9110 §15.5.6: a
// 405 must have one) and a 429's Retry-After, RateLimit and
// RateLimit-Policy, which Envoy passes on to the client with the status.
func TestGRPCDeniedResponseKeepsAllowAndRateLimitFields(t *testing.T) {
	f := newGRPCFixture(t, "127.0.0.1/32")
	for _, method := range []string{"CONNECT", "delete"} {
		res := f.check(t, envoyRequest(method, "api.example.com", "/orders/7", nil))
		if got := res.GetDeniedResponse().GetStatus().GetCode(); got != 405 {
			t.Fatalf("%s: HTTP status %d, want 405", method, got)
		}
		if allow := deniedHeader(res, "allow"); allow == "" || strings.Contains(allow, "CONNECT") {
			t.Errorf("%s: a 405 with allow %q, want the methods the gateway serves (RFC 9110 §15.5.6)", method, allow)
		}
	}

	svc, ctx := rateLimitedGRPC(t)
	var res *authv3.CheckResponse
	for range 2 {
		var err error
		res, err = svc.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: envoyRequest("GET", "api.example.com", "/public/x", nil)},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := res.GetDeniedResponse().GetStatus().GetCode(); got != 429 {
		t.Fatalf("the second call under a limit of 1/m: HTTP status %d, want 429", got)
	}
	for _, name := range []string{"retry-after", "ratelimit", "ratelimit-policy"} {
		if deniedHeader(res, name) == "" {
			t.Errorf("a 429 without %s: %v", name, res.GetDeniedResponse().GetHeaders())
		}
	}
}

// rateLimitedGRPC is the decision service of a gateway whose one route,
// public, allows one request a minute per client address, and the context
// of a call from a trusted Envoy on 127.0.0.1.
func rateLimitedGRPC(t *testing.T) (*decision.GRPC, context.Context) {
	t.Helper()
	g := gatewaytest.StartYAML(t, `
server:
  trusted_proxies: ["127.0.0.1/32"]
decision:
  grpc_listen: "127.0.0.1:0"
routes:
  - name: public
    match: {path_prefix: /public}
    upstream: "http://127.0.0.1:1"
    auth: {mode: public}
    rate_limit:
      - {key: client_ip, rate: 1/m, burst: 1}
`)
	return decision.NewGRPC(g.ProxyHandler()), peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}})
}
