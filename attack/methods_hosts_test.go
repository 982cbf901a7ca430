package attack_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/token/tokentest"
)

// Requests that an upstream would serve as another method or another host
// than the ones their route was matched on: each would slip past a
// method- or host-restricted protected route into the public catch-all of
// catchAllYAML. They are refused before routing, or routed on what the
// upstream will act on.

// TestLowerCaseMethodIsRefusedBeforeRouting: Go's server takes any token
// as a method and routes match methods byte for byte, so "delete" would
// skip the DELETE-only route and reach the upstream through the public
// catch-all; Django, Werkzeug/Flask and Rack apps upper-case it and serve
// it as DELETE. Every method with a lower-case letter is refused with 405,
// counted under the method label OTHER.
func TestLowerCaseMethodIsRefusedBeforeRouting(t *testing.T) {
	tg := newCatchAllTarget(t)
	for _, m := range []string{"delete", "Delete", "post", "get", "pATCH", "connect", "Connect"} {
		t.Run(m, func(t *testing.T) {
			was := testutil.ToFloat64(tg.m.Requests.WithLabelValues("unmatched", "OTHER", "405", "proxy"))
			req := httptest.NewRequest(m, "http://api.example.com/orders/1", nil)
			res := tg.refused(t, req, http.StatusMethodNotAllowed, "", "")
			if res.json["error"] != "method_not_allowed" {
				t.Errorf("error %v, want method_not_allowed", res.json["error"])
			}
			if allow := res.header.Get("Allow"); allow == "" || strings.Contains(allow, "CONNECT") {
				t.Errorf("Allow = %q, want the methods served, CONNECT not among them", allow)
			}
			if res.header.Get("WWW-Authenticate") != "" {
				t.Errorf("a method refusal challenges for a token: %q", res.header.Get("WWW-Authenticate"))
			}
			if got := testutil.ToFloat64(tg.m.Requests.WithLabelValues("unmatched", "OTHER", "405", "proxy")); got != was+1 {
				t.Errorf("requests_total{unmatched,OTHER,405} went from %v to %v, want +1", was, got)
			}
		})
	}
	t.Run("the same methods in upper case are routed", func(t *testing.T) {
		tg.refused(t, httptest.NewRequest(http.MethodDelete, "http://api.example.com/orders/1", nil), http.StatusUnauthorized, "unknown", "missing")
		tg.allowed(t, httptest.NewRequest(http.MethodGet, "http://api.example.com/orders/1", nil))
		tg.allowed(t, httptest.NewRequest("PURGE", "http://api.example.com/orders/1", nil))
	})
}

// TestLowerCaseMethodIsRefusedOverTheWire: the same through the gateway's
// own listener, raw TCP: nothing before the handler normalises the method.
func TestLowerCaseMethodIsRefusedOverTheWire(t *testing.T) {
	tg := newCatchAllTarget(t)
	addr := tg.serve()
	before := tg.up.Count()
	res := rawRequest(t, addr, "delete /orders/1 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("raw \"delete /orders/1\" without a token got %d, want 405", res.StatusCode)
	}
	if n := tg.up.Count() - before; n != 0 {
		t.Errorf("raw \"delete /orders/1\" reached the upstream as %q", tg.up.Last().Method)
	}
}

// TestMethodOverrideHeaderIsRefused: a token allowed to POST on the
// POST-only route must not bring X-HTTP-Method-Override: DELETE to an
// upstream that honours it (Rails' Rack::MethodOverride, Symfony/Laravel,
// Express's method-override, ASP.NET Core's UseHttpMethodOverride) and
// serves the DELETE that orders-delete refused it. A header naming the
// request's own method changes nothing and passes.
func TestMethodOverrideHeaderIsRefused(t *testing.T) {
	tg := newCatchAllTarget(t)
	tok := tg.rsa.Sign(tokentest.Standard(tg.corp.URL(), audience, "alice", "orders:create", 0))
	post := func(headers ...string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, "http://api.example.com/orders/1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1])
		}
		return req
	}
	del := post()
	del.Method = http.MethodDelete
	tg.refused(t, del, http.StatusForbidden, "corp", "insufficient_scope")

	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"X-HTTP-Method-Override", []string{"X-Http-Method-Override", "DELETE"}},
		{"X-HTTP-Method", []string{"X-Http-Method", "DELETE"}},
		{"X-Method-Override", []string{"X-Method-Override", "DELETE"}},
		{"a name in lower case, as HTTP/2 sends it", []string{"x-http-method-override", "DELETE"}},
		{"a name with '_' for '-', which CGI-style servers merge", []string{"X_HTTP_METHOD_OVERRIDE", "DELETE"}},
		{"a value in lower case", []string{"X-Http-Method-Override", "delete"}},
		{"the own method in lower case", []string{"X-Http-Method-Override", "post"}},
		{"a second value that differs", []string{"X-Http-Method-Override", "POST", "X-Http-Method-Override", "DELETE"}},
		{"an empty value", []string{"X-Http-Method-Override", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg.logs.TakeAll()
			res := tg.refused(t, post(tc.headers...), http.StatusBadRequest, "", "")
			if res.json["error"] != "invalid_request" {
				t.Errorf("error %v, want invalid_request", res.json["error"])
			}
			if got := lastReason(tg); got != "method_override" {
				t.Errorf("access log reason %q, want method_override", got)
			}
		})
	}
	t.Run("a header naming the request's own method passes", func(t *testing.T) {
		up := tg.allowed(t, post("X-Http-Method-Override", "POST", "X-Http-Method", "POST"))
		if up.Method != http.MethodPost {
			t.Errorf("upstream got %s", up.Method)
		}
	})
}

// lastReason is the reason of the last access-log line.
func lastReason(tg *target) string {
	lines := tg.logs.FilterMessage("request").All()
	if len(lines) == 0 {
		return ""
	}
	r, _ := lines[len(lines)-1].ContextMap()["reason"].(string)
	return r
}

// TestTrustedForwardedHostIsTheRoutedHost: a trusted proxy's
// X-Forwarded-Host is kept and forwarded, and Rails, Express and Spring
// pick their host (a tenant, the admin site) by it; so it is the host the
// request is routed on. Matched on Host, "Host: www" with
// "X-Forwarded-Host: admin" would reach admin's upstream without a token.
// One that names several hosts (two headers, a list) is refused: Express
// takes the first, Rack the last.
func TestTrustedForwardedHostIsTheRoutedHost(t *testing.T) {
	tg := newCatchAllTarget(t)
	const trusted, untrusted = "198.51.100.7:4000", "192.0.2.7:4000"
	get := func(peer, host string, xfh ...string) *http.Request {
		req := httptest.NewRequest(http.MethodGet, "http://"+host+"/x", nil)
		req.RemoteAddr = peer
		req.Header["X-Forwarded-Host"] = xfh
		if xfh == nil {
			delete(req.Header, "X-Forwarded-Host")
		}
		return req
	}
	tg.refused(t, get(trusted, "admin.example.com"), http.StatusUnauthorized, "unknown", "missing")

	for _, tc := range []struct {
		name string
		xfh  string
	}{
		{"the admin host", "admin.example.com"},
		{"the admin host in another spelling", "Admin.Example.COM.:443"},
	} {
		t.Run("from a trusted proxy, "+tc.name+" in X-Forwarded-Host is routed to it", func(t *testing.T) {
			tg.refused(t, get(trusted, "www.example.com", tc.xfh), http.StatusUnauthorized, "unknown", "missing")
		})
	}
	t.Run("from a trusted proxy, another host in X-Forwarded-Host is routed to it and forwarded as it", func(t *testing.T) {
		up := tg.allowed(t, get(trusted, "admin.example.com", "www.example.com"))
		if got := up.Header.Get("X-Forwarded-Host"); got != "www.example.com" {
			t.Errorf("X-Forwarded-Host = %q, want the routed www.example.com", got)
		}
	})
	t.Run("from a trusted proxy, an empty X-Forwarded-Host is Host's", func(t *testing.T) {
		tg.refused(t, get(trusted, "admin.example.com", ""), http.StatusUnauthorized, "unknown", "missing")
		up := tg.allowed(t, get(trusted, "www.example.com", ""))
		if got := up.Header.Get("X-Forwarded-Host"); got != "www.example.com" {
			t.Errorf("X-Forwarded-Host = %q, want www.example.com", got)
		}
	})
	for _, tc := range []struct {
		name string
		xfh  []string
	}{
		{"two headers", []string{"www.example.com", "admin.example.com"}},
		{"two headers, the first empty", []string{"", "admin.example.com"}},
		{"a list", []string{"www.example.com, admin.example.com"}},
		{"a list whose first host is the admin one", []string{"admin.example.com,www.example.com"}},
		{"a host with a path", []string{"www.example.com/admin"}},
		{"a host with a space", []string{"admin.example.com www.example.com"}},
		{"a host with two colons (Express reads admin.example.com)", []string{"admin.example.com:1:2"}},
	} {
		t.Run("from a trusted proxy, "+tc.name+" is refused", func(t *testing.T) {
			tg.logs.TakeAll()
			res := tg.refused(t, get(trusted, "www.example.com", tc.xfh...), http.StatusBadRequest, "", "")
			if res.json["error"] != "invalid_request" {
				t.Errorf("error %v, want invalid_request", res.json["error"])
			}
			if got := lastReason(tg); got != "bad_host" {
				t.Errorf("access log reason %q, want bad_host", got)
			}
		})
	}
	t.Run("a Host with two colons is refused, from anyone", func(t *testing.T) {
		tg.logs.TakeAll()
		req := get(untrusted, "www.example.com")
		req.Host = "admin.example.com:1:2" // as Go's server takes it from the wire
		tg.refused(t, req, http.StatusBadRequest, "", "")
		if got := lastReason(tg); got != "bad_host" {
			t.Errorf("access log reason %q, want bad_host", got)
		}
	})
	t.Run("over the wire too", func(t *testing.T) {
		before := tg.up.Count()
		res := rawRequest(t, tg.serve(), "GET /x HTTP/1.1\r\nHost: admin.example.com:1:2\r\nConnection: close\r\n\r\n")
		if res.StatusCode != http.StatusBadRequest || tg.up.Count() != before {
			t.Errorf("status %d, upstream reached %v; want 400 and not reached", res.StatusCode, tg.up.Count() != before)
		}
	})
	t.Run("a bracketed IPv6 Host with a port is one host", func(t *testing.T) {
		tg.allowed(t, get(untrusted, "[2001:db8::1]:8443"))
	})
	t.Run("from anyone else, X-Forwarded-Host is neither routed on nor forwarded", func(t *testing.T) {
		up := tg.allowed(t, get(untrusted, "www.example.com", "admin.example.com"))
		if got := up.Header.Get("X-Forwarded-Host"); got != "www.example.com" {
			t.Errorf("X-Forwarded-Host = %q, want www.example.com", got)
		}
		up = tg.allowed(t, get(untrusted, "www.example.com", "a.example.com", "b.example.com, c.example.com"))
		if got := up.Header.Get("X-Forwarded-Host"); got != "www.example.com" {
			t.Errorf("X-Forwarded-Host = %q, want www.example.com", got)
		}
	})
}
