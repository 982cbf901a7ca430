package decision_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/proxy"
	"github.com/portcullis/portcullis/token/tokentest"
)

// overrideHeaders are the headers by which an upstream serves another URL
// (IIS, Symfony: X-Original-URL, X-Rewrite-URL) or another method (Rails,
// Symfony, Express, ASP.NET Core) than the request line's: what the
// proxy never forwards (a URL override) or refuses (a method override).
var overrideHeaders = []string{"x-original-url", "x-rewrite-url", "x-http-method-override", "x-http-method", "x-method-override"}

// An ingress forwards the client's headers. A decision is made on the
// described method and path, so a header that has the upstream serve
// another URL or method must never pass with an allowed decision: a
// description that carries one is refused (nginx and Traefik cannot be
// told to remove a header), and every allowed answer lists them for
// Envoy to remove (its HTTP service sends none of them by default, so
// the decision cannot see them).
func TestDecisionURLAndMethodOverrides(t *testing.T) {
	f := newFixture(t, "127.0.0.1/32")
	for _, tt := range []struct {
		name, path string
		h          map[string]string
	}{
		{"nginx, X-Original-URL", "/nginx", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/public/x", "X-Original-Host": "api.example.com", "X-Original-URL": "/orders/7"}},
		{"nginx, X-Rewrite-URL", "/nginx", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/public/x", "X-Original-Host": "api.example.com", "X-Rewrite-URL": "/orders/7"}},
		{"Traefik, X-Original-URL", "/traefik", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x", "X-Forwarded-Host": "api.example.com", "X-Original-URL": "/orders/7"}},
		{"Envoy HTTP, x-original-url", "/envoy/public/x", map[string]string{"Host": "api.example.com", "x-original-url": "/orders/7"}},
	} {
		t.Run("a description with a URL override is refused: "+tt.name, func(t *testing.T) {
			if w := f.call(tt.path, "127.0.0.1:4000", tt.h); w.Code != http.StatusBadRequest {
				t.Errorf("%d %s, want 400: the upstream would serve %s, which no route judged", w.Code, w.Body, tt.h["X-Original-URL"]+tt.h["X-Rewrite-URL"]+tt.h["x-original-url"])
			}
		})
	}

	t.Run("an allowed Envoy HTTP answer lists every override header to remove", func(t *testing.T) {
		w := f.call("/envoy/public/x", "127.0.0.1:4000", map[string]string{"Host": "api.example.com"})
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		listed := map[string]bool{}
		for n := range strings.SplitSeq(w.Header().Get(proxy.HeadersToRemoveHeader), ",") {
			listed[strings.TrimSpace(n)] = true
		}
		for _, name := range overrideHeaders {
			if !listed[name] {
				t.Errorf("%s = %q lacks %s: Envoy would forward the client's", proxy.HeadersToRemoveHeader, w.Header().Get(proxy.HeadersToRemoveHeader), name)
			}
		}
	})
}

// The same over gRPC: the OK response removes every override header, and
// a check whose request carries one is denied.
func TestGRPCURLAndMethodOverrides(t *testing.T) {
	f := newGRPCFixture(t, "127.0.0.1/32")
	res := f.check(t, envoyRequest("GET", "api.example.com", "/public/x", nil))
	remove := res.GetOkResponse().GetHeadersToRemove()
	if res.GetOkResponse() == nil {
		t.Fatalf("allowed request: %v", res)
	}
	for _, name := range overrideHeaders {
		if !slices.Contains(remove, name) {
			t.Errorf("headers_to_remove = %v lacks %s", remove, name)
		}
	}
	res = f.check(t, envoyRequest("GET", "api.example.com", "/public/x", map[string]string{"x-original-url": "/orders/7"}))
	if res.GetDeniedResponse().GetStatus().GetCode() != http.StatusBadRequest {
		t.Errorf("a check with x-original-url: %v, want denied with 400", res)
	}
}

// A described request that carries an X-Forwarded-Host is served by an
// upstream that trusts its ingress (Rails, Express, Spring) as that host's:
// as when proxied, a host that would take another route than the
// described host is refused, so that a public route's decision never lets
// a request reach a protected host.
func TestDecisionForwardedHost(t *testing.T) {
	iss := tokentest.NewIssuer(tokentest.RSA("k1", 2048))
	t.Cleanup(iss.Close)
	g := gatewaytest.StartYAML(t, `
server:
  trusted_proxies: ["127.0.0.1/32"]
decision:
  listen: "127.0.0.1:0"
issuers:
  - name: corp
    issuer: "`+iss.URL()+`"
    jwks_uri: "`+iss.JWKSURL()+`"
    audiences: [api]
    algorithms: [RS256]
routes:
  - name: admin
    match: {hosts: [admin.example.com], path_prefix: /}
    upstream: "http://127.0.0.1:1"
    auth: {mode: required}
  - name: www
    match: {path_prefix: /}
    upstream: "http://127.0.0.1:1"
    auth: {mode: public}
`)
	f := &fixture{g: g, decisions: g.Decisions()}
	for _, tt := range []struct {
		name, path string
		h          map[string]string
		multi      [][2]string
		want       int
	}{
		{"nginx: the client's X-Forwarded-Host names the protected host", "/nginx",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/users", "X-Original-Host": "www.example.com", "X-Forwarded-Host": "admin.example.com"}, nil, http.StatusBadRequest},
		{"Envoy HTTP: the client's X-Forwarded-Host names the protected host", "/envoy/users",
			map[string]string{"Host": "www.example.com", "X-Forwarded-Host": "admin.example.com"}, nil, http.StatusBadRequest},
		{"two X-Forwarded-Host values are refused", "/nginx",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/users", "X-Original-Host": "www.example.com"},
			[][2]string{{"X-Forwarded-Host", "www.example.com"}, {"X-Forwarded-Host", "admin.example.com"}}, http.StatusBadRequest},
		{"nginx: the client's Forwarded names the protected host", "/nginx",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/users", "X-Original-Host": "www.example.com", "Forwarded": `for=192.0.2.1;proto=https;host="admin.example.com"`}, nil, http.StatusBadRequest},
		{"a Forwarded host in a later element counts too", "/nginx",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/users", "X-Original-Host": "www.example.com", "Forwarded": "for=192.0.2.1, for=192.0.2.2;Host=admin.example.com"}, nil, http.StatusBadRequest},
		{"a Forwarded without a host is decided", "/nginx",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/users", "X-Original-Host": "www.example.com", "Forwarded": "for=192.0.2.1;proto=https"}, nil, http.StatusOK},
		{"an X-Forwarded-Host that takes the same route is decided", "/nginx",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/users", "X-Original-Host": "www.example.com", "X-Forwarded-Host": "other.example.com:8443"}, nil, http.StatusOK},
		{"no X-Forwarded-Host: the described host decides", "/nginx",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/users", "X-Original-Host": "www.example.com"}, nil, http.StatusOK},
		{"the protected host itself needs a token", "/nginx",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/users", "X-Original-Host": "admin.example.com"}, nil, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if w := f.call(tt.path, "127.0.0.1:4000", tt.h, tt.multi...); w.Code != tt.want {
				t.Errorf("%d %s, want %d", w.Code, w.Body, tt.want)
			}
		})
	}
}

// nginx's own description headers are not the client's: an X-Original-URL
// configured as decision.nginx.uri_header is no URL override.
func TestNginxDescriptionHeadersAreNotOverrides(t *testing.T) {
	g := gatewaytest.StartYAML(t, `
server:
  trusted_proxies: ["127.0.0.1/32"]
decision:
  listen: "127.0.0.1:0"
  nginx: {uri_header: X-Original-URL}
routes:
  - name: public
    match: {path_prefix: /public}
    upstream: "http://127.0.0.1:1"
    auth: {mode: public}
`)
	f := &fixture{g: g, decisions: g.Decisions()}
	w := f.call("/nginx", "127.0.0.1:4000", map[string]string{"X-Original-Method": "GET", "X-Original-URL": "/public/x", "X-Original-Host": "api.example.com"})
	if w.Code != http.StatusOK {
		t.Errorf("%d %s, want 200", w.Code, w.Body)
	}
}

// Over gRPC, Envoy sends every header: an x-forwarded-host that would take
// another route than the described host is denied.
func TestGRPCForwardedHost(t *testing.T) {
	f := newGRPCFixture(t, "127.0.0.1/32")
	// On www.example.com no route takes /orders; on api.example.com, orders.
	res := f.check(t, envoyRequest("GET", "api.example.com", "/public/x", map[string]string{"x-forwarded-host": "api.example.com"}))
	if res.GetOkResponse() == nil {
		t.Fatalf("the same host: %v, want allowed", res)
	}
	res = f.check(t, envoyRequest("GET", "www.example.com", "/orders/7", map[string]string{"x-forwarded-host": "api.example.com"}))
	if res.GetDeniedResponse().GetStatus().GetCode() != http.StatusBadRequest {
		t.Errorf("x-forwarded-host of another route: %v, want denied with 400", res)
	}
}

// An ingress replaces the claim headers the decision sets, in their own
// spelling, and forwards the client's others: X_User_Id, which CGI-style
// upstreams (PHP, WSGI) read as X-User-Id, would reach them beside the
// gateway's. A description carrying a claim header spelled with '_' is
// refused, whatever the shape; a plain spelling of the client's own is
// not (the ingress replaces it).
func TestDecisionClaimHeaderSpelledWithUnderscore(t *testing.T) {
	f := newFixture(t, "127.0.0.1/32")
	for _, tt := range []struct {
		name, path string
		h          map[string]string
		status     int
	}{
		{"Traefik, X_User_Id", "/traefik", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x", "X-Forwarded-Host": "api.example.com", "X_User_Id": "root"}, http.StatusBadRequest},
		{"nginx, X-Tenant spelled X_tenant", "/nginx", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/public/x", "X-Original-Host": "api.example.com", "X_tenant": "evil"}, http.StatusBadRequest},
		{"Envoy HTTP, x-user_id", "/envoy/public/x", map[string]string{"Host": "api.example.com", "x-user_id": "root"}, http.StatusBadRequest},
		{"Traefik, the client's own X-User-Id (replaced by the ingress)", "/traefik", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x", "X-Forwarded-Host": "api.example.com", "X-User-Id": "root"}, http.StatusOK},
		{"Traefik, an unrelated header with '_'", "/traefik", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x", "X-Forwarded-Host": "api.example.com", "X_Trace_Hint": "1"}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if w := f.call(tt.path, "127.0.0.1:4000", tt.h); w.Code != tt.status {
				t.Errorf("%d %s, want %d", w.Code, w.Body, tt.status)
			}
		})
	}
}
