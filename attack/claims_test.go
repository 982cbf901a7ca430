package attack_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// claimCase is one signed, otherwise valid token whose claims sit at an
// edge. payload receives the corp issuer's iss and the current Unix second.
type claimCase struct {
	name    string
	ref     string
	method  string // "" is GET
	path    string // "" is /orders/1 (scope orders:read)
	payload func(iss string, now int64) string
	status  int
	issuer  string // for refusals; "" is corp
	reason  string
	// timed cases are decided by the second in which they are verified:
	// they are retried when the clock ticks between signing and answer.
	timed bool
}

// TestClaimEdges: time claims at and just beyond the clock skew, iss and
// aud spellings, scope shapes and the substring trick, and claim checks
// against values that only look alike: a plain value never passes an
// array (a token spanning two tenants), and each operator at both edges of
// its shape and of JSON's types. Every token is signed with a real key, so
// each case is decided by the claim rules alone.
func TestClaimEdges(t *testing.T) {
	tg := newTarget(t)
	s := int64(skew / time.Second)
	obj := func(fields ...string) string { return "{" + strings.Join(fields, ",") + "}" }
	std := func(iss string, now int64, extra ...string) string {
		return obj(append([]string{`"iss":"` + iss + `"`, `"aud":"orders-api"`, `"sub":"alice"`,
			`"exp":` + itoa(now+600)}, extra...)...)
	}
	scope := func(v string) func(string, int64) string {
		return func(iss string, now int64) string { return std(iss, now, `"scope":`+v) }
	}
	numeric := func(level, code string) func(string, int64) string {
		return func(iss string, now int64) string { return std(iss, now, `"level":`+level, `"code":`+code) }
	}
	tenant := func(v string) func(string, int64) string {
		return func(iss string, now int64) string {
			return std(iss, now, `"scope":"orders:write"`, `"tenant":`+v)
		}
	}
	claim := func(name, v string) func(string, int64) string {
		return func(iss string, now int64) string { return std(iss, now, `"`+name+`":`+v) }
	}
	aud := func(v string) func(string, int64) string {
		return func(iss string, now int64) string {
			return obj(`"iss":"`+iss+`"`, `"sub":"alice"`, `"scope":"orders:read"`, `"exp":`+itoa(now+600), `"aud":`+v)
		}
	}
	// timeClaims sets time claims at offsets, in seconds, from now.
	type at struct {
		name   string
		offset int64
	}
	timeClaims := func(times ...at) func(string, int64) string {
		return func(iss string, now int64) string {
			f := []string{`"iss":"` + iss + `"`, `"aud":"orders-api"`, `"sub":"alice"`, `"scope":"orders:read"`}
			for _, x := range times {
				f = append(f, `"`+x.name+`":`+itoa(now+x.offset))
			}
			return obj(f...)
		}
	}

	cases := []claimCase{
		// exp, nbf and iat against clock_skew (30s).
		{name: "exp exactly clock_skew ago is expired", ref: "RFC 7519 §4.1.4",
			payload: timeClaims(at{"exp", -s}), status: 401, reason: "expired"},
		{name: "exp one second inside clock_skew is accepted", ref: "RFC 7519 §4.1.4",
			payload: timeClaims(at{"exp", -s + 1}), status: 200, timed: true},
		{name: "exp one second beyond clock_skew is expired", ref: "RFC 7519 §4.1.4",
			payload: timeClaims(at{"exp", -s - 1}), status: 401, reason: "expired"},
		{name: "nbf exactly clock_skew ahead is accepted", ref: "RFC 7519 §4.1.5",
			payload: timeClaims(at{"exp", 600}, at{"nbf", s}), status: 200},
		{name: "nbf one second beyond clock_skew is not_yet_valid", ref: "RFC 7519 §4.1.5",
			payload: timeClaims(at{"exp", 600}, at{"nbf", s + 1}), status: 401, reason: "not_yet_valid", timed: true},
		{name: "iat exactly clock_skew ahead is accepted", ref: "RFC 7519 §4.1.6",
			payload: timeClaims(at{"exp", 600}, at{"iat", s}), status: 200},
		{name: "iat one second beyond clock_skew is not_yet_valid", ref: "RFC 7519 §4.1.6",
			payload: timeClaims(at{"exp", 600}, at{"iat", s + 1}), status: 401, reason: "not_yet_valid", timed: true},
		{name: "a token without exp is missing_claim", ref: "RFC 8725 §3.10; required_claims",
			payload: timeClaims(), status: 401, reason: "missing_claim"},
		{name: "exp as an array is malformed", ref: "RFC 7519 §2 (NumericDate)",
			payload: func(iss string, now int64) string {
				return obj(`"iss":"`+iss+`"`, `"aud":"orders-api"`, `"sub":"alice"`, `"exp":[`+itoa(now+600)+`]`)
			},
			// Judged, like every claim, once the signature has verified.
			status: 401, reason: "malformed", issuer: "corp"},

		// iss is compared byte for byte.
		{name: "iss with a trailing slash added is bad_issuer", ref: "RFC 8725 §3.8; RFC 7519 §4.1.1",
			payload: func(iss string, now int64) string { return std(iss+"/", now, `"scope":"orders:read"`) },
			status:  401, reason: "bad_issuer", issuer: "unknown"},
		{name: "iss without the configured trailing slash is bad_issuer", ref: "RFC 8725 §3.8",
			path:    "/slash",
			payload: func(iss string, now int64) string { return std(iss, now) },
			status:  401, reason: "bad_issuer", issuer: "unknown"},
		{name: "iss with the configured trailing slash is accepted", ref: "RFC 8725 §3.8",
			path:    "/slash",
			payload: func(iss string, now int64) string { return std(iss+"/", now) },
			status:  200},
		{name: "iss in upper case is bad_issuer", ref: "RFC 8725 §3.8",
			payload: func(iss string, now int64) string { return std(strings.ToUpper(iss), now, `"scope":"orders:read"`) },
			status:  401, reason: "bad_issuer", issuer: "unknown"},
		{name: "iss as an array is malformed", ref: "RFC 7519 §4.1.1 (StringOrURI)",
			payload: func(iss string, now int64) string {
				return obj(`"iss":["`+iss+`"]`, `"aud":"orders-api"`, `"sub":"alice"`, `"exp":`+itoa(now+600))
			},
			status: 401, reason: "malformed", issuer: "unknown"},

		// aud as a string or an array; the configured value exactly.
		{name: "aud as the string is accepted", ref: "RFC 7519 §4.1.3",
			payload: aud(`"orders-api"`), status: 200},
		{name: "aud as an array containing it is accepted", ref: "RFC 7519 §4.1.3",
			payload: aud(`["billing-api","orders-api"]`), status: 200},
		{name: "aud as an array without it is bad_audience", ref: "RFC 8725 §3.9",
			payload: aud(`["billing-api","orders"]`), status: 401, reason: "bad_audience"},
		{name: "aud in upper case is bad_audience", ref: "RFC 8725 §3.9",
			payload: aud(`"ORDERS-API"`), status: 401, reason: "bad_audience"},
		{name: "aud with a trailing space is bad_audience", ref: "RFC 8725 §3.9",
			payload: aud(`"orders-api "`), status: 401, reason: "bad_audience"},
		{name: "aud as a comma-separated list is bad_audience", ref: "RFC 8725 §3.9",
			payload: aud(`"billing-api,orders-api"`), status: 401, reason: "bad_audience"},
		{name: "aud as an empty array is bad_audience", ref: "RFC 8725 §3.9",
			payload: aud(`[]`), status: 401, reason: "bad_audience"},
		{name: "aud as a number is malformed", ref: "RFC 7519 §4.1.3",
			payload: aud(`1`), status: 401, reason: "malformed", issuer: "unknown"},

		// Scopes are whole space-separated tokens.
		{name: "scope as a string is accepted", ref: "RFC 6749 §3.3",
			payload: scope(`"profile orders:read"`), status: 200},
		{name: "scope padded with spaces is accepted", ref: "RFC 6749 §3.3",
			payload: scope(`"  orders:read  "`), status: 200},
		{name: "scp as an array is accepted", ref: "RFC 9068 §2.2.3",
			payload: func(iss string, now int64) string { return std(iss, now, `"scp":["profile","orders:read"]`) }, status: 200},
		{name: "orders:readX is not orders:read", ref: "RFC 6749 §3.3 (scope-token)",
			payload: scope(`"orders:readX"`), status: 403, reason: "insufficient_scope"},
		{name: "Xorders:read is not orders:read", ref: "RFC 6749 §3.3",
			payload: scope(`"Xorders:read"`), status: 403, reason: "insufficient_scope"},
		{name: "orders:read:all is not orders:read", ref: "RFC 6749 §3.3",
			payload: scope(`"orders:read:all"`), status: 403, reason: "insufficient_scope"},
		{name: "ORDERS:READ is not orders:read", ref: "RFC 6749 §3.3 (case-sensitive)",
			payload: scope(`"ORDERS:READ"`), status: 403, reason: "insufficient_scope"},
		{name: "orders:* is not orders:read", ref: "RFC 6749 §3.3",
			payload: scope(`"orders:*"`), status: 403, reason: "insufficient_scope"},
		{name: "a comma is not a scope separator", ref: "RFC 6749 §3.3",
			payload: scope(`"profile,orders:read"`), status: 403, reason: "insufficient_scope"},
		{name: "an array element holding two scopes is one scope", ref: "RFC 9068 §2.2.3",
			payload: scope(`["profile orders:read"]`), status: 403, reason: "insufficient_scope"},
		{name: "a nested array is no scope", ref: "RFC 9068 §2.2.3",
			payload: scope(`[["orders:read"]]`), status: 403, reason: "insufficient_scope"},
		{name: "an object is no scope", ref: "RFC 9068 §2.2.3",
			payload: scope(`{"orders:read":true}`), status: 403, reason: "insufficient_scope"},
		{name: "a number is no scope", ref: "RFC 9068 §2.2.3",
			payload: scope(`1`), status: 403, reason: "insufficient_scope"},
		{name: "scopes under another claim name do not count", ref: "scope_claims",
			payload: func(iss string, now int64) string { return std(iss, now, `"scopes":"orders:read"`) },
			status:  403, reason: "insufficient_scope"},

		// Claim checks compare type and value (level: 5, code: "42").
		{name: "level 5 and code \"42\" are accepted", ref: "auth.claims",
			path: "/numeric", payload: numeric(`5`, `"42"`), status: 200},
		{name: "level 5.0, 5e0 and 0.5e1 equal 5", ref: "RFC 8259 §6",
			path: "/numeric", payload: numeric(`5.0`, `"42"`), status: 200},
		{name: "level 0.5e1 equals 5", ref: "RFC 8259 §6",
			path: "/numeric", payload: numeric(`0.5e1`, `"42"`), status: 200},
		{name: "level [4,5] is claim_mismatch: an array never equals a value", ref: "auth.claims (exact; CWE-843)",
			path: "/numeric", payload: numeric(`[4,5]`, `"42"`), status: 403, reason: "claim_mismatch"},
		{name: "level [5] is claim_mismatch: an array never equals a value", ref: "auth.claims (exact; CWE-843)",
			path: "/numeric", payload: numeric(`[5]`, `"42"`), status: 403, reason: "claim_mismatch"},
		{name: "level \"5\" (a string) is claim_mismatch", ref: "auth.claims (type must match)",
			path: "/numeric", payload: numeric(`"5"`, `"42"`), status: 403, reason: "claim_mismatch"},
		{name: "code 42 (a number) is claim_mismatch", ref: "auth.claims (type must match)",
			path: "/numeric", payload: numeric(`5`, `42`), status: 403, reason: "claim_mismatch"},
		{name: "code \"042\" is claim_mismatch", ref: "auth.claims",
			path: "/numeric", payload: numeric(`5`, `"042"`), status: 403, reason: "claim_mismatch"},
		{name: "level 5.000000000000000001 is claim_mismatch, not rounded", ref: "RFC 8259 §6 (precision)",
			path: "/numeric", payload: numeric(`5.000000000000000001`, `"42"`), status: 403, reason: "claim_mismatch"},
		{name: "level 4.999999999999999999 is claim_mismatch, not rounded", ref: "RFC 8259 §6 (precision)",
			path: "/numeric", payload: numeric(`4.999999999999999999`, `"42"`), status: 403, reason: "claim_mismatch"},
		{name: "level 5e1000000 is malformed, without a huge computation", ref: "CWE-400; RFC 8259 §6",
			path: "/numeric", payload: numeric(`5e1000000`, `"42"`), status: 401, reason: "malformed", issuer: "unknown"},
		{name: "level 5e300 is claim_mismatch, without a huge computation", ref: "CWE-400; RFC 8259 §6",
			path: "/numeric", payload: numeric(`5e300`, `"42"`), status: 403, reason: "claim_mismatch"},
		{name: "level true is claim_mismatch", ref: "auth.claims (type must match)",
			path: "/numeric", payload: numeric(`true`, `"42"`), status: 403, reason: "claim_mismatch"},
		{name: "level [\"5\"] is claim_mismatch", ref: "auth.claims (type must match)",
			path: "/numeric", payload: numeric(`["5"]`, `"42"`), status: 403, reason: "claim_mismatch"},
		{name: "tenant acme is accepted", ref: "auth.claims",
			method: http.MethodPost, path: "/orders", payload: tenant(`"acme"`), status: 200},
		{name: "tenant ACME is claim_mismatch", ref: "auth.claims (exact)",
			method: http.MethodPost, path: "/orders", payload: tenant(`"ACME"`), status: 403, reason: "claim_mismatch"},
		{name: "tenant \"acme \" is claim_mismatch", ref: "auth.claims (exact)",
			method: http.MethodPost, path: "/orders", payload: tenant(`"acme "`), status: 403, reason: "claim_mismatch"},
		{name: "a token spanning two tenants is claim_mismatch on a single-tenant route", ref: "auth.claims (exact; CWE-863)",
			method: http.MethodPost, path: "/orders", payload: tenant(`["acme","other"]`), status: 403, reason: "claim_mismatch"},
		{name: "tenant [\"acme\"] is claim_mismatch: an array never equals a value", ref: "auth.claims (exact; CWE-843)",
			method: http.MethodPost, path: "/orders", payload: tenant(`["acme"]`), status: 403, reason: "claim_mismatch"},
		{name: "tenant as an object naming acme is claim_mismatch", ref: "auth.claims",
			method: http.MethodPost, path: "/orders", payload: tenant(`{"acme":true}`), status: 403, reason: "claim_mismatch"},
		{name: "tenant [[\"acme\"]] (a nested array) is claim_mismatch", ref: "auth.claims (exact)",
			method: http.MethodPost, path: "/orders", payload: tenant(`[["acme"]]`), status: 403, reason: "claim_mismatch"},
		{name: "tenant [] is claim_mismatch", ref: "auth.claims (exact)",
			method: http.MethodPost, path: "/orders", payload: tenant(`[]`), status: 403, reason: "claim_mismatch"},

		// one_of [eu, 5]: a scalar equal to one of them, of the same type.
		{name: "one_of: region eu is accepted", ref: "auth.claims one_of",
			path: "/one-of", payload: claim("region", `"eu"`), status: 200},
		{name: "one_of: region 5 is accepted", ref: "auth.claims one_of",
			path: "/one-of", payload: claim("region", `5`), status: 200},
		{name: "one_of: region 5.0 equals 5", ref: "auth.claims one_of; RFC 8259 §6",
			path: "/one-of", payload: claim("region", `5.0`), status: 200},
		{name: "one_of: region \"5\" (a string) is claim_mismatch", ref: "auth.claims one_of (type must match)",
			path: "/one-of", payload: claim("region", `"5"`), status: 403, reason: "claim_mismatch"},
		{name: "one_of: region us is claim_mismatch", ref: "auth.claims one_of",
			path: "/one-of", payload: claim("region", `"us"`), status: 403, reason: "claim_mismatch"},
		{name: "one_of: region [\"eu\"] is claim_mismatch: an array is not one of them", ref: "auth.claims one_of (CWE-863)",
			path: "/one-of", payload: claim("region", `["eu"]`), status: 403, reason: "claim_mismatch"},
		{name: "one_of: region [\"eu\",5] spanning both is claim_mismatch", ref: "auth.claims one_of (CWE-863)",
			path: "/one-of", payload: claim("region", `["eu",5]`), status: 403, reason: "claim_mismatch"},
		{name: "one_of: region as an object naming eu is claim_mismatch", ref: "auth.claims one_of",
			path: "/one-of", payload: claim("region", `{"eu":true}`), status: 403, reason: "claim_mismatch"},
		{name: "one_of: a null region is claim_mismatch", ref: "auth.claims one_of",
			path: "/one-of", payload: claim("region", `null`), status: 403, reason: "claim_mismatch"},

		// contains admins: an array holding it.
		{name: "contains: groups [\"users\",\"admins\"] is accepted", ref: "auth.claims contains",
			path: "/contains", payload: claim("groups", `["users","admins"]`), status: 200},
		{name: "contains: groups [\"admins\"] is accepted", ref: "auth.claims contains",
			path: "/contains", payload: claim("groups", `["admins"]`), status: 200},
		{name: "contains: groups \"admins\" (not an array) is claim_mismatch", ref: "auth.claims contains (CWE-843)",
			path: "/contains", payload: claim("groups", `"admins"`), status: 403, reason: "claim_mismatch"},
		{name: "contains: groups [\"Admins\"] is claim_mismatch", ref: "auth.claims contains (exact)",
			path: "/contains", payload: claim("groups", `["Admins"]`), status: 403, reason: "claim_mismatch"},
		{name: "contains: groups [\"admins \"] is claim_mismatch", ref: "auth.claims contains (exact)",
			path: "/contains", payload: claim("groups", `["admins "]`), status: 403, reason: "claim_mismatch"},
		{name: "contains: groups [[\"admins\"]] (nested) is claim_mismatch", ref: "auth.claims contains (one level)",
			path: "/contains", payload: claim("groups", `[["admins"]]`), status: 403, reason: "claim_mismatch"},
		{name: "contains: groups [{\"admins\":true}] is claim_mismatch", ref: "auth.claims contains",
			path: "/contains", payload: claim("groups", `[{"admins":true}]`), status: 403, reason: "claim_mismatch"},
		{name: "contains: groups {\"admins\":true} (an object) is claim_mismatch", ref: "auth.claims contains",
			path: "/contains", payload: claim("groups", `{"admins":true}`), status: 403, reason: "claim_mismatch"},
		{name: "contains: groups [] is claim_mismatch", ref: "auth.claims contains",
			path: "/contains", payload: claim("groups", `[]`), status: 403, reason: "claim_mismatch"},

		// contains_any [a, 7]: an array holding at least one.
		{name: "contains_any: roles [\"x\",\"a\"] is accepted", ref: "auth.claims contains_any",
			path: "/contains-any", payload: claim("roles", `["x","a"]`), status: 200},
		{name: "contains_any: roles [7] is accepted", ref: "auth.claims contains_any",
			path: "/contains-any", payload: claim("roles", `[7]`), status: 200},
		{name: "contains_any: roles [\"7\"] (a string) is claim_mismatch", ref: "auth.claims contains_any (type must match)",
			path: "/contains-any", payload: claim("roles", `["7"]`), status: 403, reason: "claim_mismatch"},
		{name: "contains_any: roles [\"x\",\"y\"] is claim_mismatch", ref: "auth.claims contains_any",
			path: "/contains-any", payload: claim("roles", `["x","y"]`), status: 403, reason: "claim_mismatch"},
		{name: "contains_any: roles \"a\" (not an array) is claim_mismatch", ref: "auth.claims contains_any (CWE-843)",
			path: "/contains-any", payload: claim("roles", `"a"`), status: 403, reason: "claim_mismatch"},
		{name: "contains_any: roles [[\"a\",7]] (nested) is claim_mismatch", ref: "auth.claims contains_any (one level)",
			path: "/contains-any", payload: claim("roles", `[["a",7]]`), status: 403, reason: "claim_mismatch"},

		// contains_all [read, 5]: an array holding every one.
		{name: "contains_all: perms [\"read\",5] is accepted", ref: "auth.claims contains_all",
			path: "/contains-all", payload: claim("perms", `["read",5]`), status: 200},
		{name: "contains_all: perms [5.0,\"x\",\"read\"] is accepted", ref: "auth.claims contains_all; RFC 8259 §6",
			path: "/contains-all", payload: claim("perms", `[5.0,"x","read"]`), status: 200},
		{name: "contains_all: perms [\"read\"] (one of two) is claim_mismatch", ref: "auth.claims contains_all",
			path: "/contains-all", payload: claim("perms", `["read"]`), status: 403, reason: "claim_mismatch"},
		{name: "contains_all: perms [\"read\",\"5\"] (a string) is claim_mismatch", ref: "auth.claims contains_all (type must match)",
			path: "/contains-all", payload: claim("perms", `["read","5"]`), status: 403, reason: "claim_mismatch"},
		{name: "contains_all: perms [[\"read\",5]] (nested) is claim_mismatch", ref: "auth.claims contains_all (one level)",
			path: "/contains-all", payload: claim("perms", `[["read",5]]`), status: 403, reason: "claim_mismatch"},
		{name: "contains_all: perms {\"read\":5} (an object) is claim_mismatch", ref: "auth.claims contains_all",
			path: "/contains-all", payload: claim("perms", `{"read":5}`), status: 403, reason: "claim_mismatch"},
		{name: "contains_all: perms \"read\" (not an array) is claim_mismatch", ref: "auth.claims contains_all",
			path: "/contains-all", payload: claim("perms", `"read"`), status: 403, reason: "claim_mismatch"},

		{name: "a null sub is missing_claim", ref: "required_claims",
			payload: func(iss string, now int64) string {
				return obj(`"iss":"`+iss+`"`, `"aud":"orders-api"`, `"sub":null`, `"scope":"orders:read"`, `"exp":`+itoa(now+600))
			},
			status: 401, reason: "missing_claim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ref == "" {
				t.Fatal("every case names the RFC section or setting it covers")
			}
			tc.run(t, tg)
		})
	}
}

func (tc claimCase) run(t *testing.T, tg *target) {
	t.Helper()
	path, method := tc.path, tc.method
	if path == "" {
		path = "/orders/1"
	}
	if method == "" {
		method = http.MethodGet
	}
	issuerURL := tg.corp.URL()
	key := tg.ed
	if path == "/slash" {
		issuerURL, key = tg.slash.URL(), tg.sk
	}
	issuer := tc.issuer
	if issuer == "" {
		issuer = "corp"
	}
	for attempt := 0; ; attempt++ {
		before := time.Now().Unix()
		req := request(path, bearer(forge(key, header("alg", string(key.Alg), "kid", key.KID), tc.payload(issuerURL, before))))
		req.Method = method
		if tc.timed {
			// Judge the case only if it was decided in the second the token
			// was made for; otherwise the clock, not the gateway, decided.
			// The clock check comes first, so allowed and refused cannot be
			// used; this checks what they check of the outcome.
			refusal := tc.status != http.StatusOK
			if refusal && tc.reason == "" {
				t.Fatal("a refusal must name the reason it is counted under")
			}
			up, failed := tg.up.Count(), 0.0
			if refusal {
				failed = tg.failures(issuer, tc.reason)
			}
			res := tg.do(req)
			if time.Now().Unix() != before {
				if attempt < 5 {
					continue
				}
				t.Fatal("the clock ticked during every attempt")
			}
			if res.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", res.status, tc.status, res.body)
			}
			want := 1
			if refusal {
				want = 0
			}
			if n := tg.up.Count() - up; n != want {
				t.Errorf("the upstream received %d requests, want %d", n, want)
			}
			if refusal && tg.failures(issuer, tc.reason) != failed+1 {
				t.Errorf("portcullis_auth_failures_total{issuer=%q,reason=%q} was not counted", issuer, tc.reason)
			}
			return
		}
		if tc.status == http.StatusOK {
			tg.allowed(t, req)
		} else {
			tg.refused(t, req, tc.status, issuer, tc.reason)
		}
		return
	}
}

// TestNumericDatesAreNumbers: exp is a JSON number of seconds since 1970
// (RFC 7519 §2, §4.1.4). jwx treats an exp that truncates to 0 as absent,
// while required_claims sees it present, so {"exp": 0} passes both checks
// and the token never expires; jwx also reads a NumericDate written as a
// string. An identity provider that emits such a token is broken, but a
// gateway must not turn that into a token that lives forever.
func TestNumericDatesAreNumbers(t *testing.T) {
	tg := newTarget(t)
	for _, tc := range []claimCase{
		{name: "exp 0 is expired", ref: "RFC 7519 §4.1.4", payload: expAs(`0`), status: 401, reason: "expired"},
		{name: "exp 0.5 is expired", ref: "RFC 7519 §4.1.4", payload: expAs(`0.5`), status: 401, reason: "expired"},
		{name: "exp as a string is malformed", ref: "RFC 7519 §2 (NumericDate)",
			payload: func(iss string, now int64) string { return expAs(`"`+itoa(now+600)+`"`)(iss, now) },
			status:  401, reason: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tg) })
	}
}

func expAs(v string) func(string, int64) string {
	return func(iss string, now int64) string {
		return `{"iss":"` + iss + `","aud":"orders-api","sub":"alice","scope":"orders:read","exp":` + v + `}`
	}
}
