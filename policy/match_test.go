package policy

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"

	"github.com/portcullis/portcullis/config"
)

func matchTable(t testing.TB) *Table {
	route := func(name string, hosts []string, path, prefix string, methods ...string) config.Route {
		return config.Route{
			Name:     name,
			Match:    config.Match{Hosts: hosts, Path: path, PathPrefix: prefix, Methods: methods},
			Upstream: "http://127.0.0.1:9001",
		}
	}
	api := []string{"api.example.com"}
	return compile(t, testConfig(
		route("admin-exact", api, "/admin", "", "GET"),
		route("orders", api, "", "/orders", "GET", "HEAD"),
		route("orders-write", api, "", "/orders", "POST"),
		route("wild", []string{"*.example.com"}, "", "/w"),
		route("docs-dir", nil, "", "/docs/"),
		route("ipv6", []string{"[::1]"}, "", "/v6"),
		route("ip4", []string{"127.0.0.1"}, "", "/v4"),
		route("shadowed", api, "", "/orders/special"),
		route("deep", api, "", "/a/b/c"),
		route("catch-all", []string{"catch.test"}, "", "/"),
		route("status-dir", api, "/status/", ""),
		route("root-exact", []string{"root.test"}, "/", ""),
		route("upload", api, "", "/upload", "POST"),
		route("probe", api, "", "/probe", "HEAD"),
		route("export", api, "/export", "", "get"),
	))
}

func TestMatch(t *testing.T) {
	tb := matchTable(t)
	tests := []struct {
		name               string
		host, path, method string
		want               string // route name, "" for none
	}{
		{"exact path matches itself", "api.example.com", "/admin", "GET", "admin-exact"},
		// An exact path once matched byte for byte, so "/admin/" skipped
		// admin-exact for whatever came after it (a public catch-all),
		// while Express, Spring MVC < 6, Rails and Laravel route "/admin/"
		// to the "/admin" handler. One trailing slash now counts for
		// nothing, on either side.
		{"exact path matches with a trailing slash", "api.example.com", "/admin/", "GET", "admin-exact"},
		{"exact path does not match with two trailing slashes", "api.example.com", "/admin//", "GET", ""},
		{"exact path does not match below itself", "api.example.com", "/admin/x", "GET", ""},
		{"exact path does not match a longer name", "api.example.com", "/adminX", "GET", ""},
		{"exact path written with a slash matches itself", "api.example.com", "/status/", "GET", "status-dir"},
		{"exact path written with a slash matches without it", "api.example.com", "/status", "GET", "status-dir"},
		{"exact path written with a slash does not match below itself", "api.example.com", "/status/x", "GET", ""},
		{"exact root matches the root", "root.test", "/", "GET", "root-exact"},
		{"exact root does not match below itself", "root.test", "/x", "GET", ""},
		{"exact root does not match an empty path", "root.test", "", "GET", ""},
		// HEAD runs the GET handler in net/http, Express, Flask and
		// Spring: a route that takes GET takes HEAD, so that HEAD cannot
		// reach that handler through a later, weaker route.
		{"a GET-only route takes HEAD", "api.example.com", "/admin", "HEAD", "admin-exact"},
		{"a GET-only route takes HEAD with a trailing slash", "api.example.com", "/admin/", "HEAD", "admin-exact"},
		{"a route with get written in lower case takes HEAD", "api.example.com", "/export", "HEAD", "export"},
		{"a GET-only route does not take POST", "api.example.com", "/admin", "POST", ""},
		{"a GET-only route does not take lower-case head", "api.example.com", "/admin", "head", ""},
		{"a POST-only route does not take HEAD", "api.example.com", "/upload/1", "HEAD", ""},
		{"a POST-only route does not take GET", "api.example.com", "/upload/1", "GET", ""},
		{"a HEAD-only route does not take GET", "api.example.com", "/probe", "GET", ""},
		{"a HEAD-only route takes HEAD", "api.example.com", "/probe", "HEAD", "probe"},
		{"a route listing GET and HEAD takes HEAD", "api.example.com", "/orders/1", "HEAD", "orders"},
		{"prefix /orders matches /orders", "api.example.com", "/orders", "GET", "orders"},
		{"prefix /orders matches /orders/", "api.example.com", "/orders/", "GET", "orders"},
		{"prefix /orders matches /orders/1/items", "api.example.com", "/orders/1/items", "GET", "orders"},
		{"prefix /orders does not match /ordersX", "api.example.com", "/ordersX", "GET", ""},
		{"prefix /orders does not match /orders.json", "api.example.com", "/orders.json", "GET", ""},
		{"paths are case-sensitive", "api.example.com", "/Orders", "GET", ""},
		{"prefix /a/b/c does not match /a/b", "api.example.com", "/a/b", "GET", ""},
		{"prefix /a/b/c matches /a/b/c/d", "api.example.com", "/a/b/c/d", "GET", "deep"},
		{"method chooses between routes on one prefix", "api.example.com", "/orders/1", "POST", "orders-write"},
		{"first match wins over a more specific later route", "api.example.com", "/orders/special", "GET", "orders"},
		{"a later route takes the methods earlier ones refuse", "api.example.com", "/orders/special", "DELETE", "shadowed"},
		{"a method no route allows matches nothing", "api.example.com", "/orders/1", "DELETE", ""},
		{"methods are case-sensitive", "api.example.com", "/orders", "get", ""},
		{"port is ignored", "api.example.com:443", "/orders", "GET", "orders"},
		{"one trailing dot is ignored", "api.example.com.", "/orders", "GET", "orders"},
		{"trailing dot and port", "api.example.com.:8443", "/orders", "GET", "orders"},
		{"two trailing dots are another name", "api.example.com..", "/orders", "GET", ""},
		{"host is case-insensitive", "API.Example.COM", "/orders", "GET", "orders"},
		{"another host does not match", "evil.com", "/orders", "GET", ""},
		{"a host ending with the name is another host", "notapi.example.com", "/orders", "GET", ""},
		{"a host starting with the name is another host", "api.example.com.evil.com", "/orders", "GET", ""},
		{"wildcard matches a subdomain", "a.example.com", "/w", "GET", "wild"},
		{"wildcard matches a subdomain at any depth", "a.b.example.com", "/w/x", "GET", "wild"},
		{"wildcard matches with port and upper case", "A.Example.com:8080", "/w", "GET", "wild"},
		{"wildcard never matches the apex", "example.com", "/w", "GET", ""},
		{"wildcard never matches the apex with a trailing dot", "EXAMPLE.com.", "/w", "GET", ""},
		{"wildcard does not match a name glued to the domain", "aexample.com", "/w", "GET", ""},
		{"wildcard does not match an empty label", ".example.com", "/w", "GET", ""},
		{"prefix with trailing slash matches itself", "any.test", "/docs/", "GET", "docs-dir"},
		{"prefix with trailing slash matches below", "any.test", "/docs/x", "GET", "docs-dir"},
		// It used not to: "/docs/" written in the route left "/docs" to
		// whatever came after it, the mirror of the exact path's bypass.
		{"prefix with trailing slash matches without it", "any.test", "/docs", "GET", "docs-dir"},
		{"prefix with trailing slash does not match a longer name", "any.test", "/docsX", "GET", ""},
		{"a route without hosts matches a request without Host", "", "/docs/x", "GET", "docs-dir"},
		{"a route with hosts never matches a request without Host", "", "/orders", "GET", ""},
		{"bracketed IPv6 with port", "[::1]:8080", "/v6", "GET", "ipv6"},
		{"bracketed IPv6 without port", "[::1]", "/v6", "GET", "ipv6"},
		{"bare IPv6 has no port to strip", "::1", "/v6", "GET", "ipv6"},
		{"another IPv6 address", "[::2]:8080", "/v6", "GET", ""},
		{"IPv4 with port", "127.0.0.1:8080", "/v4", "GET", "ip4"},
		{"prefix / matches the root", "catch.test", "/", "PATCH", "catch-all"},
		{"prefix / matches everything", "catch.test", "/x/y/z/", "GET", "catch-all"},
		{"an empty path matches no prefix", "catch.test", "", "GET", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tb.Match(tt.host, tt.path, tt.method)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Errorf("Match(%q, %q, %q) = %q, want %q", tt.host, tt.path, tt.method, name, tt.want)
			}
			if lin := linearMatch(tb, tt.host, tt.path, tt.method); lin != got {
				t.Errorf("index and linear scan disagree: %v vs %v", got, lin)
			}
		})
	}
}

func TestMatchFirstRouteWinsAcrossHostKinds(t *testing.T) {
	route := func(name string, hosts []string, prefix string) config.Route {
		r := rt(name, prefix)
		r.Match.Hosts = hosts
		return r
	}
	tests := []struct {
		name   string
		routes []config.Route
		host   string
		want   string
	}{
		{"wildcard before exact host", []config.Route{
			route("wild", []string{"*.example.com"}, "/"), route("exact", []string{"api.example.com"}, "/x")}, "api.example.com", "wild"},
		{"any host before exact host", []config.Route{
			route("any", nil, "/x"), route("exact", []string{"api.example.com"}, "/x")}, "api.example.com", "any"},
		{"exact host before any host", []config.Route{
			route("exact", []string{"api.example.com"}, "/x"), route("any", nil, "/")}, "api.example.com", "exact"},
		{"shorter prefix before longer", []config.Route{
			route("short", nil, "/x"), route("long", nil, "/x/y")}, "a.api.example.com", "short"},
		{"longer prefix before shorter", []config.Route{
			route("long", nil, "/x/y"), route("short", nil, "/x")}, "a.api.example.com", "long"},
		{"outer wildcard before inner wildcard", []config.Route{
			route("outer", []string{"*.example.com"}, "/"), route("inner", []string{"*.api.example.com"}, "/")}, "a.api.example.com", "outer"},
		{"inner wildcard before outer wildcard", []config.Route{
			route("inner", []string{"*.api.example.com"}, "/"), route("outer", []string{"*.example.com"}, "/")}, "a.api.example.com", "inner"},
		{"exact path after a prefix route", []config.Route{
			route("prefix", nil, "/x"), {Name: "exact", Match: config.Match{Path: "/x/y"}, Upstream: "http://h"}}, "a.api.example.com", "prefix"},
		{"exact path before a prefix route", []config.Route{
			{Name: "exact", Match: config.Match{Path: "/x/y"}, Upstream: "http://h"}, route("prefix", nil, "/x")}, "a.api.example.com", "exact"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := compile(t, testConfig(tt.routes...))
			got := tb.Match(tt.host, "/x/y", "GET")
			if got == nil || got.Name != tt.want {
				t.Errorf("got %v, want %q", got, tt.want)
			}
		})
	}
}

// A trailing slash makes two routes that differ by it take the same
// requests; first match in file order still decides between them, so the
// earlier route's policy applies to both spellings of the path.
func TestTrailingSlashKeepsFileOrder(t *testing.T) {
	exact := func(name, path string, methods ...string) config.Route {
		r := rt(name, "")
		r.Match = config.Match{Path: path, Methods: methods}
		return r
	}
	prefix := func(name, path string, methods ...string) config.Route {
		r := rt(name, path)
		r.Match.Methods = methods
		return r
	}
	tests := []struct {
		name   string
		routes []config.Route
		path   string
		method string
		want   string
	}{
		{"exact without slash first takes the slash", []config.Route{exact("plain", "/a"), exact("slash", "/a/")}, "/a/", "GET", "plain"},
		{"exact with slash first takes no slash", []config.Route{exact("slash", "/a/"), exact("plain", "/a")}, "/a", "GET", "slash"},
		{"a later exact route takes methods the first refuses", []config.Route{exact("plain", "/a", "POST"), exact("slash", "/a/")}, "/a", "GET", "slash"},
		{"exact before a prefix takes the slash", []config.Route{exact("exact", "/a"), prefix("prefix", "/")}, "/a/", "GET", "exact"},
		{"a prefix before exact keeps the slash", []config.Route{prefix("prefix", "/a"), exact("exact", "/a")}, "/a/", "GET", "prefix"},
		// The other side of the rule: "/a/" used to be the later prefix
		// route's, and is now the earlier exact route's. Where the exact
		// route is the weaker one (a public "/api" before a protected
		// prefix "/api"), an upstream that serves "/api/" as the index of
		// the subtree (Go's ServeMux) serves it under the weaker policy.
		{"exact before a prefix of the same path takes the slash", []config.Route{exact("exact", "/a"), prefix("prefix", "/a")}, "/a/", "GET", "exact"},
		{"exact before a prefix of the same path leaves below to it", []config.Route{exact("exact", "/a"), prefix("prefix", "/a")}, "/a/b", "GET", "prefix"},
		{"prefix with slash first takes no slash", []config.Route{prefix("slash", "/a/"), prefix("plain", "/a")}, "/a", "GET", "slash"},
		{"a GET route first takes HEAD from a later HEAD route", []config.Route{prefix("get", "/a", "GET"), prefix("head", "/a", "HEAD")}, "/a", "HEAD", "get"},
		{"a HEAD route first keeps HEAD from a later GET route", []config.Route{prefix("head", "/a", "HEAD"), prefix("get", "/a", "GET")}, "/a", "HEAD", "head"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := compile(t, testConfig(tt.routes...))
			got := tb.Match("h.test", tt.path, tt.method)
			if got == nil || got.Name != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %q", tt.path, tt.method, got, tt.want)
			}
			if lin := linearMatch(tb, "h.test", tt.path, tt.method); lin != got {
				t.Errorf("index and linear scan disagree: %v vs %v", got, lin)
			}
		})
	}
}

// Mismatch, which explains a 404, reads a trailing slash and HEAD as
// Match does.
func TestMismatchAgreesWithMatch(t *testing.T) {
	tb := matchTable(t)
	for _, tc := range []struct {
		route, host, path, method, want string
	}{
		{"admin-exact", "api.example.com", "/admin/", "HEAD", ""},
		{"admin-exact", "api.example.com", "/admin/x", "GET", "path"},
		{"admin-exact", "api.example.com", "/admin", "POST", "method"},
		{"docs-dir", "any.test", "/docs", "GET", ""},
		{"upload", "api.example.com", "/upload", "HEAD", "method"},
	} {
		var r *Route
		for _, x := range tb.Routes() {
			if x.Name == tc.route {
				r = x
			}
		}
		if got := r.Mismatch(tc.host, tc.path, tc.method); got != tc.want {
			t.Errorf("%s: Mismatch(%q, %q, %q) = %q, want %q", tc.route, tc.host, tc.path, tc.method, got, tc.want)
		}
	}
}

func TestMatchOnEmptyTable(t *testing.T) {
	var nilTable *Table
	if nilTable.Match("h", "/", "GET") != nil {
		t.Error("nil table matched")
	}
	if compile(t, testConfig()).Match("h", "/", "GET") != nil {
		t.Error("empty table matched")
	}
}

// linearMatch is the definition the index must agree with: the first route
// in file order for which Route.matches holds.
func linearMatch(tb *Table, host, path, method string) *Route {
	h := hostName(host)
	for _, r := range tb.routes {
		if r.matches(h, path, method) {
			return r
		}
	}
	return nil
}

// TestIndexAgreesWithLinearScan compiles random tables from a small
// alphabet, so that routes overlap a lot, and compares the index with the
// definition on random requests.
func TestIndexAgreesWithLinearScan(t *testing.T) {
	hosts := []string{"a.test", "b.a.test", "*.a.test", "*.b.a.test", "c.test", "*.test", "[::1]"}
	paths := []string{"/", "/x", "/x/", "/x/y", "/x/y/", "/xy", "/y", "/x/yz", "/x/y/z"}
	methods := []string{"GET", "POST", "DELETE", "HEAD"}
	// Enough distinct names to push some maps past their small form.
	for i := range 12 {
		hosts = append(hosts, fmt.Sprintf("h%d.test", i), fmt.Sprintf("*.w%d.test", i))
		paths = append(paths, fmt.Sprintf("/s%d", i), fmt.Sprintf("/x/s%d/", i))
	}
	reqHosts := []string{"a.test", "A.TEST:80", "b.a.test", "x.b.a.test", "c.test", "test", "d.test.", "[::1]:1", "::1", "", "h3.test", "x.w4.test"}
	reqPaths := append([]string{"/x//", "", "/x/y/z/w", "/z", "/x/s3/q", "/s5/t"}, paths...)
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for round := range 500 {
		var routes []config.Route
		for i := range 1 + rng.IntN(40) {
			r := config.Route{Name: fmt.Sprint("r", i), Upstream: "http://h"}
			for range rng.IntN(3) {
				r.Match.Hosts = append(r.Match.Hosts, pick(hosts))
			}
			if rng.IntN(4) == 0 {
				r.Match.Path = pick(paths)
			} else {
				r.Match.PathPrefix = pick(paths)
			}
			for range rng.IntN(3) {
				r.Match.Methods = append(r.Match.Methods, pick(methods))
			}
			routes = append(routes, r)
		}
		tb := compile(t, testConfig(routes...))
		for range 100 {
			h, p, m := pick(reqHosts), pick(reqPaths), pick(methods)
			if got, want := tb.Match(h, p, m), linearMatch(tb, h, p, m); got != want {
				t.Fatalf("round %d: Match(%q, %q, %q) = %v, linear scan %v; routes %+v", round, h, p, m, got, want, routes)
			}
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tb := bigTable(t, 10_000)
	for _, host := range []string{"svc7.example.com", "svc7.example.com:8443", "x.wild42.example.com", "unknown.test"} {
		if n := testing.AllocsPerRun(100, func() { tb.Match(host, "/api/v1/svc9999/items/42", "GET") }); n != 0 {
			t.Errorf("Match with host %q: %v allocations, want 0", host, n)
		}
	}
}

// bigTable has n routes over 100 exact hosts, 50 wildcard domains and no
// host, each with its own three-segment prefix, and a catch-all at the end.
func bigTable(t testing.TB, n int) *Table {
	routes := make([]config.Route, 0, n)
	for i := range n - 1 {
		r := config.Route{
			Name:     fmt.Sprint("r", i),
			Upstream: "http://127.0.0.1:9001",
			Match:    config.Match{PathPrefix: fmt.Sprintf("/api/v%d/svc%d", i%3, i), Methods: []string{"GET", "HEAD"}},
		}
		switch i % 3 {
		case 0:
			r.Match.Hosts = []string{fmt.Sprintf("svc%d.example.com", i%100)}
		case 1:
			r.Match.Hosts = []string{fmt.Sprintf("*.wild%d.example.com", i%50)}
		}
		routes = append(routes, r)
	}
	routes = append(routes, config.Route{Name: "catch-all", Upstream: "http://h", Match: config.Match{PathPrefix: "/"}})
	return compile(t, testConfig(routes...))
}

func benchmarkMatch(b *testing.B, tb *Table, host, path string, want string) {
	if r := tb.Match(host, path, "GET"); r == nil || r.Name != want {
		b.Fatalf("matched %v, want %s", r, want)
	}
	b.ReportAllocs()
	for b.Loop() {
		tb.Match(host, path, "GET")
	}
}

func BenchmarkRouteMatch10Routes(b *testing.B) {
	benchmarkMatch(b, matchTable(b), "api.example.com", "/orders/1/items", "orders")
}

func BenchmarkRouteMatch10kRoutes(b *testing.B) {
	// Route 9998 has no host and is the last before the catch-all: the
	// worst case for a linear scan.
	benchmarkMatch(b, bigTable(b, 10_000), "svc7.example.com:8443", "/api/v2/svc9998/items/42", "r9998")
}

func BenchmarkRouteMatch10kRoutesUnmatched(b *testing.B) {
	benchmarkMatch(b, bigTable(b, 10_000), "x.wild3.example.com", "/nowhere/at/all", "catch-all")
}

// BenchmarkRouteMatchLinear10kRoutes is the definition, for comparison.
func BenchmarkRouteMatchLinear10kRoutes(b *testing.B) {
	tb := bigTable(b, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		linearMatch(tb, "svc7.example.com:8443", "/api/v2/svc9998/items/42", "GET")
	}
}

// CarriesHTTP2 is what lets a gRPC call be timed as a stream (proxy):
// only an upstream that HTTP/2 can reach.
func TestCarriesHTTP2(t *testing.T) {
	for _, tc := range []struct {
		upstream string
		protocol Protocol
		want     bool
	}{
		{"http://127.0.0.1:9001", H2C, true},
		{"https://grpc.internal:443", Auto, true},
		{"http://127.0.0.1:9001", Auto, false},
		{"https://grpc.internal:443", HTTP1, false},
	} {
		u, err := url.Parse(tc.upstream)
		if err != nil {
			t.Fatal(err)
		}
		r := &Route{Upstream: u, Transport: Transport{Protocol: tc.protocol}}
		if got := r.CarriesHTTP2(); got != tc.want {
			t.Errorf("%s over %s: CarriesHTTP2 %v, want %v", tc.upstream, tc.protocol, got, tc.want)
		}
	}
}
