package decision_test

// A micro-benchmark of the decision endpoint, to read next to the proxy's
// BenchmarkHandlerAllowed/RS256/cached (proxy/bench_test.go): the same
// issuer, route, claim headers and cached RS256 token, the same access log
// (JSON into io.Discard), one call per iteration through httptest. The
// proxy's figure includes forwarding to a RoundTripper that answers at
// once; a decision forwards nothing, so it should cost no more than that.
//
//	go test ./decision -run '^$' -bench Decide -benchmem

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// BenchmarkDecide is an allowed Envoy ext_authz HTTP call (GET
// /envoy/orders/42 with the original Host and the client's bearer token)
// from a trusted proxy, the token a cache hit after the first call: the
// path cleaning, route match, token, authorization and the 200 with three
// claim headers that the calling proxy sets upstream.
func BenchmarkDecide(b *testing.B) {
	g, auth := benchGateway(b)
	decisions := g.Decisions()

	decide := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/envoy/orders/42", nil)
		r.RemoteAddr, r.Host = "127.0.0.1:5000", "api.example.com"
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		decisions.ServeHTTP(w, r)
		return w
	}
	w := decide()
	if w.Code != http.StatusOK {
		b.Fatalf("status %d %s, want 200", w.Code, w.Body)
	}
	if got := w.Header().Get("X-User-Id") + " " + w.Header().Get("X-Tenant"); got != "alice acme" {
		b.Fatalf("claim headers %q, want \"alice acme\"", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		if w := decide(); w.Code != http.StatusOK {
			b.Fatalf("status %d, want 200", w.Code)
		}
	}
}

// benchGateway is the gateway of the decision benchmarks (the proxy's
// BenchmarkHandlerAllowed route, claim headers and cached RS256 token),
// with both decision transports configured, and the token's
// Authorization value.
func benchGateway(b *testing.B) (*gatewaytest.Gateway, string) {
	key := tokentest.RSA("bench-rs", 2048)
	iss := tokentest.NewIssuer(key)
	b.Cleanup(iss.Close)
	g := gatewaytest.Options{DiscardLogs: true}.StartYAML(b, fmt.Sprintf(`
server:
  trusted_proxies: ["127.0.0.1/32"]
decision:
  listen: "127.0.0.1:0"
  grpc_listen: "127.0.0.1:0"
issuers:
  - name: corp
    issuer: %q
    jwks_uri: %q
    audiences: [orders-api]
    algorithms: [RS256, ES256, EdDSA]
    required_claims: [sub, exp]
routes:
  - name: orders
    match: {path_prefix: /orders, methods: [GET]}
    upstream: "http://127.0.0.1:9"
    auth: {scopes: {all_of: ["orders:read"]}}
    forward: {claims_to_headers: {X-User-Id: sub, X-User-Scopes: scope, X-Tenant: org.tenant_id}}
`, iss.URL(), iss.JWKSURL()))
	auth := tokentest.Bearer(key.Sign(tokentest.Standard(iss.URL(), "orders-api", "alice", "orders:read", time.Hour).
		With("org", map[string]any{"tenant_id": "acme"})))
	return g, auth
}
