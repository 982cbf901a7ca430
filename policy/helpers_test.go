package policy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/portcullis/portcullis/config"
)

// claimsJSON decodes claims the way the verifier does: encoding/json with
// UseNumber.
func claimsJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("bad claims JSON %s: %v", s, err)
	}
	return m
}

// testConfig is a configuration with one issuer "corp" (scopes in "scope"
// and "scp") and one issuer "kc" (scopes in "realm_access.roles"), plus the
// given routes.
func testConfig(routes ...config.Route) *config.Config {
	return &config.Config{
		Issuers: []config.Issuer{
			{Name: "corp", Issuer: "https://idp.example.com/", ScopeClaims: []string{"scope", "scp"}},
			{Name: "kc", Issuer: "https://kc.example.com/", ScopeClaims: []string{"realm_access.roles"}},
		},
		Routes: routes,
	}
}

// rt is a route with the given name and prefix, to an upstream on loopback.
func rt(name, prefix string) config.Route {
	return config.Route{
		Name:     name,
		Match:    config.Match{PathPrefix: prefix},
		Upstream: "http://127.0.0.1:9001",
		Auth:     config.Auth{Mode: config.ModeRequired},
	}
}

func compile(t testing.TB, cfg *config.Config) *Table {
	t.Helper()
	tb, err := Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tb
}

// eq is the plain claim rule `path: v`; op is `path: {name: vs}`.
func eq(v any) config.ClaimRule { return config.ClaimEquals(v) }

func op(name string, vs ...any) config.ClaimRule { return config.ClaimRuleOf(name, vs...) }

// claims is an auth.claims block of plain values, as YAML decodes them.
func claims(kv ...any) map[string]config.ClaimRule {
	m := make(map[string]config.ClaimRule, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if r, ok := kv[i+1].(config.ClaimRule); ok {
			m[kv[i].(string)] = r
		} else {
			m[kv[i].(string)] = eq(kv[i+1])
		}
	}
	return m
}
