package policy

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/config"
)

// FuzzMatch checks the route index against its definition (linearMatch:
// the first route in file order whose host, path and method match) on
// tables and requests chosen by the fuzzer. spec picks each route's hosts,
// path and methods, four bytes per route, from a small alphabet that
// overlaps a lot, extended with the fuzzed host and path themselves, so
// that the index's exact, wildcard and any-host buckets and its segment
// trie are all exercised at their edges.
//
// It also checks that the spellings of a host that name the same host
// (upper case, one trailing dot, a port) match the same route: a route
// restricted to a host must not be bypassed by spelling it differently.
func FuzzMatch(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 3, 2, 1, 1, 5, 0, 2, 2}, "api.example.com", "/orders/1", "GET")
	f.Add([]byte{2, 3, 0, 4, 1, 1, 1, 0}, "a.b.example.com", "/x/y/", "POST")
	f.Add([]byte{6, 6, 6, 6, 7, 7, 7, 7}, "[::1]:8080", "/", "DELETE")
	f.Add([]byte{255, 254, 253, 252}, "API.EXAMPLE.COM.:443", "/public/../admin", "get")
	f.Add([]byte{8, 9, 8, 9, 8, 9}, "example.com..", "//x//y", "")
	f.Add([]byte{0x80, 0x88, 0x00, 0x06, 0x80, 0x80, 0x80, 0x00}, "api.example.com", "/admin/", "HEAD")
	f.Add([]byte{}, "", "", "GET")
	f.Fuzz(func(t *testing.T, spec []byte, host, path, method string) {
		if len(spec) > 4*64 {
			spec = spec[:4*64] // at most 64 routes
		}
		clean, err := CleanPath(&url.URL{Path: path})
		if err != nil {
			clean = "/"
		}
		hosts := []string{"api.example.com", "*.example.com", "a.b.example.com", "*.b.example.com", "[::1]", "127.0.0.1", "example.com"}
		if n := hostName(host); config.CheckHost(n) == nil && !strings.ContainsAny(n, "[]") {
			hosts = append(hosts, n)
			if i := strings.IndexByte(n, '.'); i > 0 && config.CheckHost("*"+n[i:]) == nil {
				hosts = append(hosts, "*"+n[i:])
			}
		}
		paths := []string{"/", "/x", "/x/", "/x/y", "/x/y/", "/orders", "/orders/1", "/admin", "/admin/", "/public"}
		for p := clean; ; p = p[:strings.LastIndexByte(p, '/')] {
			if p != "" {
				paths = append(paths, p)
			}
			if !strings.Contains(p, "/") || p == "" {
				break
			}
		}
		methods := []string{"GET", "POST", "DELETE", "HEAD", strings.ToUpper(method)}
		pick := func(s []string, b byte) string { return s[int(b)%len(s)] }

		var routes []config.Route
		for i := 0; i+3 < len(spec); i += 4 {
			r := config.Route{Name: fmt.Sprint("r", i/4), Upstream: "http://h"}
			if spec[i]&0x80 == 0 {
				r.Match.Hosts = append(r.Match.Hosts, pick(hosts, spec[i]))
				if spec[i]&0x40 != 0 {
					r.Match.Hosts = append(r.Match.Hosts, pick(hosts, spec[i]>>3))
				}
			}
			if spec[i+1]&0x80 != 0 {
				r.Match.Path = pick(paths, spec[i+1])
			} else {
				r.Match.PathPrefix = pick(paths, spec[i+1])
			}
			if spec[i+2]&0x80 == 0 {
				r.Match.Methods = []string{pick(methods, spec[i+2])}
			}
			if spec[i+3]&1 == 1 {
				r.Match.Methods = append(r.Match.Methods, pick(methods, spec[i+3]>>1))
			}
			routes = append(routes, r)
		}
		tb, err := Compile(testConfig(routes...))
		if err != nil {
			return // a host or method from the fuzzed input that no configuration may hold
		}

		got := tb.Match(host, clean, method)
		if want := linearMatch(tb, host, clean, method); got != want {
			t.Fatalf("Match(%q, %q, %q) = %v, linear scan %v", host, clean, method, got, want)
		}
		if host == "" || strings.ContainsAny(host, ":[]") || strings.HasSuffix(host, ".") || !isASCII(host) {
			return
		}
		for _, alias := range []string{strings.ToUpper(host), host + ".", host + ":8443", strings.ToUpper(host) + ".:80"} {
			if other := tb.Match(alias, clean, method); other != got {
				t.Fatalf("Match(%q) = %v but Match(%q) = %v: one host, two routes", host, got, alias, other)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
