package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// auditConfig renders a gateway whose defaults put routes in audit mode
// and in the protected resource "api" (identified by the proxy's loopback
// URL): "audited" (/audited) leaves enforce out and so only records what it
// would refuse; "enforced" (/enforced) says enforce: true. Both require
// orders:read and forward sub and scope as claim headers.
func auditConfig(idp *tokentest.Issuer, upstream string) func(listen, admin string) string {
	return func(listen, admin string) string {
		route := func(name, extra string) string {
			return fmt.Sprintf(`  - name: %s
    match: {path_prefix: /%s}
    upstream: %q
    auth:
%s      scopes: {all_of: ["orders:read"]}
    forward:
      claims_to_headers:
        X-User-Id: sub
        X-User-Scopes: scope
`, name, name, upstream, extra)
		}
		return featureHead(listen, admin) + "issuers:\n" + corpIssuer(idp) + fmt.Sprintf(`    required_claims: ["sub", "exp"]
resources:
  - name: api
    resource: "http://%s/enforced"
defaults:
  enforce: false
  resource: api
routes:
`, listen) + route("audited", "") + route("enforced", "      enforce: true\n")
	}
}

// TestAuditMode drives `portcullis serve` with a route in audit mode
// (defaults.enforce: false) beside an enforced one: what the audited route
// would refuse is forwarded without claim headers, counted with
// mode="audit" and logged with its reason; the enforced route still
// refuses.
func TestAuditMode(t *testing.T) {
	t.Parallel()
	idp, keys := newIssuer(t, "k1")
	upstream := gatewaytest.NewUpstream(t)
	g := startGateway(t, auditConfig(idp, upstream.URL))
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)

	claims := tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read profile", time.Hour)
	valid := keys[0].Sign(claims)
	noScope := keys[0].Sign(claims.With("scope", "profile"))
	forged := tokentest.RSA("k1", 2048).Sign(claims) // the right kid, another key
	spoof := map[string]string{"X-User-Id": "mallory", "X-User-Scopes": "orders:admin", "X_User_Id": "mallory"}

	// forwarded sends a request that must reach the upstream, and returns
	// the response and the headers the upstream got.
	forwarded := func(t *testing.T, path string, headers map[string]string) (*response, http.Header) {
		t.Helper()
		before := upstream.Count()
		res := do(t, http.MethodGet, g.URL(path), headers)
		if res.StatusCode != http.StatusOK || res.Header.Get(gatewaytest.EchoHeader) != "1" {
			t.Fatalf("GET %s: status %d (echo %q), want 200 from the upstream: %s", path, res.StatusCode, res.Header.Get(gatewaytest.EchoHeader), res.body)
		}
		if n := upstream.Count(); n != before+1 {
			t.Fatalf("GET %s: the upstream received %d requests, want 1", path, n-before)
		}
		if v := res.Header.Values("WWW-Authenticate"); len(v) != 0 {
			t.Errorf("GET %s: a forwarded request carries WWW-Authenticate %q", path, v)
		}
		return res, upstream.Last().Header
	}
	noClaimHeaders := func(t *testing.T, h http.Header) {
		t.Helper()
		for _, name := range []string{"X-User-Id", "X-User-Scopes", "X_user_id", "X_User_Id"} {
			if v, ok := h[http.CanonicalHeaderKey(name)]; ok {
				t.Errorf("the upstream got %s %q: no claim header may come from a refused token or from the client", name, v)
			}
		}
	}

	t.Run("audit: a valid token is forwarded with its claim headers, the client's replaced", func(t *testing.T) {
		res, h := forwarded(t, "/audited/1", withHeaders(spoof, bearer(valid)))
		if got := h.Values("X-User-Id"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("upstream X-User-Id = %q, want [alice]", got)
		}
		if got := h.Values("X-User-Scopes"); len(got) != 1 || got[0] != "orders:read profile" {
			t.Errorf("upstream X-User-Scopes = %q, want [orders:read profile]", got)
		}
		if _, ok := h["X_user_id"]; ok {
			t.Errorf("upstream got the underscore spelling X_User_Id: %v", h)
		}
		checkFields(t, accessLine(t, g, res), map[string]any{
			"route": "audited", "status": 200.0, "decision": "allowed", "reason": "", "mode": "audit", "issuer": "corp"})
	})
	t.Run("audit: no token is forwarded without claim headers, logged as missing", func(t *testing.T) {
		res, h := forwarded(t, "/audited/2", spoof)
		noClaimHeaders(t, h)
		checkFields(t, accessLine(t, g, res), map[string]any{
			"route": "audited", "status": 200.0, "decision": "unauthenticated", "reason": "missing", "mode": "audit"})
	})
	t.Run("audit: a forged token is forwarded without claim headers, logged as bad_signature", func(t *testing.T) {
		res, h := forwarded(t, "/audited/3", withHeaders(spoof, bearer(forged)))
		noClaimHeaders(t, h)
		checkFields(t, accessLine(t, g, res), map[string]any{
			"route": "audited", "status": 200.0, "decision": "unauthenticated", "reason": "bad_signature", "mode": "audit"})
	})
	t.Run("audit: a token without the scope is forwarded without claim headers, logged as insufficient_scope", func(t *testing.T) {
		res, h := forwarded(t, "/audited/4", withHeaders(spoof, bearer(noScope)))
		noClaimHeaders(t, h)
		checkFields(t, accessLine(t, g, res), map[string]any{
			"route": "audited", "status": 200.0, "decision": "forbidden", "reason": "insufficient_scope", "mode": "audit"})
	})

	t.Run("enforced beside it: no token is 401 and nothing is forwarded", func(t *testing.T) {
		before := upstream.Count()
		res := do(t, http.MethodGet, g.URL("/enforced/1"), spoof)
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401: %s", res.StatusCode, res.body)
		}
		// defaults.resource names the resource of both routes.
		ch := onlyChallenge(t, res)
		if want := "http://" + g.Listen + wellKnown + "/enforced"; ch.Scheme != "Bearer" || ch.Params["realm"] != "portcullis" ||
			ch.Params["error"] != "" || ch.Params["resource_metadata"] != want || len(ch.Params) != 2 {
			t.Errorf(`WWW-Authenticate = %q, want Bearer realm="portcullis", resource_metadata=%q`, res.Header.Get("WWW-Authenticate"), want)
		}
		if n := upstream.Count(); n != before {
			t.Errorf("the upstream received %d requests, want none", n-before)
		}
		entry := accessLine(t, g, res)
		checkFields(t, entry, map[string]any{"route": "enforced", "status": 401.0, "decision": "unauthenticated", "reason": "missing"})
		if m, ok := entry["mode"]; ok && m != "enforce" {
			t.Errorf(`access log of an enforced route: mode = %v, want absent or "enforce"`, m)
		}
	})
	t.Run("enforced beside it: a token without the scope is 403", func(t *testing.T) {
		res := do(t, http.MethodGet, g.URL("/enforced/2"), bearer(noScope))
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403: %s", res.StatusCode, res.body)
		}
		ch := onlyChallenge(t, res)
		if want := "http://" + g.Listen + wellKnown + "/enforced"; ch.Params["error"] != "insufficient_scope" || ch.Params["resource_metadata"] != want {
			t.Errorf("WWW-Authenticate = %q, want insufficient_scope with resource_metadata=%q", res.Header.Get("WWW-Authenticate"), want)
		}
	})
	t.Run("enforced beside it: a valid token is forwarded with its claim headers", func(t *testing.T) {
		_, h := forwarded(t, "/enforced/3", withHeaders(spoof, bearer(valid)))
		if got := h.Values("X-User-Id"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("upstream X-User-Id = %q, want [alice]", got)
		}
	})

	t.Run("metrics count every decision under its mode, and every refused token's reason", func(t *testing.T) {
		checkSeries(t, g, "portcullis_auth_decisions_total", map[string]float64{
			labels("route", "audited", "decision", "allowed", "mode", "audit", "via", "proxy"):            1,
			labels("route", "audited", "decision", "unauthenticated", "mode", "audit", "via", "proxy"):    2,
			labels("route", "audited", "decision", "forbidden", "mode", "audit", "via", "proxy"):          1,
			labels("route", "enforced", "decision", "unauthenticated", "mode", "enforce", "via", "proxy"): 1,
			labels("route", "enforced", "decision", "forbidden", "mode", "enforce", "via", "proxy"):       1,
			labels("route", "enforced", "decision", "allowed", "mode", "enforce", "via", "proxy"):         1,
		})
		checkSeries(t, g, "portcullis_auth_failures_total", map[string]float64{
			labels("issuer", "unknown", "reason", "missing"):         2,
			labels("issuer", "corp", "reason", "bad_signature"):      1,
			labels("issuer", "corp", "reason", "insufficient_scope"): 2,
		})
		checkSeries(t, g, "portcullis_requests_total", map[string]float64{
			labels("route", "audited", "method", "GET", "code", "200", "via", "proxy"):  4,
			labels("route", "enforced", "method", "GET", "code", "200", "via", "proxy"): 1,
			labels("route", "enforced", "method", "GET", "code", "401", "via", "proxy"): 1,
			labels("route", "enforced", "method", "GET", "code", "403", "via", "proxy"): 1,
		})
	})
	t.Run("the log is JSON and holds no token", func(t *testing.T) {
		checkJSONLog(t, g.Stderr(), valid, noScope, forged)
		checkNoSecret(t, "stdout", g.Stdout(), valid, noScope, forged)
	})
}

// TestExplainAudit: portcullis explain shows an audited route's refusal as
// what it is, a refusal recorded and forwarded anyway, and exits 0 because
// the request is forwarded.
func TestExplainAudit(t *testing.T) {
	t.Parallel()
	idp, keys := newIssuer(t, "k1")
	cfg := gatewaytest.WriteFile(t, "portcullis.yaml", auditConfig(idp, "http://127.0.0.1:9")("127.0.0.1:8080", "127.0.0.1:9090"))
	claims := tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read", time.Hour)
	noScopeFile := gatewaytest.WriteFile(t, "no-scope.token", keys[0].Sign(claims.With("scope", "profile"))+"\n")
	line := func(mark, stage, detail string) string { return fmt.Sprintf("%s  %-16s %s", mark, stage, detail) }

	cases := []struct {
		name     string
		args     []string
		code     int
		contains []string
		absent   []string
	}{
		{name: "no token on an audited route: the bearer check fails, the audit line says it is forwarded, exit 0",
			args: []string{"-H", "X-User-Id: mallory", "GET", "http://api.example.com/audited/1"},
			code: 0,
			contains: []string{
				"route     audited",
				line("pass", "route", "audited (auth mode required; AUDIT: a refusal is recorded, and the request forwarded anyway without claim headers)"),
				line("FAIL", "bearer", "none: the route requires a token"),
				line("pass", "audit", "would be refused (unauthenticated); forwarded because the route is in audit mode"),
				"ALLOWED: forwarded as GET",
			},
			absent: []string{"mallory", "X-User-Id:"}},
		{name: "a token without the scope on an audited route: the scope check fails, forwarded without claim headers",
			args: []string{"-token", "@" + noScopeFile, "GET", "http://api.example.com/audited/1"},
			code: 0,
			contains: []string{
				"FAIL  scopes",
				line("pass", "audit", "would be refused (forbidden); forwarded because the route is in audit mode"),
				"ALLOWED",
			},
			absent: []string{"X-User-Id:", "X-User-Scopes:"}},
		{name: "no token on the enforced route is refused, exit 1, with no audit line",
			args: []string{"GET", "http://api.example.com/enforced/1"},
			code: 1, contains: []string{line("pass", "route", "enforced (auth mode required; enforced)"), "REFUSED: 401",
				`WWW-Authenticate: Bearer realm="portcullis", resource_metadata="http://127.0.0.1:8080/.well-known/oauth-protected-resource/enforced"`},
			absent: []string{"AUDIT", "would be refused"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runExplain(t, tc.code, tc.contains, tc.absent, append([]string{"-config", cfg}, tc.args...)...)
		})
	}
}
