package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestHasLower(t *testing.T) {
	for m, want := range map[string]bool{
		"GET": false, "DELETE": false, "M-SEARCH": false, "PURGE_1": false,
		"get": true, "Delete": true, "pOST": true, "x": true,
	} {
		if got := hasLower(m); got != want {
			t.Errorf("hasLower(%q) = %v, want %v", m, got, want)
		}
	}
}

func TestOverridesMethod(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		want   bool
	}{
		{"no header", http.Header{"Accept": {"*/*"}, "X-Http-Method-Overridden": {"DELETE"}}, false},
		{"the own method", http.Header{"X-Http-Method-Override": {"POST"}, "X-Http-Method": {"POST"}, "X-Method-Override": {"POST"}}, false},
		{"X-HTTP-Method-Override: DELETE", http.Header{"X-Http-Method-Override": {"DELETE"}}, true},
		{"X-HTTP-Method: PUT", http.Header{"X-Http-Method": {"PUT"}}, true},
		{"X-Method-Override: PATCH", http.Header{"X-Method-Override": {"PATCH"}}, true},
		{"a name not canonicalized", http.Header{"x-HTTP-method": {"DELETE"}}, true},
		{"a name with '_'", http.Header{"X_http_method_override": {"DELETE"}}, true},
		{"the own method in lower case", http.Header{"X-Method-Override": {"post"}}, true},
		{"the own method, then another", http.Header{"X-Method-Override": {"POST", "DELETE"}}, true},
		{"empty", http.Header{"X-Http-Method": {""}}, true},
	} {
		r := httptest.NewRequest(http.MethodPost, "http://api.example.com/", nil)
		r.Header = tc.header
		if got := overridesMethod(r); got != tc.want {
			t.Errorf("%s: overridesMethod = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRoutedHost(t *testing.T) {
	rt := &Runtime{trustedProxies: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}
	const trusted, untrusted = "198.51.100.7:1", "192.0.2.7:1"
	for _, tc := range []struct {
		name string
		peer string
		xfh  []string
		host string // "" with ok false
	}{
		{"no X-Forwarded-Host", trusted, nil, "www.example.com"},
		{"an untrusted client's is not believed", untrusted, []string{"admin.example.com"}, "www.example.com"},
		{"an untrusted client's list is not looked at", untrusted, []string{"a, b", "c"}, "www.example.com"},
		{"a trusted proxy's is the routed host, as it is forwarded", trusted, []string{"Admin.Example.com.:443"}, "Admin.Example.com.:443"},
		{"a trusted proxy's empty one is Host, which is forwarded then", trusted, []string{""}, "www.example.com"},
		{"a trusted proxy's IPv6 literal", trusted, []string{"[2001:db8::1]:8443"}, "[2001:db8::1]:8443"},
		{"two headers are refused", trusted, []string{"admin.example.com", "www.example.com"}, ""},
		{"a list is refused", trusted, []string{"www.example.com,admin.example.com"}, ""},
		{"a path is refused", trusted, []string{"www.example.com/admin"}, ""},
		{"a space is refused", trusted, []string{"www.example.com admin.example.com"}, ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://www.example.com/", nil)
		r.RemoteAddr = tc.peer
		if tc.xfh != nil {
			r.Header["X-Forwarded-Host"] = tc.xfh
		}
		host, ok := rt.routedHost(r)
		if ok != (tc.host != "") || host != tc.host {
			t.Errorf("%s: routedHost = %q, %v; want %q", tc.name, host, ok, tc.host)
		}
	}
}
