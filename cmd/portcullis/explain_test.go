package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// runExplain runs `portcullis explain args...`, fails the test unless it
// exits wantCode, and checks that its stdout holds every string of
// contains and none of absent. It returns stdout and stderr for the
// caller's own checks.
func runExplain(t *testing.T, wantCode int, contains, absent []string, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := runCommand(t, nil, append([]string{"explain"}, args...)...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, stdout, stderr)
	}
	for _, want := range contains {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, bad := range absent {
		if strings.Contains(stdout, bad) {
			t.Errorf("output has %q:\n%s", bad, stdout)
		}
	}
	return stdout, stderr
}

// TestExplain runs `portcullis explain` against a configuration whose
// issuer is a live IdP on loopback, as a policy check in a script would.
func TestExplain(t *testing.T) {
	t.Parallel()
	idp, keys := newIssuer(t, "k1")
	cfg := gatewaytest.WriteFile(t, "portcullis.yaml",
		gatewayConfig([]testIssuer{{name: "corp", idp: idp, source: viaJWKSURI}}, "http://127.0.0.1:9", "1s")("127.0.0.1:0", "127.0.0.1:0"))
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, tokentest.JWKS(keys[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	claims := tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read", time.Hour)
	good := keys[0].Sign(claims)
	noScope := keys[0].Sign(claims.With("scope", "profile"))
	forged := tokentest.RSA("k1", 2048).Sign(claims)
	tokFile := gatewaytest.WriteFile(t, "token", good+"\n")

	cases := []struct {
		name     string
		args     []string
		code     int
		contains []string
		absent   []string
		stderr   string // on a usage error, what stderr says
	}{
		{name: "an allowed request exits 0 and shows the upstream's headers",
			args: []string{"-token", good, "-H", "X-User-Id: mallory", "GET", "http://api.example.com/orders/7?x=1"},
			code: 0, contains: []string{"route     orders", "pass  signature        verified", "ALLOWED", "/orders/7?x=1", "X-User-Id: alice", "X-Forwarded-Host: api.example.com"},
			absent: []string{"mallory"}},
		{name: "the token can come from a file",
			args: []string{"-config", cfg, "GET", "http://api.example.com/orders", "-token", "@" + tokFile}, code: 0,
			contains: []string{"ALLOWED"}},
		{name: "a missing scope exits 1 and names it",
			args: []string{"-token", noScope, "GET", "http://api.example.com/orders/7"},
			code: 1, contains: []string{"FAIL  scopes", "missing [orders:read]", "REFUSED: 403", `error="insufficient_scope"`}},
		{name: "a forged signature fails at the signature check",
			args: []string{"-token", forged, "GET", "http://api.example.com/orders/7"},
			code: 1, contains: []string{"FAIL  signature", "bad_signature", "REFUSED: 401"}},
		{name: "-no-verify lets the forgery through and says so",
			args: []string{"-no-verify", "-token", forged, "GET", "http://api.example.com/orders/7"},
			code: 0, contains: []string{"WARNING   -no-verify", "NOT CHECKED", "ALLOWED"}},
		{name: "-jwks reads keys offline",
			args: []string{"-jwks", jwksFile, "-token", good, "GET", "http://api.example.com/orders/7"},
			code: 0, contains: []string{"pass  signature        verified", "ALLOWED"}},
		{name: "no route explains each route's mismatch",
			args: []string{"GET", "http://api.example.com/nowhere"},
			code: 1, contains: []string{"route     none", "route orders (line", "path does not match", "REFUSED: 404"}},
		{name: "CONNECT is refused before routing with 405",
			args: []string{"-token", good, "CONNECT", "http://api.example.com/orders/7"},
			code: 1, contains: []string{"FAIL  method", "CONNECT asks for a tunnel", "REFUSED: 405", "method_not_allowed"}},
		{name: "an h2c upgrade is shown removed, and the upstream's headers lack it",
			args: []string{"-token", good, "-H", "Connection: Upgrade, HTTP2-Settings", "-H", "Upgrade: h2c", "-H", "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA", "GET", "http://api.example.com/orders/7"},
			code: 0, contains: []string{"pass  upgrade", `Upgrade ["h2c"] and HTTP2-Settings removed`, "ALLOWED"},
			absent: []string{"Upgrade: h2c", "Http2-Settings:"}},
		{name: "a lower-case method is explained as served: 405, never upper-cased",
			args: []string{"-token", good, "get", "http://api.example.com/orders/7"},
			code: 1, contains: []string{"request   get http://api.example.com/orders/7", "FAIL  method", "lower-case", "REFUSED: 405"},
			absent: []string{"ALLOWED"}},
		{name: "a METHOD that is no HTTP token is a usage error that says so",
			args: []string{"GE T", "http://api.example.com/orders/7"}, code: 2,
			stderr: `"GE T" is not an HTTP method`},
		{name: "METHOD and URL are required",
			args: []string{"GET"}, code: 2},
		{name: "-jwks and -no-verify exclude each other",
			args: []string{"-jwks", jwksFile, "-no-verify", "GET", "http://api.example.com/orders"}, code: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !containsArg(tc.args, "-config") {
				args = append([]string{"-config", cfg}, tc.args...)
			}
			_, stderr := runExplain(t, tc.code, tc.contains, tc.absent, args...)
			// A refusal is the answer, printed on stdout; it is not an
			// error of the command, so nothing is added on stderr.
			if tc.code != 2 && stderr != "" {
				t.Errorf("stderr is not empty:\n%s", stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr does not say %q:\n%s", tc.stderr, stderr)
			}
		})
	}

	t.Run("-json is machine-readable", func(t *testing.T) {
		code, stdout, _ := runCommand(t, nil, "explain", "-config", cfg, "-json", "-token", good, "GET", "http://api.example.com/orders/7")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		var ex struct {
			Allowed bool
			Route   string
			Checks  []struct {
				Stage string
				OK    bool
			}
			Upstream struct {
				URL    string
				Header map[string][]string
			}
		}
		if err := json.Unmarshal([]byte(stdout), &ex); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, stdout)
		}
		if _, ok := ex.Upstream.Header["User-Agent"]; ok {
			t.Errorf("explain shows a User-Agent the upstream would not get: %q", ex.Upstream.Header["User-Agent"])
		}
		if !ex.Allowed || ex.Route != "orders" || ex.Upstream.Header["X-User-Id"][0] != "alice" || !strings.HasSuffix(ex.Upstream.URL, "/orders/7") {
			t.Errorf("explanation = %+v", ex)
		}
		for _, c := range ex.Checks {
			if !c.OK {
				t.Errorf("check %s failed on an allowed request", c.Stage)
			}
		}
	})
}

func containsArg(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestExplainClaimChecks: explain shows each claim check with its operator
// and both values as JSON (so "5" is told from 5), and when the claim has
// the other shape, says so: a plain value never equals an array (the
// lenient meaning the plain form had before), one_of never passes one, and
// the array operators never pass a single value.
func TestExplainClaimChecks(t *testing.T) {
	t.Parallel()
	idp, keys := newIssuer(t, "k1")
	cfg := gatewaytest.WriteFile(t, "portcullis.yaml", fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:0"
issuers:
  - name: corp
    issuer: %q
    jwks_uri: %q
    audiences: ["orders-api"]
    algorithms: ["RS256"]
routes:
  - name: tenant
    match: {path_prefix: /tenant}
    upstream: "http://127.0.0.1:9"
    auth: {claims: {tenant: acme}}
  - name: region
    match: {path_prefix: /region}
    upstream: "http://127.0.0.1:9"
    auth: {claims: {region: {one_of: [eu, 5]}}}
  - name: groups
    match: {path_prefix: /groups}
    upstream: "http://127.0.0.1:9"
    auth: {claims: {groups: {contains: admins}}}
  - name: perms
    match: {path_prefix: /perms}
    upstream: "http://127.0.0.1:9"
    auth: {claims: {perms: {contains_all: [read, write]}, roles: {contains_any: [a, b]}}}
`, idp.URL(), idp.JWKSURL()))
	with := func(name string, v any) string {
		return keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "alice", "", time.Hour).With(name, v))
	}
	cases := []struct {
		name     string
		token    string
		path     string
		code     int
		contains []string
		absent   []string
	}{
		{name: "a plain value that met an array says that contains was probably meant",
			token: with("tenant", []string{"acme", "other"}), path: "/tenant", code: 1,
			contains: []string{`FAIL  claim tenant     want "acme", token has ["acme","other"] (an array never equals a value: {contains: "acme"} is probably what was meant)`, "REFUSED: 403"}},
		{name: "an array of the one value is refused the same way",
			token: with("tenant", []string{"acme"}), path: "/tenant", code: 1,
			contains: []string{`token has ["acme"] (an array never equals a value: {contains: "acme"}`}},
		{name: "the equal value passes, without a hint",
			token: with("tenant", "acme"), path: "/tenant", code: 0,
			contains: []string{`pass  claim tenant     want "acme", token has "acme"`, "ALLOWED"}, absent: []string{"probably"}},
		{name: "a number where a string is wanted shows both types, without a hint",
			token: with("tenant", 5), path: "/tenant", code: 1,
			contains: []string{`want "acme", token has 5`}, absent: []string{"probably"}},
		{name: "an absent claim is said to be absent",
			token: with("other", 1), path: "/tenant", code: 1,
			contains: []string{`want "acme", token has absent`}, absent: []string{"probably"}},
		{name: "one_of against an array points at contains_any",
			token: with("region", []string{"eu"}), path: "/region", code: 1,
			contains: []string{`want one of ["eu",5], token has ["eu"] (one_of passes only a claim that is a single value, never an array: {contains_any: ["eu",5]} is probably what was meant)`}},
		{name: "one_of tells the string \"5\" from the number 5",
			token: with("region", "5"), path: "/region", code: 1,
			contains: []string{`want one of ["eu",5], token has "5"`}, absent: []string{"probably"}},
		{name: "contains against a single value says it checks an array",
			token: with("groups", "admins"), path: "/groups", code: 1,
			contains: []string{`want an array containing "admins", token has "admins" (contains checks an array claim; for a claim that is a single value, write the value plainly, or use one_of)`}},
		{name: "contains against an object says so",
			token: with("groups", map[string]any{"admins": true}), path: "/groups", code: 1,
			contains: []string{`(contains checks an array claim; this one is an object)`}},
		{name: "contains passes an array holding the value",
			token: with("groups", []string{"users", "admins"}), path: "/groups", code: 0,
			contains: []string{`pass  claim groups     want an array containing "admins", token has ["users","admins"]`}},
		{name: "contains_all short of one value fails without a hint, and the checks run in path order",
			token: keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "alice", "", time.Hour).With("perms", []string{"read"}, "roles", []string{"b"})),
			path:  "/perms", code: 1,
			contains: []string{`FAIL  claim perms      want an array containing all of ["read","write"], token has ["read"]`},
			absent:   []string{"probably", "claim roles"}},
		{name: "contains_any passes with one of its values",
			token: keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "alice", "", time.Hour).With("perms", []string{"write", "read"}, "roles", []string{"b"})),
			path:  "/perms", code: 0,
			contains: []string{`pass  claim perms`, `pass  claim roles      want an array containing any of ["a","b"], token has ["b"]`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runExplain(t, tc.code, tc.contains, tc.absent, "-config", cfg, "-token", tc.token, "GET", "http://api.example.com"+tc.path)
		})
	}
}
