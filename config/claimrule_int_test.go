package config_test

import (
	"encoding/json"
	"testing"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/policy"
)

// TestClaimRuleIntegersAreWrittenInDecimal: YAML reads 010 as the octal 8
// (yaml.v3 takes a leading 0 as octal, which YAML 1.2 does not), 0x10 as
// 16 and 1_000 as 1000, so `org_id: 010`, copied from a padded id, would
// check for org 8: a token of org 8 would pass the route meant for org 10
// (or for the string "010"). Such a value is refused at load, with how to
// write either reading.
func TestClaimRuleIntegersAreWrittenInDecimal(t *testing.T) {
	const p = "routes[0].auth.claims."
	for _, tt := range []struct{ block, field, other string }{
		{"        org_id: 010 #<", p + "org_id", "8"},
		{"        org_id: 0012345 #<", p + "org_id", "5349"},
		{"        org_id: -010 #<", p + "org_id", "-8"},
		{"        org_id: 0x10 #<", p + "org_id", "16"},
		{"        org_id: 0o17 #<", p + "org_id", "15"},
		{"        org_id: 0b11 #<", p + "org_id", "3"},
		{"        org_id: 1_000 #<", p + "org_id", ""},
		{"        org_id: {one_of: [10, 010]} #<", p + "org_id.one_of[1]", "8"},
		{"        orgs: {contains: 011} #<", p + "orgs.contains", "9"},
	} {
		t.Run(tt.block, func(t *testing.T) {
			doc := claimsDoc(tt.block)
			cfg, err := config.Parse([]byte(doc), "test.yaml")
			if err == nil {
				// What the mistake did: the route admitted another org.
				tb, cerr := policy.Compile(cfg)
				if cerr != nil {
					t.Fatal(cerr)
				}
				if n := tt.other; n != "" {
					claims := map[string]any{"org_id": json.Number(n), "orgs": []any{json.Number(n)}}
					if tb.Authorize(tb.Routes()[0], "corp", claims).Allowed {
						t.Errorf("%s was loaded, and admits a token whose org is %s", tt.block, n)
					}
				}
				t.Fatalf("%s was loaded", tt.block)
			}
			ps := problemsOf(t, doc)
			requireProblem(t, ps, tt.field, markedLine(t, doc), config.CodeInvalid, "decimal")
		})
	}
	// Decimal integers, signed ones and quoted strings are as they were.
	cfg := mustParse(t, claimsDoc("        a: 10\n        b: -7\n        c: 0\n        d: \"010\"\n        e: +3\n        f: 0.5"))
	c := cfg.Routes[0].Auth.Claims
	if c["a"].Values[0] != 10 || c["b"].Values[0] != -7 || c["c"].Values[0] != 0 || c["d"].Values[0] != "010" || c["e"].Values[0] != 3 || c["f"].Values[0] != 0.5 {
		t.Errorf("claims = %#v", c)
	}
}
