package policy

import (
	"slices"
	"testing"

	"github.com/portcullis/portcullis/config"
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
		{"runs of white space separate too", "corp", `{"scope": "  a\tb\n c  "}`, []string{"a", "b", "c"}},
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
			if !d.Allowed && d.Reason != ReasonInsufficientScope {
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
	tests := []struct {
		name   string
		path   string
		value  any // as YAML decodes it
		claims string
		want   bool
	}{
		{"equal strings", "tenant", "acme", `{"tenant": "acme"}`, true},
		{"different strings", "tenant", "acme", `{"tenant": "acme2"}`, false},
		{"strings are case-sensitive", "tenant", "acme", `{"tenant": "ACME"}`, false},
		{"a missing claim fails", "tenant", "acme", `{}`, false},
		{"a null claim fails", "tenant", "acme", `{"tenant": null}`, false},
		{"a nested claim", "org.tenant_id", "acme", `{"org": {"tenant_id": "acme"}}`, true},
		{"an Auth0-style whole key", "https://example.com/tenant", "acme", `{"https://example.com/tenant": "acme"}`, true},
		{"true equals true", "email_verified", true, `{"email_verified": true}`, true},
		{"true is not false", "email_verified", true, `{"email_verified": false}`, false},
		{"the string true is not the bool", "email_verified", true, `{"email_verified": "true"}`, false},
		{"JSON 42 equals YAML 42", "level", 42, `{"level": 42}`, true},
		{"JSON 42 equals YAML 42.0", "level", 42.0, `{"level": 42}`, true},
		{"JSON 42.0 equals YAML 42", "level", 42, `{"level": 42.0}`, true},
		{"JSON 4.2e1 equals YAML 42", "level", 42, `{"level": 4.2e1}`, true},
		{"JSON 42.5 is not YAML 42", "level", 42, `{"level": 42.5}`, false},
		{"a fraction too small for float64 is still not 42", "level", 42, `{"level": 42.0000000000000000001}`, false},
		{"JSON 2.5 equals YAML 2.5", "ratio", 2.5, `{"ratio": 2.5}`, true},
		{"JSON 0.1 equals YAML 0.1", "ratio", 0.1, `{"ratio": 0.1}`, true},
		{"JSON 43 is not YAML 42", "level", 42, `{"level": 43}`, false},
		{"large integers compare exactly", "id", int64(9007199254740993), `{"id": 9007199254740993}`, true},
		{"large integers are not rounded to equal", "id", int64(9007199254740993), `{"id": 9007199254740992}`, false},
		{"a uint64 above MaxInt64", "id", uint64(1) << 63, `{"id": 9223372036854775808}`, true},
		{"a negative number", "delta", -3, `{"delta": -3}`, true},
		{"a JSON string is not a YAML number", "level", 42, `{"level": "42"}`, false},
		{"a YAML string is not a JSON number", "level", "42", `{"level": 42}`, false},
		{"a bool is not a number", "level", 1, `{"level": true}`, false},
		{"a huge exponent is refused rather than expanded", "level", 0, `{"level": 0e999999999}`, false},
		{"an array claim contains the value", "groups", "admins", `{"groups": ["users", "admins"]}`, true},
		{"an array claim without the value", "groups", "admins", `{"groups": ["users", "admins2"]}`, false},
		{"an array of numbers contains the number", "levels", 3, `{"levels": [1, 3]}`, true},
		{"arrays are searched one level deep only", "groups", "admins", `{"groups": [["admins"]]}`, false},
		{"an empty array fails", "groups", "admins", `{"groups": []}`, false},
		{"an object never equals a value", "org", "acme", `{"org": {"acme": true}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rt("r", "/")
			r.Auth.Claims = map[string]any{tt.path: tt.value}
			tb := compile(t, testConfig(r))
			d := tb.Authorize(tb.Routes()[0], "corp", claimsJSON(t, tt.claims))
			if d.Allowed != tt.want {
				t.Fatalf("Authorize = %+v, want allowed %v", d, tt.want)
			}
			if !d.Allowed && (d.Reason != ReasonClaimMismatch || d.Claim != tt.path) {
				t.Errorf("refusal = %+v, want %s on %q", d, ReasonClaimMismatch, tt.path)
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
			r.Auth.Claims = map[string]any{"n": tt.value}
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
	r.Auth.Claims = map[string]any{"tenant": "acme", "active": true}
	tb := compile(t, testConfig(r))
	route := tb.Routes()[0]
	if d := tb.Authorize(route, "corp", claimsJSON(t, `{"tenant": "other"}`)); d.Reason != ReasonInsufficientScope {
		t.Errorf("got %+v, want insufficient_scope first", d)
	}
	if d := tb.Authorize(route, "corp", claimsJSON(t, `{"scope": "a", "tenant": "acme", "active": false}`)); d.Reason != ReasonClaimMismatch || d.Claim != "active" {
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
	r.Auth.Claims = map[string]any{"tenant": "acme", "level": 3, "groups": "admins"}
	tb := compile(t, testConfig(r))
	route := tb.Routes()[0]
	claims := claimsJSON(t, `{"scope": "openid orders:read orders:write", "tenant": "acme", "level": 3, "groups": ["users", "admins"]}`)
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
	r.Auth.Claims = map[string]any{"tenant": "acme", "groups": "admins"}
	tb := compile(b, testConfig(r))
	route := tb.Routes()[0]
	claims := claimsJSON(b, `{"scope": "openid profile email orders:read orders:write", "tenant": "acme", "groups": ["users", "admins"]}`)
	b.ReportAllocs()
	for b.Loop() {
		tb.Authorize(route, "corp", claims)
	}
}
