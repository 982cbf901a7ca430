package config_test

import (
	"reflect"
	"testing"

	"github.com/portcullis/portcullis/config"
)

// claimsDoc is a valid file whose one route has the given auth.claims
// block (its lines, indented by eight spaces).
func claimsDoc(block string) string {
	return routeDoc("name: r\n    match: {path: /}\n    upstream: http://127.0.0.1:1\n    auth:\n      claims:\n" + block)
}

func TestClaimRulesKeepTheirYAMLTypes(t *testing.T) {
	cfg := mustParse(t, claimsDoc(`        tenant: acme
        level: 3
        ratio: 0.5
        verified: true
        quoted: "3"
        "https://example.com/org": acme
        region: {one_of: [eu, "us", 5, "5"]}
        groups: {contains: admins}
        roles:
          contains_any: [a, b]
        perms: {contains_all: [read, 7, true]}`))
	want := map[string]config.ClaimRule{
		"tenant":                  config.ClaimEquals("acme"),
		"level":                   config.ClaimEquals(3),
		"ratio":                   config.ClaimEquals(0.5),
		"verified":                config.ClaimEquals(true),
		"quoted":                  config.ClaimEquals("3"),
		"https://example.com/org": config.ClaimEquals("acme"),
		"region":                  config.ClaimRuleOf(config.ClaimOneOf, "eu", "us", 5, "5"),
		"groups":                  config.ClaimRuleOf(config.ClaimContains, "admins"),
		"roles":                   config.ClaimRuleOf(config.ClaimContainsAny, "a", "b"),
		"perms":                   config.ClaimRuleOf(config.ClaimContainsAll, "read", 7, true),
	}
	if got := cfg.Routes[0].Auth.Claims; !reflect.DeepEqual(got, want) {
		t.Errorf("claims = %#v, want %#v", got, want)
	}
}

func TestClaimRulesWorkThroughAnchors(t *testing.T) {
	doc := issuerOK + `routes:
  - name: a
    match: {path: /a}
    upstream: http://127.0.0.1:1
    auth:
      claims:
        groups: &admins {contains: admins}
        tenant: {one_of: &tenants [acme, globex]}
  - name: b
    match: {path: /b}
    upstream: http://127.0.0.1:1
    auth:
      claims:
        groups: *admins
        tenant: {contains_any: *tenants}
`
	cfg := mustParse(t, doc)
	b := cfg.Routes[1].Auth.Claims
	if !reflect.DeepEqual(b["groups"], config.ClaimRuleOf(config.ClaimContains, "admins")) ||
		!reflect.DeepEqual(b["tenant"], config.ClaimRuleOf(config.ClaimContainsAny, "acme", "globex")) {
		t.Errorf("claims through aliases = %#v", b)
	}
}

// Every mistake a claim check can hold, as a file that makes it: the
// problem's field, its line (marked "#<"), its code and, where the message
// is what teaches the operator the operators, what it says.
func TestClaimRuleMistakesAreReportedWithTheirLine(t *testing.T) {
	const p = "routes[0].auth.claims."
	tests := []struct {
		name   string
		block  string
		field  string
		code   config.Code
		saying string
	}{
		{"null is no value",
			"        tenant: null #<", p + "tenant", config.CodeWrongType, ""},
		{"an empty value is null",
			"        tenant: #<", p + "tenant", config.CodeWrongType, ""},
		{"a plain list is not a value, and the message names one_of and contains_any",
			"        tenant: [acme, globex] #<", p + "tenant", config.CodeWrongType, "a list is not a value, and an array claim never equals one: write {one_of: [acme, globex]}"},
		{"a plain list names contains_any and contains_all too",
			"        roles: [admin] #<", p + "roles", config.CodeWrongType, "{contains_any: [admin]} / {contains_all: [admin]} for an array claim"},
		{"an empty plain list",
			"        roles: [] #<", p + "roles", config.CodeWrongType, "{one_of: [...]}"},
		{"a block list",
			"        roles: #<\n          - admin\n          - \"support team\"", p + "roles", config.CodeWrongType, `{one_of: [admin, "support team"]}`},
		{"an object as a value is an unknown operator",
			"        org: {id: 1} #<", p + "org.id", config.CodeUnknownKey, `unknown claim operator "id" (allowed here: one_of, contains, contains_any, contains_all); a claim check compares with a string, a number or a boolean, never with an object`},
		{"a misspelt operator suggests the nearest",
			"        groups: {contain: admins} #<", p + "groups.contain", config.CodeUnknownKey, `did you mean "contains"?`},
		{"an operator in capitals suggests it in lower case",
			"        tenant: {ONE_OF: [acme]} #<", p + "tenant.ONE_OF", config.CodeUnknownKey, `did you mean "one_of"?`},
		{"any_of (the scopes' word) suggests one_of",
			"        tenant: {any_of: [acme]} #<", p + "tenant.any_of", config.CodeUnknownKey, `did you mean "one_of"?`},
		{"an empty mapping",
			"        groups: {} #<", p + "groups", config.CodeWrongType, "exactly one key (one_of, contains, contains_any or contains_all), not an empty mapping"},
		{"two operators on one claim",
			"        groups: #<\n          contains: admins\n          one_of: [x]", p + "groups", config.CodeWrongType, "not 2 keys (contains, one_of): write one check per claim"},
		{"an operator twice",
			"        groups:\n          contains: admins\n          contains: users #<", p + "groups.contains", config.CodeDuplicateKey, ""},
		{"an empty one_of can never pass",
			"        tenant: {one_of: []} #<", p + "tenant.one_of", config.CodeEmpty, "an empty list can never pass, so the route would refuse every token"},
		{"an empty contains_any can never pass",
			"        roles:\n          contains_any: [] #<", p + "roles.contains_any", config.CodeEmpty, "an empty list can never pass"},
		{"an empty contains_all always passes",
			"        roles: {contains_all: []} #<", p + "roles.contains_all", config.CodeEmpty, "an empty list always passes, so it checks nothing"},
		{"one_of takes a list",
			"        tenant: {one_of: acme} #<", p + "tenant.one_of", config.CodeWrongType, "one_of takes a list of strings, numbers or booleans, not the string \"acme\" (write [acme] for a list of one)"},
		{"contains_all takes a list",
			"        roles: {contains_all: 5} #<", p + "roles.contains_all", config.CodeWrongType, ""},
		{"one_of against null",
			"        tenant: {one_of: null} #<", p + "tenant.one_of", config.CodeWrongType, ""},
		{"contains_any against a mapping",
			"        roles: {contains_any: {a: 1}} #<", p + "roles.contains_any", config.CodeWrongType, ""},
		{"contains takes one value, not a list",
			"        groups: {contains: [a, b]} #<", p + "groups.contains", config.CodeWrongType, "contains takes one value, not a list: use contains_any"},
		{"contains against a mapping",
			"        groups: {contains: {a: 1}} #<", p + "groups.contains", config.CodeWrongType, ""},
		{"contains against null",
			"        groups: {contains: ~} #<", p + "groups.contains", config.CodeWrongType, ""},
		{"a list element that is a list",
			"        roles:\n          contains_any:\n            - a\n            - [b] #<", p + "roles.contains_any[1]", config.CodeWrongType, ""},
		{"a list element that is a mapping",
			"        tenant:\n          one_of:\n            - {acme: true} #<", p + "tenant.one_of[0]", config.CodeWrongType, ""},
		{"a list element that is null",
			"        tenant:\n          one_of:\n            - acme\n            - null #<", p + "tenant.one_of[1]", config.CodeWrongType, ""},
		{"NaN never equals anything",
			"        level: .nan #<", p + "level", config.CodeInvalid, ""},
		{"infinity is not a JSON number",
			"        level: -.inf #<", p + "level", config.CodeInvalid, ""},
		{"infinity inside a list",
			"        level:\n          one_of:\n            - 1\n            - .Inf #<", p + "level.one_of[1]", config.CodeInvalid, ""},
		{"NaN for contains",
			"        levels: {contains: .NaN} #<", p + "levels.contains", config.CodeInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := claimsDoc(tt.block)
			ps := problemsOf(t, doc)
			requireProblem(t, ps, tt.field, markedLine(t, doc), tt.code, tt.saying)
			if len(ps) != 1 {
				t.Errorf("want one problem, got %d:\n%v", len(ps), ps)
			}
		})
	}
}

// An operator-shaped mistake does not hide the others: every claim check
// of every route is reported in one run, in line order.
func TestEveryClaimRuleMistakeIsReported(t *testing.T) {
	doc := issuerOK + `routes:
  - name: a
    match: {path: /a}
    upstream: http://127.0.0.1:1
    auth:
      claims:
        tenant: [acme]
        groups: {contain: admins}
        roles: {contains_all: []}
        ok: {one_of: [x]}
  - name: b
    match: {path: /b}
    upstream: http://127.0.0.1:1
    auth:
      claims:
        level: {one_of: [1, [2]]}
        "org.": acme
`
	ps := problemsOf(t, doc)
	for _, w := range []struct {
		line  int
		field string
		code  config.Code
	}{
		{8, "routes[0].auth.claims.tenant", config.CodeWrongType},
		{9, "routes[0].auth.claims.groups.contain", config.CodeUnknownKey},
		{10, "routes[0].auth.claims.roles.contains_all", config.CodeEmpty},
		{17, "routes[1].auth.claims.level.one_of[1]", config.CodeWrongType},
		{18, `routes[1].auth.claims["org."]`, config.CodeBadClaimPath},
	} {
		requireProblem(t, ps, w.field, w.line, w.code, "")
	}
	if len(ps) != 5 {
		t.Errorf("got %d problems, want 5:\n%v", len(ps), ps)
	}
}

// The example file is the documentation of the file: it shows every
// operator.
func TestExampleFileShowsEveryClaimOperator(t *testing.T) {
	cfg, err := config.Load("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range cfg.Routes {
		for _, rule := range r.Auth.Claims {
			seen[rule.Op] = true
		}
	}
	var missing []string
	for _, op := range append([]string{""}, config.ClaimOperators...) {
		if !seen[op] {
			missing = append(missing, op)
		}
	}
	if len(missing) > 0 {
		t.Errorf("config.example.yaml shows no claim check with operator %q (\"\" is a plain value)", missing)
	}
}
