package proxy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/token/tokentest"
)

// hostsGateway serves an admin host whose cors policy allows appOrigin
// only, a DELETE-only route, and a public catch-all whose policy allows
// www's own origin, with 198.51.100.0/24 as trusted proxies.
func hostsGateway(t *testing.T) (*gatewaytest.Gateway, *tokentest.Key, *tokentest.Issuer) {
	t.Helper()
	key := tokentest.RSA("rsa-1", 2048)
	iss := tokentest.NewIssuer(key)
	t.Cleanup(iss.Close)
	up := gatewaytest.NewUpstream(t)
	return gatewaytest.StartYAML(t, fmt.Sprintf(`
server: {trusted_proxies: ["198.51.100.0/24"]}
issuers:
  - {name: corp, issuer: %q, jwks_uri: %q, audiences: [orders-api], algorithms: [RS256]}
routes:
  - name: admin
    match: {hosts: [admin.example.com], path_prefix: /}
    upstream: %q
    auth: {scopes: {all_of: [admin]}}
    cors: {allowed_origins: [%q]}
  - name: orders-delete
    match: {path_prefix: /orders, methods: [DELETE]}
    upstream: %q
    auth: {scopes: {all_of: ["orders:admin"]}}
  - name: public
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
    cors: {allowed_origins: ["https://www.example.com"]}
`, iss.URL(), iss.JWKSURL(), up.URL, appOrigin, up.URL, up.URL)), key, iss
}

// A preflight is answered by the cors policy of the route the request
// would be routed to: from a trusted proxy, the one of its
// X-Forwarded-Host, which is the host the upstream is told.
func TestPreflightIsRoutedOnTheForwardedHost(t *testing.T) {
	gw, _, _ := hostsGateway(t)
	preflight := func(peer, origin string, xfh ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodOptions, "http://www.example.com/x", nil)
		r.RemoteAddr = peer
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", http.MethodGet)
		for _, v := range xfh {
			r.Header.Add("X-Forwarded-Host", v)
		}
		w := httptest.NewRecorder()
		gw.Handler().ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct {
		name, peer, origin string
		xfh                []string
		status             int
	}{
		{"www's origin, asking www, is allowed by public's policy", "198.51.100.7:1", "https://www.example.com", nil, http.StatusNoContent},
		{"www's origin, asking admin through a trusted proxy, is refused by admin's policy", "198.51.100.7:1", "https://www.example.com", []string{"admin.example.com"}, http.StatusForbidden},
		{"admin's origin, asking admin through a trusted proxy, is allowed by admin's policy", "198.51.100.7:1", appOrigin, []string{"admin.example.com"}, http.StatusNoContent},
		{"an untrusted client's X-Forwarded-Host is not routed on", "192.0.2.7:1", "https://www.example.com", []string{"admin.example.com"}, http.StatusNoContent},
		{"a trusted proxy's list of hosts is refused", "198.51.100.7:1", appOrigin, []string{"admin.example.com, www.example.com"}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := preflight(tc.peer, tc.origin, tc.xfh...); w.Code != tc.status {
				t.Errorf("status %d, want %d; headers %v", w.Code, tc.status, w.Header())
			}
		})
	}
}

// A described request (Decide) is refused for its method as a proxied one
// is, and routed on the host its ingress described: the call's headers
// are the client's, and an X-Forwarded-Host among them is the client's
// word, even from a trusted caller. But the ingress forwards that word
// to an upstream that may serve it as the host: one that would take
// another route, or is not one valid host, is refused as when proxied.
func TestDescribedRequestMethodAndHost(t *testing.T) {
	gw, key, iss := hostsGateway(t)
	admin := "Bearer " + key.Sign(tokentest.Standard(iss.URL(), "orders-api", "alice", "orders:admin", 5*time.Minute))
	decide := func(method, host string, headers ...string) (*httptest.ResponseRecorder, outcome.Reason, string) {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+"/orders/1", nil)
		r.Method = method
		r.RemoteAddr = "198.51.100.7:1" // the ingress
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		o := gw.ProxyHandler().Decide(w, r)
		route := ""
		if o.Route != nil {
			route = o.Route.Name
		}
		return w, o.Reason, route
	}
	t.Run("a lower-case method is refused with 405", func(t *testing.T) {
		w, reason, _ := decide("delete", "www.example.com")
		if w.Code != http.StatusMethodNotAllowed || reason != outcome.MethodNotAllowed || w.Header().Get("Allow") == "" {
			t.Errorf("%d %q, Allow %q; want 405 method_not_allowed with Allow", w.Code, reason, w.Header().Get("Allow"))
		}
	})
	t.Run("a method-override header naming another method is refused with 400", func(t *testing.T) {
		w, reason, _ := decide(http.MethodDelete, "www.example.com", "Authorization", admin, "X-HTTP-Method-Override", "GET")
		if w.Code != http.StatusBadRequest || reason != outcome.MethodOverride {
			t.Errorf("%d %q, want 400 method_override", w.Code, reason)
		}
	})
	t.Run("the same request without it is allowed", func(t *testing.T) {
		if w, reason, route := decide(http.MethodDelete, "www.example.com", "Authorization", admin); w.Code != http.StatusOK || route != "orders-delete" {
			t.Errorf("%d %q on %q, want 200 on orders-delete", w.Code, reason, route)
		}
	})
	t.Run("the described host is routed on, and an X-Forwarded-Host that takes another route is refused", func(t *testing.T) {
		if w, _, route := decide(http.MethodGet, "www.example.com", "X-Forwarded-Host", "admin.example.com"); w.Code != http.StatusBadRequest {
			t.Errorf("%d on %q, want 400: the upstream would serve admin.example.com on public's decision", w.Code, route)
		}
		if w, reason, _ := decide(http.MethodGet, "admin.example.com", "X-Forwarded-Host", "www.example.com"); w.Code != http.StatusBadRequest || reason != outcome.BadHost {
			t.Errorf("%d %q, want 400 bad_host", w.Code, reason)
		}
		if w, reason, _ := decide(http.MethodGet, "www.example.com", "X-Forwarded-Host", "a.example.com, b.example.com"); w.Code != http.StatusBadRequest || reason != outcome.BadHost {
			t.Errorf("%d %q, want 400 bad_host for a list", w.Code, reason)
		}
		if w, _, route := decide(http.MethodGet, "www.example.com", "X-Forwarded-Host", "a.example.com"); w.Code != http.StatusOK || route != "public" {
			t.Errorf("%d on %q, want 200 on public: a.example.com takes the same route", w.Code, route)
		}
		if w, _, route := decide(http.MethodGet, "admin.example.com", "X-Forwarded-Host", "Admin.Example.com:443"); w.Code != http.StatusUnauthorized || route != "admin" {
			t.Errorf("%d on %q, want 401 on admin", w.Code, route)
		}
	})
}

// The access line of a request routed on a trusted proxy's
// X-Forwarded-Host names that host beside the Host sent; one routed on its
// Host has no routed_host.
func TestAccessLogNamesTheRoutedHost(t *testing.T) {
	gw, _, _ := hostsGateway(t)
	for _, tc := range []struct {
		name, peer string
		route      string
		routed     string // "": no routed_host field
	}{
		{"a trusted proxy's X-Forwarded-Host is logged as routed_host", "198.51.100.7:1", "admin", "admin.example.com"},
		{"an untrusted client's is not routed on, and not logged", "192.0.2.7:1", "public", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw.Logs.TakeAll()
			r := httptest.NewRequest(http.MethodGet, "http://www.example.com/x", nil)
			r.RemoteAddr = tc.peer
			r.Header.Set("X-Forwarded-Host", "admin.example.com")
			gw.Handler().ServeHTTP(httptest.NewRecorder(), r)
			lines := gw.Logs.FilterMessage("request").All()
			if len(lines) != 1 {
				t.Fatalf("%d access lines, want 1", len(lines))
			}
			fields := lines[0].ContextMap()
			if fields["route"] != tc.route || fields["host"] != "www.example.com" {
				t.Errorf("route %v, host %v; want %s, www.example.com", fields["route"], fields["host"], tc.route)
			}
			got, ok := fields["routed_host"]
			if tc.routed == "" && ok || tc.routed != "" && got != tc.routed {
				t.Errorf("routed_host = %v (present %v), want %q", got, ok, tc.routed)
			}
		})
	}
}
