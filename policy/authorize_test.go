package policy

import (
	"slices"
	"testing"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/outcome"
)

func TestScopes(t *testing.T) {
	tb := compile(t, testConfig())
	tests := []struct {
		name   string
		issuer string
		claims string
		want   []string
	}{
		{"a space-separated string", "corp", `{"scope": "orders:read orders:write"}`, []string{"orders:read", "orders:write"}},
		{"runs of spaces separate too", "corp", `{"scope": "  a   b c  "}`, []string{"a", "b", "c"}},
		{"only a space separates (RFC 6749 §3.3)", "corp", `{"scope": "a\tb\nc\u00a0d\u0085e\u3000f g"}`, []string{"a\tb\nc\u00a0d\u0085e\u3000f", "g"}},
		{"an array of strings", "corp", `{"scp": ["a", "b"]}`, []string{"a", "b"}},
		{"non-strings in an array are ignored", "corp", `{"scp": ["a", 1, true, null, {"b": 1}, ["c"], ""]}`, []string{"a"}},
		{"an array element is one scope even with a space", "corp", `{"scp": ["a b"]}`, []string{"a b"}},
		{"the union of every scope claim in order without duplicates", "corp", `{"scope": "a b a", "scp": ["c", "b"]}`, []string{"a", "b", "c"}},
		{"a number is no scope", "corp", `{"scope": 42}`, nil},
		{"no scope claim gives no scopes", "corp", `{"sub": "x"}`, nil},
		{"scopes from a nested path", "kc", `{"realm_access": {"roles": ["admin", "user"]}}`, []string{"admin", "user"}},
		{"another issuer's scope claims are not read", "kc", `{"scope": "a"}`, nil},
		{"an unknown issuer carries no scopes", "nobody", `{"scope": "a"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tb.Scopes(tt.issuer, claimsJSON(t, tt.claims)); !slices.Equal(got, tt.want) {
				t.Errorf("Scopes = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAuthorizeScopes(t *testing.T) {
	tests := []struct {
		name        string
		allOf       []string
		anyOf       []string
		issuer      string
		claims      string
		wantAllowed bool
		wantMissing []string
	}{
		{"no scopes required allows any token", nil, nil, "corp", `{}`, true, nil},
		{"every all_of scope present", []string{"a", "b"}, nil, "corp", `{"scope": "b x a"}`, true, nil},
		{"one all_of scope missing", []string{"a", "b"}, nil, "corp", `{"scope": "a"}`, false, []string{"b"}},
		{"every all_of scope missing", []string{"a", "b"}, nil, "corp", `{}`, false, []string{"a", "b"}},
		{"scope substring is not a scope", []string{"orders:read"}, nil, "corp", `{"scope": "orders:readX xorders:read orders:read:all"}`, false, []string{"orders:read"}},
		{"a scope holding other white space is one scope", []string{"admin"}, nil, "corp", `{"scope": "orders:x\u00a0admin orders:y\tadmin orders:z\nadmin"}`, false, []string{"admin"}},
		{"scopes are case-sensitive", []string{"orders:read"}, nil, "corp", `{"scope": "ORDERS:READ"}`, false, []string{"orders:read"}},
		{"scopes across two claims", []string{"a", "b"}, nil, "corp", `{"scope": "a", "scp": ["b"]}`, true, nil},
		{"one any_of scope is enough", nil, []string{"a", "b"}, "corp", `{"scp": ["b"]}`, true, nil},
		{"no any_of scope lists them all", nil, []string{"a", "b"}, "corp", `{"scope": "c"}`, false, []string{"a", "b"}},
		{"all_of and any_of together", []string{"a"}, []string{"b", "c"}, "corp", `{"scope": "a c"}`, true, nil},
		{"all_of met but any_of not", []string{"a"}, []string{"b", "c"}, "corp", `{"scope": "a"}`, false, []string{"b", "c"}},
		{"neither met", []string{"a"}, []string{"b", "c"}, "corp", `{}`, false, []string{"a", "b", "c"}},
		{"a scope in both lists", []string{"a"}, []string{"a", "b"}, "corp", `{"scope": "a"}`, true, nil},
		{"roles from realm_access.roles", []string{"admin"}, nil, "kc", `{"realm_access": {"roles": ["user", "admin"]}}`, true, nil},
		{"scopes in another issuer's claim do not count", []string{"admin"}, nil, "kc", `{"scope": "admin"}`, false, []string{"admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rt("r", "/")
			r.Auth.Scopes = config.Scopes{AllOf: tt.allOf, AnyOf: tt.anyOf}
			tb := compile(t, testConfig(r))
			d := tb.Authorize(tb.Routes()[0], tt.issuer, claimsJSON(t, tt.claims))
			if d.Allowed != tt.wantAllowed || !slices.Equal(d.Missing, tt.wantMissing) {
				t.Errorf("Authorize = %+v, want allowed %v missing %q", d, tt.wantAllowed, tt.wantMissing)
			}
			if !d.Allowed && d.Reason != outcome.InsufficientScope {
				t.Errorf("reason = %q", d.Reason)
			}
		})
	}
}

func TestAuthorizeManyScopes(t *testing.T) {
	// More required scopes than the stack-allocated set holds.
	var all []string
	scope := ""
	for i := range 40 {
		s := string(rune('A'+i%26)) + string(rune('a'+i/26))
		all = append(all, s)
		scope += s + " "
	}
	r := rt("r", "/")
	r.Auth.Scopes.AllOf = all
	tb := compile(t, testConfig(r))
	if d := tb.Authorize(tb.Routes()[0], "corp", map[string]any{"scope": scope}); !d.Allowed {
		t.Errorf("refused: %+v", d)
	}
	if d := tb.Authorize(tb.Routes()[0], "corp", map[string]any{"scope": scope[3:]}); d.Allowed || !slices.Equal(d.Missing, all[:1]) {
		t.Errorf("got %+v, want the first scope missing", d)
	}
}

func TestAuthorizeClaims(t *testing.T) {
	const (
		oneOf       = config.ClaimOneOf
		contains    = config.ClaimContains
		containsAny = config.ClaimContainsAny
		containsAll = config.ClaimContainsAll
	)
	tests := []struct {
		name   string
		path   string
		rule   config.ClaimRule // values as YAML decodes them
		claims string
		want   bool
	}{
		// A plain value: same JSON type, same value.
		{"equal strings", "tenant", eq("acme"), `{"tenant": "acme"}`, true},
		{"different strings", "tenant", eq("acme"), `{"tenant": "acme2"}`, false},
		{"strings are case-sensitive", "tenant", eq("acme"), `{"tenant": "ACME"}`, false},
		{"a missing claim fails", "tenant", eq("acme"), `{}`, false},
		{"a null claim fails", "tenant", eq("acme"), `{"tenant": null}`, false},
		{"a nested claim", "org.tenant_id", eq("acme"), `{"org": {"tenant_id": "acme"}}`, true},
		{"an Auth0-style whole key", "https://example.com/tenant", eq("acme"), `{"https://example.com/tenant": "acme"}`, true},
		{"true equals true", "email_verified", eq(true), `{"email_verified": true}`, true},
		{"true is not false", "email_verified", eq(true), `{"email_verified": false}`, false},
		{"the string true is not the bool", "email_verified", eq(true), `{"email_verified": "true"}`, false},
		{"JSON 42 equals YAML 42", "level", eq(42), `{"level": 42}`, true},
		{"JSON 42 equals YAML 42.0", "level", eq(42.0), `{"level": 42}`, true},
		{"JSON 42.0 equals YAML 42", "level", eq(42), `{"level": 42.0}`, true},
		{"JSON 4.2e1 equals YAML 42", "level", eq(42), `{"level": 4.2e1}`, true},
		{"JSON 42.5 is not YAML 42", "level", eq(42), `{"level": 42.5}`, false},
		{"a fraction too small for float64 is still not 42", "level", eq(42), `{"level": 42.0000000000000000001}`, false},
		{"JSON 2.5 equals YAML 2.5", "ratio", eq(2.5), `{"ratio": 2.5}`, true},
		{"JSON 0.1 equals YAML 0.1", "ratio", eq(0.1), `{"ratio": 0.1}`, true},
		{"JSON 43 is not YAML 42", "level", eq(42), `{"level": 43}`, false},
		{"large integers compare exactly", "id", eq(int64(9007199254740993)), `{"id": 9007199254740993}`, true},
		{"large integers are not rounded to equal", "id", eq(int64(9007199254740993)), `{"id": 9007199254740992}`, false},
		{"a uint64 above MaxInt64", "id", eq(uint64(1) << 63), `{"id": 9223372036854775808}`, true},
		{"a negative number", "delta", eq(-3), `{"delta": -3}`, true},
		{"a JSON string is not a YAML number", "level", eq(42), `{"level": "42"}`, false},
		{"a YAML string is not a JSON number", "level", eq("42"), `{"level": 42}`, false},
		{"a bool is not a number", "level", eq(1), `{"level": true}`, false},
		{"a huge exponent is refused rather than expanded", "level", eq(0), `{"level": 0e999999999}`, false},
		{"a token spanning two tenants does not pass a single-tenant check", "tenant", eq("acme"), `{"tenant": ["acme", "other"]}`, false},
		{"an array of the one value does not equal the value", "tenant", eq("acme"), `{"tenant": ["acme"]}`, false},
		{"an array of the one number does not equal the number", "level", eq(3), `{"level": [3]}`, false},
		{"an empty array does not equal a value", "groups", eq("admins"), `{"groups": []}`, false},
		{"an object never equals a value", "org", eq("acme"), `{"org": {"acme": true}}`, false},

		// one_of: a scalar equal to one of the values.
		{"one_of: the first value", "tenant", op(oneOf, "acme", "globex"), `{"tenant": "acme"}`, true},
		{"one_of: the last value", "tenant", op(oneOf, "acme", "globex"), `{"tenant": "globex"}`, true},
		{"one_of: a value not listed", "tenant", op(oneOf, "acme", "globex"), `{"tenant": "initech"}`, false},
		{"one_of: an array holding a listed value is not one of them", "tenant", op(oneOf, "acme", "globex"), `{"tenant": ["acme"]}`, false},
		{"one_of: an array holding two listed values is not one of them", "tenant", op(oneOf, "acme", "globex"), `{"tenant": ["acme", "globex"]}`, false},
		{"one_of: the string \"5\" is not the number 5", "level", op(oneOf, 5, 6), `{"level": "5"}`, false},
		{"one_of: the number 5 is not the string \"5\"", "code", op(oneOf, "5", "6"), `{"code": 5}`, false},
		{"one_of: numbers compare by value", "level", op(oneOf, 5, 6), `{"level": 5.0}`, true},
		{"one_of: mixed types, each compared with its own", "v", op(oneOf, "5", true), `{"v": true}`, true},
		{"one_of: a missing claim fails", "tenant", op(oneOf, "acme"), `{}`, false},
		{"one_of: an object is none of them", "tenant", op(oneOf, "acme"), `{"tenant": {"acme": true}}`, false},

		// contains: an array holding the value.
		{"contains: an array holding it", "groups", op(contains, "admins"), `{"groups": ["users", "admins"]}`, true},
		{"contains: an array of only it", "groups", op(contains, "admins"), `{"groups": ["admins"]}`, true},
		{"contains: an array without it", "groups", op(contains, "admins"), `{"groups": ["users", "admins2"]}`, false},
		{"contains: a scalar equal to the value is not an array holding it", "groups", op(contains, "admins"), `{"groups": "admins"}`, false},
		{"contains: an empty array", "groups", op(contains, "admins"), `{"groups": []}`, false},
		{"contains: a missing claim", "groups", op(contains, "admins"), `{}`, false},
		{"contains: arrays are searched one level deep only", "groups", op(contains, "admins"), `{"groups": [["admins"]]}`, false},
		{"contains: an object in the array is not the value", "groups", op(contains, "admins"), `{"groups": [{"admins": true}]}`, false},
		{"contains: an object holding the key is not an array", "groups", op(contains, "admins"), `{"groups": {"admins": true}}`, false},
		{"contains: the string \"5\" is not the number 5", "levels", op(contains, 5), `{"levels": ["5"]}`, false},
		{"contains: the number 5 is not the string \"5\"", "codes", op(contains, "5"), `{"codes": [5]}`, false},
		{"contains: numbers compare by value", "levels", op(contains, 5), `{"levels": [1, 5.0]}`, true},
		{"contains: strings are case-sensitive", "groups", op(contains, "admins"), `{"groups": ["Admins"]}`, false},

		// contains_any: an array holding at least one.
		{"contains_any: an array holding the first", "roles", op(containsAny, "a", "b"), `{"roles": ["x", "a"]}`, true},
		{"contains_any: an array holding the last", "roles", op(containsAny, "a", "b"), `{"roles": ["b"]}`, true},
		{"contains_any: an array holding neither", "roles", op(containsAny, "a", "b"), `{"roles": ["x", "y"]}`, false},
		{"contains_any: a scalar equal to one is not an array", "roles", op(containsAny, "a", "b"), `{"roles": "a"}`, false},
		{"contains_any: an empty array", "roles", op(containsAny, "a", "b"), `{"roles": []}`, false},
		{"contains_any: type confusion inside the list", "roles", op(containsAny, 5, "6"), `{"roles": ["5", 6]}`, false},
		{"contains_any: a nested array holding both", "roles", op(containsAny, "a", "b"), `{"roles": [["a", "b"]]}`, false},

		// contains_all: an array holding every one.
		{"contains_all: an array holding both", "roles", op(containsAll, "a", "b"), `{"roles": ["b", "x", "a"]}`, true},
		{"contains_all: an array holding one of two", "roles", op(containsAll, "a", "b"), `{"roles": ["a", "x"]}`, false},
		{"contains_all: an array holding the other of two", "roles", op(containsAll, "a", "b"), `{"roles": ["b"]}`, false},
		{"contains_all: a scalar is not an array", "roles", op(containsAll, "a"), `{"roles": "a"}`, false},
		{"contains_all: an empty array", "roles", op(containsAll, "a"), `{"roles": []}`, false},
		{"contains_all: type confusion inside the list", "roles", op(containsAll, 5, "6"), `{"roles": [5, 6]}`, false},
		{"contains_all: numbers and strings, each its own type", "roles", op(containsAll, 5, "6"), `{"roles": ["6", 5]}`, true},
		{"contains_all: an object holding both keys is not an array", "roles", op(containsAll, "a", "b"), `{"roles": {"a": 1, "b": 2}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rt("r", "/")
			r.Auth.Claims = map[string]config.ClaimRule{tt.path: tt.rule}
			tb := compile(t, testConfig(r))
			d := tb.Authorize(tb.Routes()[0], "corp", claimsJSON(t, tt.claims))
			if d.Allowed != tt.want {
				t.Fatalf("Authorize = %+v, want allowed %v", d, tt.want)
			}
			if !d.Allowed && (d.Reason != outcome.ClaimMismatch || d.Claim != tt.path) {
				t.Errorf("refusal = %+v, want %s on %q", d, outcome.ClaimMismatch, tt.path)
			}
		})
	}
}

func TestAuthorizeClaimsFromADecoderWithoutUseNumber(t *testing.T) {
	tests := []struct {
		name  string
		value any
		claim any
		want  bool
	}{
		{"float64 42 equals YAML 42", 42, float64(42), true},
		{"float64 42.5 is not YAML 42", 42, 42.5, false},
		{"float64 1e300 is not an int", 42, 1e300, false},
		{"int equals float", 2.0, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rt("r", "/")
			r.Auth.Claims = claims("n", tt.value)
			tb := compile(t, testConfig(r))
			if d := tb.Authorize(tb.Routes()[0], "corp", map[string]any{"n": tt.claim}); d.Allowed != tt.want {
				t.Errorf("Authorize = %+v, want %v", d, tt.want)
			}
		})
	}
}

func TestAuthorizeChecksScopesBeforeClaims(t *testing.T) {
	r := rt("r", "/")
	r.Auth.Scopes.AllOf = []string{"a"}
	r.Auth.Claims = claims("tenant", "acme", "active", true)
	tb := compile(t, testConfig(r))
	route := tb.Routes()[0]
	if d := tb.Authorize(route, "corp", claimsJSON(t, `{"tenant": "other"}`)); d.Reason != outcome.InsufficientScope {
		t.Errorf("got %+v, want insufficient_scope first", d)
	}
	if d := tb.Authorize(route, "corp", claimsJSON(t, `{"scope": "a", "tenant": "acme", "active": false}`)); d.Reason != outcome.ClaimMismatch || d.Claim != "active" {
		t.Errorf("got %+v, want claim_mismatch on active", d)
	}
	if d := tb.Authorize(route, "corp", claimsJSON(t, `{"scope": "a", "tenant": "acme", "active": true}`)); !d.Allowed {
		t.Errorf("got %+v, want allowed", d)
	}
	if d := tb.Authorize(nil, "corp", nil); d.Allowed {
		t.Error("a nil route allowed")
	}
}

func TestAuthorizeAllowedDoesNotAllocate(t *testing.T) {
	r := rt("r", "/")
	r.Auth.Scopes = config.Scopes{AllOf: []string{"orders:read"}, AnyOf: []string{"x", "orders:write"}}
	r.Auth.Claims = claims("tenant", "acme", "level", 3,
		"region", op(config.ClaimOneOf, "eu", "us"),
		"groups", op(config.ClaimContains, "admins"),
		"roles", op(config.ClaimContainsAny, "x", "writer"),
		"perms", op(config.ClaimContainsAll, "read", 7))
	tb := compile(t, testConfig(r))
	route := tb.Routes()[0]
	claims := claimsJSON(t, `{"scope": "openid orders:read orders:write", "tenant": "acme", "level": 3, "region": "us",
		"groups": ["users", "admins"], "roles": ["reader", "writer"], "perms": [7, "write", "read"]}`)
	if d := tb.Authorize(route, "corp", claims); !d.Allowed {
		t.Fatalf("refused: %+v", d)
	}
	if n := testing.AllocsPerRun(100, func() { tb.Authorize(route, "corp", claims) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

func BenchmarkAuthorize(b *testing.B) {
	r := rt("r", "/")
	r.Auth.Scopes = config.Scopes{AllOf: []string{"orders:read"}, AnyOf: []string{"x", "orders:write"}}
	r.Auth.Claims = claims("tenant", "acme", "groups", op(config.ClaimContains, "admins"))
	tb := compile(b, testConfig(r))
	route := tb.Routes()[0]
	claims := claimsJSON(b, `{"scope": "openid profile email orders:read orders:write", "tenant": "acme", "groups": ["users", "admins"]}`)
	b.ReportAllocs()
	for b.Loop() {
		tb.Authorize(route, "corp", claims)
	}
}
