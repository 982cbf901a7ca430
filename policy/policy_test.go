package policy

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

func TestCompileRoute(t *testing.T) {
	r := rt("orders", "/orders")
	r.Upstream = "https://orders.internal:8443/base"
	r.StripPrefix = true
	r.Timeout = config.Duration(7 * time.Second)
	r.StreamIdleTimeout = config.Duration(90 * time.Second)
	r.Match.Hosts = []string{"API.Example.COM", "*.Example.com", "api.example.com"}
	r.Match.Methods = []string{"get", "HEAD"}
	r.Auth = config.Auth{
		Mode:    config.ModeOptional,
		Issuers: []string{"corp"},
		Scopes:  config.Scopes{AllOf: []string{"orders:read"}, AnyOf: []string{"a", "b"}},
		Claims:  claims("tenant", "acme", "org.level", 3, "active", true, "groups", op(config.ClaimContainsAll, "a", "b")),
	}
	r.Forward = config.Forward{
		ClaimsToHeaders: map[string]string{
			"x-user-id":    "sub",
			"X-Tenant":     "org.tenant_id",
			"x_user_email": "email",
		},
		StripAuthorization: true,
	}
	r.WebSocket = true
	tb := compile(t, testConfig(rt("first", "/"), r))

	got := tb.Routes()[1]
	if got.Name != "orders" || got.Index != 1 {
		t.Errorf("name/index = %q/%d, want orders/1", got.Name, got.Index)
	}
	if got.Upstream.String() != "https://orders.internal:8443/base" {
		t.Errorf("upstream = %v", got.Upstream)
	}
	if !got.StripPrefix || got.Prefix != "/orders" || got.Path != "" || got.Timeout != 7*time.Second || got.StreamIdle != 90*time.Second {
		t.Errorf("strip/prefix/path/timeout/stream idle = %v %q %q %v %v", got.StripPrefix, got.Prefix, got.Path, got.Timeout, got.StreamIdle)
	}
	if got.Mode != Optional || got.Mode.String() != "optional" {
		t.Errorf("mode = %v", got.Mode)
	}
	if !slices.Equal(got.hosts, []string{"api.example.com", "*.example.com"}) {
		t.Errorf("hosts = %q, want lower case, no trailing dot, no duplicates", got.hosts)
	}
	if !slices.Equal(got.methods, []string{"GET", "HEAD"}) {
		t.Errorf("methods = %q, want upper case", got.methods)
	}
	if !slices.Equal(got.Issuers, []string{"corp"}) || !slices.Equal(got.AllOf, []string{"orders:read"}) || !slices.Equal(got.AnyOf, []string{"a", "b"}) {
		t.Errorf("issuers/all_of/any_of = %q %q %q", got.Issuers, got.AllOf, got.AnyOf)
	}
	var checks []string
	for _, c := range got.Claims {
		checks = append(checks, c.Path.String()+" "+c.Op.String()+" "+c.Want())
	}
	if want := []string{`active equals true`, `groups contains_all an array containing all of ["a","b"]`, `org.level equals 3`, `tenant equals "acme"`}; !slices.Equal(checks, want) {
		t.Errorf("claim checks = %q, want %q, sorted by path", checks, want)
	}
	var names []string
	for _, h := range got.Headers {
		names = append(names, h.Name+"="+h.Claim.String())
	}
	if want := []string{"X-Tenant=org.tenant_id", "X-User-Id=sub", "X_user_email=email"}; !slices.Equal(names, want) {
		t.Errorf("headers = %q, want %q", names, want)
	}
	if !got.StripAuthorization {
		t.Error("strip_authorization lost")
	}
	if !got.WebSocket || tb.Routes()[0].WebSocket {
		t.Errorf("websocket = %v and %v, want true as configured and false as configured", got.WebSocket, tb.Routes()[0].WebSocket)
	}
	if r0 := tb.Routes()[0]; r0.Issuers != nil || r0.AllOf != nil || r0.AnyOf != nil || r0.hosts != nil || r0.methods != nil {
		t.Errorf("empty lists must compile to nil (any): %+v", r0)
	}
}

func TestClaimHeadersAreTheUnionOverAllRoutesFolded(t *testing.T) {
	a := rt("a", "/a")
	a.Forward.ClaimsToHeaders = map[string]string{"X-User-Id": "sub", "X_Tenant": "tid"}
	b := rt("b", "/b")
	b.Auth.Mode = config.ModePublic
	b.Forward.ClaimsToHeaders = map[string]string{"x-user-id": "sub", "X-Roles": "roles"}
	c := rt("c", "/c")
	tb := compile(t, testConfig(a, b, c))
	want := []string{"x-roles", "x-tenant", "x-user-id"}
	if got := tb.ClaimHeaders(); !slices.Equal(got, want) {
		t.Errorf("ClaimHeaders = %q, want %q", got, want)
	}
	empty := compile(t, testConfig(c))
	if got := empty.ClaimHeaders(); len(got) != 0 {
		t.Errorf("no claim headers: got %q", got)
	}
}

func TestScopeClaimsAreKeptPerIssuer(t *testing.T) {
	tb := compile(t, testConfig())
	var got []string
	for _, p := range tb.scopeClaims["kc"] {
		got = append(got, p.String())
	}
	if !slices.Equal(got, []string{"realm_access.roles"}) {
		t.Errorf("kc scope claims = %q", got)
	}
}

func TestCompileRefusesWhatItCannotUse(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *config.Config)
		inErr string
	}{
		{"nil configuration", nil, "no configuration"},
		{"upstream that does not parse", func(c *config.Config) { c.Routes[0].Upstream = "http://[::1" }, "upstream"},
		{"upstream that is not http(s)", func(c *config.Config) { c.Routes[0].Upstream = "ftp://h/" }, "upstream"},
		{"upstream without a host", func(c *config.Config) { c.Routes[0].Upstream = "/relative" }, "upstream"},
		{"route without a name", func(c *config.Config) { c.Routes[0].Name = "" }, "name"},
		{"path and path_prefix together", func(c *config.Config) { c.Routes[0].Match.Path = "/x" }, "exclusive"},
		{"relative prefix", func(c *config.Config) { c.Routes[0].Match.PathPrefix = "orders" }, "path_prefix"},
		{"prefix that no cleaned path can match", func(c *config.Config) { c.Routes[0].Match.PathPrefix = "/a/../b" }, "path_prefix"},
		{"exact path with a double slash", func(c *config.Config) { c.Routes[0].Match = config.Match{Path: "/a//b"} }, "match.path"},
		{"prefix with a NUL", func(c *config.Config) { c.Routes[0].Match.PathPrefix = "/a\x00b" }, "path_prefix"},
		{"prefix with a backslash", func(c *config.Config) { c.Routes[0].Match.PathPrefix = `/a\b` }, "path_prefix"},
		{"empty host", func(c *config.Config) { c.Routes[0].Match.Hosts = []string{""} }, "hosts[0]"},
		{"bare star host", func(c *config.Config) { c.Routes[0].Match.Hosts = []string{"*"} }, "hosts[0]"},
		{"star in the middle of a host", func(c *config.Config) { c.Routes[0].Match.Hosts = []string{"a.*.com"} }, "hosts[0]"},
		// The syntax rules are config's (config/syntax.go), the same ones
		// validation reports: Compile is no looser than validate.
		{"host with a trailing dot", func(c *config.Config) { c.Routes[0].Match.Hosts = []string{"api.example.com."} }, "empty label"},
		{"host with an underscore", func(c *config.Config) { c.Routes[0].Match.Hosts = []string{"a_b.example.com"} }, "not a host name"},
		{"host with a port", func(c *config.Config) { c.Routes[0].Match.Hosts = []string{"api.example.com:443"} }, "without a port"},
		{"scope with a quote (RFC 6749 §3.3)", func(c *config.Config) { c.Routes[0].Auth.Scopes.AllOf = []string{`a"b`} }, "all_of[0]"},
		{"method with a space", func(c *config.Config) { c.Routes[0].Match.Methods = []string{"GE T"} }, "methods[0]"},
		{"unknown mode", func(c *config.Config) { c.Routes[0].Auth.Mode = "sometimes" }, "auth.mode"},
		{"unknown issuer", func(c *config.Config) { c.Routes[0].Auth.Issuers = []string{"nobody"} }, "auth.issuers[0]"},
		{"empty scope", func(c *config.Config) { c.Routes[0].Auth.Scopes.AllOf = []string{""} }, "all_of[0]"},
		{"scope with a space", func(c *config.Config) { c.Routes[0].Auth.Scopes.AnyOf = []string{"a b"} }, "any_of[0]"},
		{"claim check on a bad path", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("a..b", "x") }, "auth.claims"},
		{"claim check against null", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("tenant", nil) }, `auth.claims["tenant"]: a claim check needs a value`},
		{"claim check against a list", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("groups", []any{"a"}) }, `auth.claims["groups"]`},
		{"claim check against NaN", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("level", math.NaN()) }, "NaN"},
		{"claim check with an unknown operator", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("g", op("has", "a")) }, `unknown operator "has"`},
		{"a plain claim check without a value", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("g", config.ClaimRule{}) }, "equals takes exactly one value, not 0"},
		{"a plain claim check with two values", func(c *config.Config) {
			c.Routes[0].Auth.Claims = claims("g", config.ClaimRule{Values: []any{"a", "b"}})
		}, "equals takes exactly one value, not 2"},
		{"contains with two values", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("g", op(config.ClaimContains, "a", "b")) }, "contains takes exactly one value"},
		{"an empty one_of would refuse every token", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("g", op(config.ClaimOneOf)) }, "one_of takes at least one value"},
		{"an empty contains_any would refuse every token", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("g", op(config.ClaimContainsAny)) }, "contains_any takes at least one value"},
		{"an empty contains_all would check nothing", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("g", op(config.ClaimContainsAll)) }, "contains_all takes at least one value"},
		{"a list element that is a list", func(c *config.Config) {
			c.Routes[0].Auth.Claims = claims("g", op(config.ClaimContainsAny, "a", []any{"b"}))
		}, "not []interface {}"},
		{"a list element that is null", func(c *config.Config) { c.Routes[0].Auth.Claims = claims("g", op(config.ClaimOneOf, "a", nil)) }, "needs a value"},
		{"header from a bad claim path", func(c *config.Config) { c.Routes[0].Forward.ClaimsToHeaders = map[string]string{"X-A": `a\b`} }, "claims_to_headers"},
		{"header name with a space", func(c *config.Config) { c.Routes[0].Forward.ClaimsToHeaders = map[string]string{"X A": "sub"} }, "claims_to_headers"},
		{"header name with CR LF", func(c *config.Config) { c.Routes[0].Forward.ClaimsToHeaders = map[string]string{"X-A\r\nX-B": "sub"} }, "claims_to_headers"},
		{"Content-Length from a claim would let a token frame the request", func(c *config.Config) {
			c.Routes[0].Forward.ClaimsToHeaders = map[string]string{"content_length": "sub"}
		}, "owns this header"},
		{"Authorization from a claim would strip every client's token", func(c *config.Config) {
			c.Routes[0].Forward.ClaimsToHeaders = map[string]string{"Authorization": "sub"}
		}, "owns this header"},
		{"X-Forwarded-For from a claim", func(c *config.Config) {
			c.Routes[0].Forward.ClaimsToHeaders = map[string]string{"X-Forwarded-For": "sub"}
		}, "owns this header"},
		{"two spellings of one header on a route", func(c *config.Config) {
			c.Routes[0].Forward.ClaimsToHeaders = map[string]string{"X-User": "sub", "x_user": "email"}
		}, "same header"},
		{"issuer defined twice", func(c *config.Config) { c.Issuers[1].Name = "corp" }, "twice"},
		{"issuer with a bad scope claim path", func(c *config.Config) { c.Issuers[0].ScopeClaims = []string{"scope."} }, "scope_claims[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg *config.Config
			if tt.edit != nil {
				cfg = testConfig(rt("r", "/orders"))
				tt.edit(cfg)
			}
			tb, err := Compile(cfg)
			if err == nil {
				t.Fatalf("Compile succeeded (%d routes), want an error containing %q", len(tb.Routes()), tt.inErr)
			}
			if !strings.Contains(err.Error(), tt.inErr) {
				t.Errorf("error %q does not contain %q", err, tt.inErr)
			}
		})
	}
}

func TestCompileAcceptsOddButValidInput(t *testing.T) {
	tests := []struct {
		name  string
		route config.Route
		check func(t *testing.T, r *Route)
	}{
		{"empty mode fails closed to required", func() config.Route { r := rt("r", "/"); r.Auth.Mode = ""; return r }(),
			func(t *testing.T, r *Route) {
				if r.Mode != Required {
					t.Errorf("mode = %v", r.Mode)
				}
			}},
		{"no path and no prefix match every path", config.Route{Name: "r", Upstream: "http://h"},
			func(t *testing.T, r *Route) {
				if r.Prefix != "/" {
					t.Errorf("prefix = %q", r.Prefix)
				}
			}},
		{"YAML integer, float, bool and string claim values", func() config.Route {
			r := rt("r", "/")
			r.Auth.Claims = claims("a", 1, "b", 2.5, "c", true, "d", "x", "e", int64(1)<<40, "f", uint64(1)<<63)
			return r
		}(), func(t *testing.T, r *Route) {
			if len(r.Claims) != 6 {
				t.Errorf("claims = %v", r.Claims)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, compile(t, testConfig(tt.route)).Routes()[0])
		})
	}
}

func TestCompiledTableIsIndependentOfTheConfig(t *testing.T) {
	r := rt("r", "/")
	r.Auth.Issuers = []string{"corp"}
	r.Auth.Scopes.AllOf = []string{"a"}
	r.Auth.Claims = claims("tenant", op(config.ClaimOneOf, "acme", "globex"))
	cfg := testConfig(r)
	tb := compile(t, cfg)
	cfg.Routes[0].Auth.Issuers[0] = "kc"
	cfg.Routes[0].Auth.Scopes.AllOf[0] = "b"
	cfg.Routes[0].Auth.Claims["tenant"].Values[1] = "initech"
	if got := tb.Routes()[0]; got.Issuers[0] != "corp" || got.AllOf[0] != "a" || got.Claims[0].Values[1] != "globex" {
		t.Errorf("compiled route changed with the config: %q %q %v", got.Issuers, got.AllOf, got.Claims[0].Values)
	}
}

// Routes that send the same claim headers to the same upstream share one
// copy of each (a 10,000-route table would otherwise hold 10,000), and
// routes that differ in either do not.
func TestRoutesShareWhatTheyHoldAlike(t *testing.T) {
	hdrs := func(m map[string]string) config.Forward { return config.Forward{ClaimsToHeaders: m} }
	a, b, c, d := rt("a", "/a"), rt("b", "/b"), rt("c", "/c"), rt("d", "/d")
	a.Forward = hdrs(map[string]string{"X-User-Id": "sub", "X-Tenant": "org.tid"})
	b.Forward = hdrs(map[string]string{"x-tenant": "org.tid", "x-user-id": "sub"}) // the same, spelled otherwise
	c.Forward = hdrs(map[string]string{"X-User-Id": "sub", "X-Tenant": "tid"})
	c.Upstream = "http://127.0.0.1:9002"
	routes := compile(t, testConfig(a, b, c, d)).Routes()
	ra, rb, rc, rd := routes[0], routes[1], routes[2], routes[3]
	if ra.Upstream != rb.Upstream || ra.Upstream != rd.Upstream {
		t.Error("routes to the same upstream hold separate URLs")
	}
	if ra.Upstream == rc.Upstream || rc.Upstream.Host != "127.0.0.1:9002" {
		t.Errorf("routes to different upstreams share %v", rc.Upstream)
	}
	if &ra.Headers[0] != &rb.Headers[0] {
		t.Error("routes with the same claim headers hold separate rules")
	}
	if &ra.Headers[0] == &rc.Headers[0] || rc.Headers[0].Claim.String() != "tid" {
		t.Errorf("routes with different claim headers share rules: %v", rc.Headers)
	}
	if rd.Headers != nil {
		t.Errorf("a route without claim headers has %v", rd.Headers)
	}
}

// ClaimNames lists every top-level claim the table can read for an issuer:
// the issuer's scope claims, and every route's claim checks and headers, by
// whole name and by first segment (Lookup tries both).
func TestClaimNamesAreWhatTheTableCanRead(t *testing.T) {
	a, b := rt("a", "/a"), rt("b", "/b")
	a.Auth.Claims = claims("tenant.id", "acme")
	b.Forward.ClaimsToHeaders = map[string]string{"X-Roles": `https://example\.com/roles`, "X-User": "sub"}
	tb := compile(t, testConfig(a, b))
	want := map[string][]string{
		"corp":  {"https://example.com/roles", "scope", "scp", "sub", "tenant", "tenant.id"},
		"kc":    {"https://example.com/roles", "realm_access", "realm_access.roles", "sub", "tenant", "tenant.id"},
		"other": {"https://example.com/roles", "sub", "tenant", "tenant.id"},
	}
	for issuer, w := range want {
		if got := tb.ClaimNames(issuer); !slices.Equal(got, w) {
			t.Errorf("ClaimNames(%q) = %q, want %q", issuer, got, w)
		}
	}
	if got := compile(t, &config.Config{}).ClaimNames("corp"); got == nil || len(got) != 0 {
		t.Errorf("empty table: ClaimNames = %#v, want an empty, non-nil list", got)
	}
}

// Header rules are shared only when they are the same rules: a claim path
// may hold any byte, and no spelling of one route's rules may pass for
// another's.
func TestRoutesWithLookalikeHeaderRulesDoNotShare(t *testing.T) {
	a, b := rt("a", "/a"), rt("b", "/b")
	a.Forward.ClaimsToHeaders = map[string]string{"X-A": "p\x00X-B\x00q"}
	b.Forward.ClaimsToHeaders = map[string]string{"X-A": "p", "X-B": "q"}
	tb := compile(t, testConfig(a, b))
	if got := tb.Routes()[1].Headers; len(got) != 2 {
		t.Errorf("route b forwards %v, want X-A and X-B", got)
	}
	if got := tb.ClaimHeaders(); !slices.Contains(got, "x-b") {
		t.Errorf("claim headers stripped from clients: %q, want x-b among them", got)
	}
}
