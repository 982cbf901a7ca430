package proxy_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

const realm = `Bearer realm="portcullis"`

func invalidToken(desc string) string {
	return realm + `, error="invalid_token", error_description="` + desc + `"`
}

// TestRefusals covers every status code and reason of the contract: each
// refused request must get its status, challenge and JSON body, must be
// counted under its reason, and must never reach the upstream.
func TestRefusals(t *testing.T) {
	f := newFixture(t)
	other := tokentest.RSA("rsa-1", 2048) // same kid as the real key, other key
	now := time.Now()
	good := f.claims("orders:read")
	goodJSON, _ := json.Marshal(good)
	hs := tokentest.Compact(`{"alg":"HS256","typ":"JWT","kid":"rsa-1"}`, string(goodJSON), []byte("sig"))

	cases := []struct {
		name     string
		auth     []string // Authorization header values
		path     string
		status   int
		reason   string
		issuer   string
		wwwAuth  string
		errorKey string
	}{
		{name: "no token on a required route is 401 with a bare challenge",
			path: "/orders/1", status: 401, reason: "missing", issuer: "unknown", wwwAuth: realm, errorKey: "unauthorized"},
		{name: "a Basic credential is no bearer token",
			auth: []string{"Basic YWxpY2U6c2VjcmV0"}, path: "/orders/1", status: 401, reason: "missing", issuer: "unknown", wwwAuth: realm, errorKey: "unauthorized"},
		{name: "a token with two segments is malformed",
			auth: []string{"Bearer abc.def"}, path: "/orders/1", status: 401, reason: "malformed", issuer: "unknown",
			wwwAuth: invalidToken("the token is malformed"), errorKey: "invalid_token"},
		{name: "a token with four segments is malformed",
			auth: []string{"Bearer a.b.c.d"}, path: "/orders/1", status: 401, reason: "malformed", issuer: "unknown",
			wwwAuth: invalidToken("the token is malformed"), errorKey: "invalid_token"},
		{name: "an Authorization header over 8 KiB is malformed",
			auth: []string{"Bearer " + strings.Repeat("a", 9000)}, path: "/orders/1", status: 401, reason: "malformed", issuer: "unknown",
			wwwAuth: invalidToken("the token is malformed"), errorKey: "invalid_token"},
		{name: "two Authorization headers are malformed",
			auth: []string{"Bearer " + f.rsa.Sign(good), "Bearer " + f.rsa.Sign(good)}, path: "/orders/1", status: 401, reason: "malformed", issuer: "unknown",
			wwwAuth: invalidToken("the token is malformed"), errorKey: "invalid_token"},
		{name: "an empty bearer token is malformed",
			auth: []string{"Bearer "}, path: "/orders/1", status: 401, reason: "malformed", issuer: "unknown",
			wwwAuth: invalidToken("the token is malformed"), errorKey: "invalid_token"},
		{name: "a payload that is not JSON is malformed",
			auth: []string{"Bearer " + f.rsa.SignPayload([]byte("not json"))}, path: "/orders/1", status: 401, reason: "malformed", issuer: "unknown",
			wwwAuth: invalidToken("the token is malformed"), errorKey: "invalid_token"},
		{name: "a signature by another key with a known kid is bad_signature",
			auth: []string{"Bearer " + other.Sign(good)}, path: "/orders/1", status: 401, reason: "bad_signature", issuer: "corp",
			wwwAuth: invalidToken("the token signature is invalid"), errorKey: "invalid_token"},
		{name: "a kid that is not in the key set is unknown_key",
			auth: []string{"Bearer " + tokentest.RSA("nobody", 2048).Sign(good)}, path: "/orders/1", status: 401, reason: "unknown_key", issuer: "corp",
			wwwAuth: invalidToken("the token is signed by an unknown key"), errorKey: "invalid_token"},
		{name: "an algorithm off the allow-list is bad_algorithm",
			auth: []string{"Bearer " + f.rsa.WithAlg("PS256").Sign(good)}, path: "/orders/1", status: 401, reason: "bad_algorithm", issuer: "corp",
			wwwAuth: invalidToken("the token's signing algorithm is not accepted"), errorKey: "invalid_token"},
		{name: "HS256 with a kid of an RSA key is bad_algorithm",
			auth: []string{"Bearer " + hs}, path: "/orders/1", status: 401, reason: "bad_algorithm", issuer: "corp",
			wwwAuth: invalidToken("the token's signing algorithm is not accepted"), errorKey: "invalid_token"},
		{name: "an expired token is expired",
			auth: []string{"Bearer " + f.rsa.Sign(good.With("exp", now.Add(-time.Minute).Unix()))}, path: "/orders/1", status: 401, reason: "expired", issuer: "corp",
			wwwAuth: invalidToken("the token has expired"), errorKey: "invalid_token"},
		{name: "a token whose nbf is ahead is not_yet_valid",
			auth: []string{"Bearer " + f.rsa.Sign(good.With("nbf", now.Add(time.Hour).Unix()))}, path: "/orders/1", status: 401, reason: "not_yet_valid", issuer: "corp",
			wwwAuth: invalidToken("the token is not valid yet"), errorKey: "invalid_token"},
		{name: "a token issued in the future is not_yet_valid",
			auth: []string{"Bearer " + f.rsa.Sign(good.With("iat", now.Add(time.Hour).Unix()))}, path: "/orders/1", status: 401, reason: "not_yet_valid", issuer: "corp",
			wwwAuth: invalidToken("the token is not valid yet"), errorKey: "invalid_token"},
		{name: "an unknown iss is bad_issuer",
			auth: []string{"Bearer " + f.rsa.Sign(good.With("iss", "https://evil.example/"))}, path: "/orders/1", status: 401, reason: "bad_issuer", issuer: "unknown",
			wwwAuth: invalidToken("the token's issuer is not accepted"), errorKey: "invalid_token"},
		{name: "an iss with a trailing slash added is bad_issuer",
			auth: []string{"Bearer " + f.rsa.Sign(good.With("iss", f.issuer.URL()+"/"))}, path: "/orders/1", status: 401, reason: "bad_issuer", issuer: "unknown",
			wwwAuth: invalidToken("the token's issuer is not accepted"), errorKey: "invalid_token"},
		{name: "a configured issuer the route does not accept is bad_issuer",
			auth: []string{"Bearer " + f.rsa.Sign(good)}, path: "/partner", status: 401, reason: "bad_issuer", issuer: "corp",
			wwwAuth: invalidToken("the token's issuer is not accepted"), errorKey: "invalid_token"},
		{name: "a token for another audience is bad_audience",
			auth: []string{"Bearer " + f.rsa.Sign(good.With("aud", "billing-api"))}, path: "/orders/1", status: 401, reason: "bad_audience", issuer: "corp",
			wwwAuth: invalidToken("the token's audience is not accepted"), errorKey: "invalid_token"},
		{name: "a token without aud is bad_audience",
			auth: []string{"Bearer " + f.rsa.Sign(good.With("aud", nil))}, path: "/orders/1", status: 401, reason: "bad_audience", issuer: "corp",
			wwwAuth: invalidToken("the token's audience is not accepted"), errorKey: "invalid_token"},
		{name: "a token without sub is missing_claim",
			auth: []string{"Bearer " + f.rsa.Sign(good.With("sub", nil))}, path: "/orders/1", status: 401, reason: "missing_claim", issuer: "corp",
			wwwAuth: invalidToken("the token lacks a required claim"), errorKey: "invalid_token"},
		{name: "a token without the scope is 403 insufficient_scope",
			auth: []string{"Bearer " + f.rsa.Sign(f.claims("orders:write"))}, path: "/orders/1", status: 403, reason: "insufficient_scope", issuer: "corp",
			wwwAuth: realm + `, error="insufficient_scope", error_description="the token lacks a required scope", scope="orders:read"`, errorKey: "insufficient_scope"},
		{name: "a scope that only starts with the required one is not it",
			auth: []string{"Bearer " + f.rsa.Sign(f.claims("orders:readX"))}, path: "/orders/1", status: 403, reason: "insufficient_scope", issuer: "corp",
			wwwAuth: realm + `, error="insufficient_scope", error_description="the token lacks a required scope", scope="orders:read"`, errorKey: "insufficient_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.up.Count()
			failures := testutil.ToFloat64(f.metrics.AuthFailures.WithLabelValues(tc.issuer, tc.reason))
			req := httptest.NewRequest(http.MethodGet, "http://api.example.com"+tc.path, nil)
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			res := f.do(req)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d (body %s)", res.StatusCode, tc.status, res.body)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tc.wwwAuth {
				t.Errorf("WWW-Authenticate = %q\n                     want %q", got, tc.wwwAuth)
			}
			if res.json["error"] != tc.errorKey {
				t.Errorf("body error = %v, want %s", res.json["error"], tc.errorKey)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if f.up.Count() != before {
				t.Errorf("a refused request reached the upstream")
			}
			if got := testutil.ToFloat64(f.metrics.AuthFailures.WithLabelValues(tc.issuer, tc.reason)); got != failures+1 {
				t.Errorf("portcullis_auth_failures_total{issuer=%q,reason=%q} went from %v to %v, want +1", tc.issuer, tc.reason, failures, got)
			}
			for _, a := range tc.auth {
				tok := strings.TrimPrefix(a, "Bearer ")
				if len(tok) > 8 && strings.Contains(string(res.body)+res.Header.Get("WWW-Authenticate"), tok) {
					t.Errorf("the response echoes the token")
				}
			}
		})
	}
}

func TestAllowedForEveryKeyType(t *testing.T) {
	f := newFixture(t)
	for _, key := range []*tokentest.Key{f.rsa, f.ec, f.ed} {
		t.Run(string(key.Alg), func(t *testing.T) {
			res := f.get("/orders/42?x=1", key.Sign(f.claims("orders:read profile")))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode, res.body)
			}
			got := f.up.Last()
			if got.URL.Path != "/orders/42" || got.URL.RawQuery != "x=1" {
				t.Errorf("upstream saw %s?%s", got.URL.Path, got.URL.RawQuery)
			}
			if got.Header.Get("X-User-Id") != "alice" {
				t.Errorf("X-User-Id = %q", got.Header.Get("X-User-Id"))
			}
			if got.Header.Get("X-User-Scopes") != "orders:read profile" {
				t.Errorf("X-User-Scopes = %q", got.Header.Get("X-User-Scopes"))
			}
			if got.Header.Get("X-Forwarded-For") == "" || got.Header.Get("X-Forwarded-Host") != "api.example.com" || got.Header.Get("X-Forwarded-Proto") != "http" {
				t.Errorf("X-Forwarded-* = %q %q %q", got.Header.Get("X-Forwarded-For"), got.Header.Get("X-Forwarded-Host"), got.Header.Get("X-Forwarded-Proto"))
			}
			if got.Header.Get("Authorization") == "" {
				t.Errorf("Authorization was dropped on a route without strip_authorization")
			}
		})
	}
	if got := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("orders-read", "allowed", "enforce", "proxy")); got != 3 {
		t.Errorf("allowed decisions = %v, want 3", got)
	}
	if got := testutil.ToFloat64(f.metrics.Requests.WithLabelValues("orders-read", "GET", "200", "proxy")); got != 3 {
		t.Errorf("requests_total{orders-read,GET,200} = %v, want 3", got)
	}
}

func TestClaimMismatchIsForbidden(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodPost, "http://api.example.com/orders", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+f.rsa.Sign(f.claims("orders:write").With("tenant", "globex")))
	res := f.do(req)
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d", res.StatusCode)
	}
	if got := testutil.ToFloat64(f.metrics.AuthFailures.WithLabelValues("corp", "claim_mismatch")); got != 1 {
		t.Errorf("claim_mismatch failures = %v", got)
	}
	req = httptest.NewRequest(http.MethodPost, "http://api.example.com/orders", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+f.rsa.Sign(f.claims("orders:write").With("tenant", "acme")))
	if res := f.do(req); res.StatusCode != http.StatusOK {
		t.Fatalf("matching tenant: status %d: %s", res.StatusCode, res.body)
	}
}

func TestUnmatchedAndBadPaths(t *testing.T) {
	f := newFixture(t)
	f.cfg.Routes = f.cfg.Routes[:len(f.cfg.Routes)-1] // no catch-all
	f.build()
	res := f.get("/nowhere", "")
	if res.StatusCode != http.StatusNotFound || res.json["error"] != "not_found" {
		t.Fatalf("unmatched: %d %s", res.StatusCode, res.body)
	}
	if got := testutil.ToFloat64(f.metrics.Requests.WithLabelValues("unmatched", "GET", "404", "proxy")); got != 1 {
		t.Errorf("unmatched requests = %v", got)
	}
	for _, p := range []string{"/orders%2F1", "/orders/%00", "/orders%5c1"} {
		res := f.get(p, f.rsa.Sign(f.claims("orders:read")))
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d", p, res.StatusCode)
		}
	}
	if f.up.Count() != 0 {
		t.Errorf("upstream reached")
	}
}

// TestPathThatIsMatchedIsForwarded: a request is authorized on the cleaned
// path and that same path is what the upstream receives.
func TestPathThatIsMatchedIsForwarded(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ path, route, forwarded string }{
		{"/public/../orders/1", "orders-read", "/orders/1"},
		{"//orders/1", "orders-read", "/orders/1"},
		{"/x/%2e%2e/orders/1", "orders-read", "/orders/1"},
		{"/ordersX", "public", "/ordersX"},
		{"/api/v1/items/", "stripped", "/v1/items/"},
	} {
		// Without a token, a protected route refuses; with one, every
		// route forwards, and the route that counted the request and the
		// path the upstream got are the ones the cleaned path names.
		if res := f.get(tc.path, ""); tc.route != "public" && res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without token: %d, want 401 from route %s", tc.path, res.StatusCode, tc.route)
		}
		counted := f.metrics.Requests.WithLabelValues(tc.route, "GET", "200", "proxy")
		before := testutil.ToFloat64(counted)
		res := f.get(tc.path, f.rsa.Sign(f.claims("orders:read")))
		if res.StatusCode != 200 || f.up.Last().URL.Path != tc.forwarded {
			t.Errorf("%s: %d, forwarded %s, want 200 and %s", tc.path, res.StatusCode, f.up.Last().URL.Path, tc.forwarded)
		}
		if got := testutil.ToFloat64(counted) - before; got != 1 {
			t.Errorf("%s: route %s counted %v requests, want 1", tc.path, tc.route, got)
		}
	}
	res := f.get("/api/v1/items/", f.rsa.Sign(f.claims("")))
	if res.StatusCode != 200 {
		t.Fatalf("stripped route: %d %s", res.StatusCode, res.body)
	}
	got := f.up.Last()
	if got.URL.Path != "/v1/items/" {
		t.Errorf("strip_prefix forwarded %q", got.URL.Path)
	}
	if got.Header.Get("Authorization") != "" {
		t.Errorf("strip_authorization left the Authorization header")
	}
	res = f.get("/x/../orders/7", f.rsa.Sign(f.claims("orders:read")))
	if res.StatusCode != 200 || f.up.Last().URL.Path != "/orders/7" {
		t.Errorf("dot-dot path: %d forwarded %s", res.StatusCode, f.up.Last().URL.Path)
	}
}

// TestSpoofedClaimHeadersAreStripped on every auth mode: a client can never
// make a header the gateway sets from claims reach the upstream, in any
// spelling, repeated, or named in Connection.
func TestSpoofedClaimHeadersAreStripped(t *testing.T) {
	f := newFixture(t)
	spoof := []string{
		"X-User-Id", "root", "x-user-id", "root2", "X_User_Id", "root3", "x_uSER-id", "root4",
		"X-Tenant", "acme", "X-Public-Sub", "root", "X-User-Scopes", "admin",
		"Connection", "X-User-Id, Authorization",
	}
	check := func(name string, res *response, wantSub string) {
		t.Helper()
		if res.StatusCode != 200 {
			t.Fatalf("%s: status %d %s", name, res.StatusCode, res.body)
		}
		got := f.up.Last()
		for h, v := range got.Header {
			folded := strings.ReplaceAll(strings.ToLower(h), "_", "-")
			switch folded {
			case "x-user-id":
				if wantSub == "" || len(v) != 1 || v[0] != wantSub {
					t.Errorf("%s: upstream got %s: %q, want %q", name, h, v, wantSub)
				}
			case "x-tenant", "x-public-sub", "x-user-scopes":
				if wantSub == "" {
					t.Errorf("%s: upstream got spoofed %s: %q", name, h, v)
				}
				for _, s := range v {
					if s == "acme" || s == "root" || s == "admin" {
						t.Errorf("%s: upstream got spoofed %s: %q", name, h, v)
					}
				}
			}
		}
		if wantSub != "" && got.Header.Get("X-User-Id") != wantSub {
			t.Errorf("%s: X-User-Id = %q, want %q", name, got.Header.Get("X-User-Id"), wantSub)
		}
	}
	check("public", f.get("/anything", "", spoof...), "")
	check("optional anonymous", f.get("/profile", "", spoof...), "")
	check("optional with token", f.get("/profile", f.rsa.Sign(f.claims("")), spoof...), "alice")
	check("required", f.get("/orders/1", f.rsa.Sign(f.claims("orders:read")), spoof...), "alice")
}

func TestOptionalRoute(t *testing.T) {
	f := newFixture(t)
	if res := f.get("/profile", ""); res.StatusCode != 200 {
		t.Fatalf("anonymous: %d", res.StatusCode)
	}
	if got := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("profile", "anonymous", "enforce", "proxy")); got != 1 {
		t.Errorf("anonymous decisions = %v", got)
	}
	expired := f.rsa.Sign(f.claims("").With("exp", time.Now().Add(-time.Hour).Unix()))
	if res := f.get("/profile", expired); res.StatusCode != 401 {
		t.Fatalf("a present, invalid token on an optional route: %d, want 401", res.StatusCode)
	}
}

func TestClaimHeaderRendering(t *testing.T) {
	f := newFixture(t)
	f.cfg.Routes[3].Forward.ClaimsToHeaders = map[string]string{
		"X-Roles":  "realm_access.roles",
		"X-Empty":  "empty",
		"X-Null":   "nothing",
		"X-List":   "none",
		"X-Obj":    "org",
		"X-Evil":   "evil",
		"X-Num":    "n",
		"X-Auth0":  "https://example.com/roles",
		"X-Absent": "absent",
	}
	f.build()
	c := f.claims("").With(
		"realm_access", map[string]any{"roles": []string{"admin", "user"}},
		"empty", "", "none", []string{}, "org", map[string]any{"b": 1, "a": "x"},
		"evil", "a\r\nX-Injected: 1", "n", 12345678901234,
		"https://example.com/roles", []string{"r1"},
	)
	c["nothing"] = nil
	res := f.get("/profile", f.rsa.Sign(c))
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	h := f.up.Last().Header
	want := map[string]string{
		"X-Roles": "admin,user", "X-Obj": `{"a":"x","b":1}`,
		"X-Num": "12345678901234", "X-Auth0": "r1",
	}
	for name, v := range want {
		if got := h.Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	// A value holding CR LF is not sent at all: with them removed it would
	// be another value (policy.HeaderValue).
	for _, name := range []string{"X-Empty", "X-Null", "X-List", "X-Absent", "X-Injected", "X-Evil"} {
		if _, ok := h[name]; ok {
			t.Errorf("%s was set: %q", name, h.Values(name))
		}
	}
}

func TestAccessLogNeverHasTheToken(t *testing.T) {
	f := newFixture(t)
	tok := f.rsa.Sign(f.claims("orders:read"))
	f.get("/orders/1?access_token="+tok, tok)
	f.get("/orders/1", tok[:len(tok)-10]+flipChar(tok[len(tok)-10])+tok[len(tok)-9:]) // another signature

	entries := f.logs.FilterMessage("request").All()
	if len(entries) != 2 {
		t.Fatalf("%d access-log lines, want 2", len(entries))
	}
	first := entries[0].ContextMap()
	for k, want := range map[string]any{"route": "orders-read", "status": int64(200), "decision": "allowed", "issuer": "corp", "sub": "alice", "path": "/orders/1"} {
		if first[k] != want {
			t.Errorf("log field %s = %v, want %v", k, first[k], want)
		}
	}
	second := entries[1].ContextMap()
	if second["reason"] != "bad_signature" || second["decision"] != "unauthenticated" || second["status"] != int64(401) {
		t.Errorf("refusal log = %v", second)
	}
	gatewaytest.CheckLogsHoldNoToken(t, f.logs, tok)
}

func TestUpstreamFailures(t *testing.T) {
	f := newFixture(t)
	tok := f.rsa.Sign(f.claims("orders:read"))

	f.cfg.Routes[0].Timeout = 200_000_000 // 200ms
	f.build()
	held := f.up.Hold(t)
	res := f.get("/orders/1", tok)
	held.Release()
	if res.StatusCode != http.StatusGatewayTimeout || res.json["error"] != "gateway_timeout" {
		t.Errorf("slow upstream: %d %s", res.StatusCode, res.body)
	}

	f.up.SetHandler(nil)
	f.up.Close()
	res = f.get("/orders/1", tok)
	if res.StatusCode != http.StatusBadGateway || res.json["error"] != "bad_gateway" {
		t.Errorf("closed upstream: %d %s", res.StatusCode, res.body)
	}
	if got := testutil.ToFloat64(f.metrics.Requests.WithLabelValues("orders-read", "GET", "502", "proxy")); got != 1 {
		t.Errorf("502 count = %v", got)
	}
	// The token was good both times: an upstream's failure is no
	// authentication failure, under any reason.
	if n := testutil.CollectAndCount(f.metrics.AuthFailures); n != 0 {
		t.Errorf("portcullis_auth_failures_total has %d series after two allowed requests, want none", n)
	}
}

// TestKeyRotation: a token signed by a key the IdP added after start is
// accepted once the unknown kid triggers a refetch; a key the IdP removed
// stops verifying after the next refresh.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		f.cfg.Issuers[0].MinRefreshInterval = config.Duration(50 * time.Millisecond)
	})
	time.Sleep(60 * time.Millisecond) // past min_refresh_interval since the first load
	fetches := f.issuer.JWKSFetches()
	next := tokentest.RSA("rsa-2", 2048)
	f.issuer.SetKeys(next, f.ec, f.ed)
	if res := f.get("/orders/1", next.Sign(f.claims("orders:read"))); res.StatusCode != 200 {
		t.Fatalf("new key: %d %s", res.StatusCode, res.body)
	}
	if got := f.issuer.JWKSFetches() - fetches; got != 1 {
		t.Errorf("%d fetches for an unknown kid, want 1", got)
	}
	if res := f.get("/orders/1", f.rsa.Sign(f.claims("orders:read"))); res.StatusCode != 401 {
		t.Errorf("removed key still accepted: %d", res.StatusCode)
	}
}

// TestServeStale: while the IdP is down, tokens keep verifying against the
// last good key set.
func TestServeStale(t *testing.T) {
	f := newFixture(t)
	f.issuer.SetStatus(http.StatusInternalServerError)
	if err := f.gw.KeySet("corp").Refresh(t.Context()); err == nil {
		t.Fatal("refresh against a failing IdP reported success")
	}
	f.issuer.SetBody([]byte(`{"keys":[]}`))
	f.issuer.SetStatus(0)
	if err := f.gw.KeySet("corp").Refresh(t.Context()); err == nil {
		t.Fatal("refresh to an empty key set reported success")
	}
	if res := f.get("/orders/1", f.rsa.Sign(f.claims("orders:read"))); res.StatusCode != 200 {
		t.Fatalf("stale keys: %d %s", res.StatusCode, res.body)
	}
	if got := testutil.ToFloat64(f.metrics.JWKSRefresh.WithLabelValues("corp", "error")); got != 2 {
		t.Errorf("jwks errors = %v, want 2", got)
	}
}

func TestKeysNotLoadedIs503(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		f.cfg.Issuers[0].JWKSURI = "http://127.0.0.1:1/jwks"
		f.noWait = true
	})
	res := f.get("/orders/1", f.rsa.Sign(f.claims("orders:read")))
	if res.StatusCode != http.StatusServiceUnavailable || res.json["error"] != "temporarily_unavailable" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("keys never loaded: %d %v %s", res.StatusCode, res.Header, res.body)
	}
	if f.up.Count() != 0 {
		t.Error("upstream reached")
	}
}

func TestForgedAlgNoneIsRefused(t *testing.T) {
	f := newFixture(t)
	c, _ := json.Marshal(f.claims("orders:read"))
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		tok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"`+alg+`","kid":"rsa-1"}`)) + "." +
			base64.RawURLEncoding.EncodeToString(c) + "."
		if res := f.get("/orders/1", tok); res.StatusCode != 401 {
			t.Errorf("alg %s: %d", alg, res.StatusCode)
		}
		if res := f.get("/orders/1", tok+"AAAA"); res.StatusCode != 401 || f.up.Count() != 0 {
			t.Errorf("alg %s with signature: %d", alg, res.StatusCode)
		}
	}
}

// TestInFlightCap: past server.max_in_flight a request is refused at once
// with 503, never queued, and the cap frees up as requests finish.
func TestInFlightCap(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.Server.MaxInFlight = 2 })
	held := f.up.Hold(t)
	done := make(chan int, 2)
	for range 2 {
		go func() { done <- f.get("/anything", "").StatusCode }()
	}
	held.Wait(t, 2)
	res := f.get("/anything", "")
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || res.json["error"] != "temporarily_unavailable" {
		t.Errorf("third request: %d %v %s", res.StatusCode, res.Header, res.body)
	}
	held.Release()
	for range 2 {
		if code := <-done; code != 200 {
			t.Errorf("a request within the cap got %d", code)
		}
	}
	if res := f.get("/anything", ""); res.StatusCode != 200 {
		t.Errorf("after the cap freed up: %d", res.StatusCode)
	}
	if got := testutil.ToFloat64(f.metrics.Requests.WithLabelValues("public", "GET", "503", "proxy")); got != 1 {
		t.Errorf("503s counted = %v", got)
	}
}

// TestTokenCacheThroughTheHandler: a cached verification serves a reused
// token, but every route still applies its own rules, and a key the IdP
// removed takes its cached tokens with it.
func TestTokenCacheThroughTheHandler(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		f.cfg.Issuers[0].TokenCache = config.TokenCache{MaxEntries: 100, MaxTTL: config.Duration(time.Minute)}
	})
	tok := f.rsa.Sign(f.claims("orders:read"))
	for range 3 {
		if res := f.get("/orders/1", tok); res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if hits := testutil.ToFloat64(f.metrics.TokenCacheHits.WithLabelValues("corp")); hits != 2 {
		t.Errorf("cache hits = %v, want 2", hits)
	}
	req := httptest.NewRequest(http.MethodPost, "http://api.example.com/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if res := f.do(req); res.StatusCode != http.StatusForbidden {
		t.Errorf("a cached token on a route needing another scope: %d, want 403", res.StatusCode)
	}
	f.issuer.SetKeys(f.ec, f.ed)
	if err := f.gw.KeySet("corp").Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if res := f.get("/orders/1", tok); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a cached token whose key left the JWKS: %d, want 401", res.StatusCode)
	}
}

// TestRequestIDAndTraceparent: a request id follows the request to the
// upstream, the client and the access log; a well-formed one from the client
// is kept, anything else is replaced; W3C traceparent passes untouched.
func TestRequestIDAndTraceparent(t *testing.T) {
	f := newFixture(t)
	f.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "upstream-own-id")
		w.WriteHeader(200)
	})
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	res := f.get("/anything", "", "X-Request-Id", "edge-7f3a:1", "Traceparent", tp)
	got := f.up.Last()
	if id := got.Header.Get("X-Request-Id"); id != "edge-7f3a:1" {
		t.Errorf("upstream got request id %q, want the client's", id)
	}
	if v := res.Header.Values("X-Request-Id"); len(v) != 1 || v[0] != "edge-7f3a:1" {
		t.Errorf("client got request id %q", v)
	}
	if v := got.Header.Get("Traceparent"); v != tp {
		t.Errorf("traceparent = %q, want it untouched", v)
	}
	entries := f.logs.FilterMessage("request").All()
	if id := entries[len(entries)-1].ContextMap()["request_id"]; id != "edge-7f3a:1" {
		t.Errorf("access log request_id = %v", id)
	}

	for _, bad := range []string{"a b", "x\ny", strings.Repeat("a", 200), `{"json":1}`} {
		res := f.get("/orders/1", "", "X-Request-Id", bad)
		id := res.Header.Get("X-Request-Id")
		if id == bad || len(id) != 32 {
			t.Errorf("client id %q: response id %q, want a new 32-hex id", bad, id)
		}
	}
	a, b := f.get("/nowhere-x", "").Header.Get("X-Request-Id"), f.get("/orders/1", "").Header.Get("X-Request-Id")
	if a == "" || a == b {
		t.Errorf("generated ids %q and %q: want distinct, on refusals too", a, b)
	}
}

// flipChar returns another base64url character than c.
func flipChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// A refused gRPC-Web call is answered in gRPC-Web, with the status its
// client reads: a gRPC-Web client refuses an application/grpc answer.
func TestGRPCWebRefusalSpeaksGRPCWeb(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodPost, "http://api.example.com/orders/orders.Orders/Create", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/grpc-web+proto")
	res := f.do(req)
	if res.StatusCode != http.StatusOK || res.Header.Get("Grpc-Status") != "16" {
		t.Fatalf("status %d, grpc-status %q; want 200 with 16 (UNAUTHENTICATED)", res.StatusCode, res.Header.Get("Grpc-Status"))
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/grpc-web+proto" {
		t.Errorf("Content-Type %q, want the call's application/grpc-web+proto", ct)
	}
}

// An upstream's response headers are bounded: one that sends more than 1
// MiB of them gets its client a 502, not a gateway holding megabytes per
// answer.
func TestOversizedUpstreamResponseHeadersAre502(t *testing.T) {
	f := newFixture(t)
	f.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Large", strings.Repeat("a", 2<<20))
		w.WriteHeader(http.StatusOK)
	})
	if res := f.get("/status", ""); res.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", res.StatusCode)
	}
	f.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Large", strings.Repeat("a", 512<<10))
		w.WriteHeader(http.StatusOK)
	})
	if res := f.get("/status", ""); res.StatusCode != http.StatusOK || len(res.Header.Get("X-Large")) != 512<<10 {
		t.Fatalf("a 512 KiB header: status %d, header %d bytes; want it relayed", res.StatusCode, len(res.Header.Get("X-Large")))
	}
}

// A claim header's name declared as a request trailer does not reach the
// upstream either (many frameworks merge trailers with headers); other
// trailers do.
func TestSpoofedClaimHeadersAreStrippedFromTrailers(t *testing.T) {
	f := newFixture(t)
	seen := make(chan http.Header, 1)
	f.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		seen <- r.Trailer.Clone()
	})
	req := httptest.NewRequest(http.MethodPost, "http://api.example.com/anything", io.MultiReader(strings.NewReader("body")))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-User-Id": nil, "X_user_id": nil, "X-Checksum": nil}
	if res := f.do(req); res.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", res.StatusCode, res.body)
	}
	got := <-seen
	if _, ok := got["X-Checksum"]; !ok {
		t.Fatalf("the upstream saw trailers %v: X-Checksum missing, so the test sees none", got)
	}
	for name := range got {
		if folded := strings.ReplaceAll(strings.ToLower(name), "_", "-"); folded == "x-user-id" {
			t.Errorf("the upstream saw the claim header %s declared as a trailer", name)
		}
	}
}
