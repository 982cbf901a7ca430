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
		{"exact path does not match with a trailing slash", "api.example.com", "/admin/", "GET", ""},
		{"exact path does not match below itself", "api.example.com", "/admin/x", "GET", ""},
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
		{"prefix with trailing slash does not match without it", "any.test", "/docs", "GET", ""},
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
	methods := []string{"GET", "POST", "DELETE"}
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
