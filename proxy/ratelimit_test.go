package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/token/tokentest"
)

// limited gives a route rate limits.
func limited(name string, limits ...config.RateLimit) func(*fixture) {
	return func(f *fixture) {
		for i := range f.cfg.Routes {
			if f.cfg.Routes[i].Name == name {
				f.cfg.Routes[i].RateLimit = limits
			}
		}
	}
}

// from sends a GET from a client address, with a bearer token if any.
func (f *fixture) from(addr, path, tok string, headers ...string) *response {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://api.example.com"+path, nil)
	req.RemoteAddr = addr
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return f.do(req)
}

func (f *fixture) decisions(route, policy, result string) float64 {
	return testutil.ToFloat64(f.metrics.RateLimitDecisions.WithLabelValues(route, policy, result))
}

func TestRateLimitRefusalShape(t *testing.T) {
	f := newFixture(t, limited("orders-read", config.RateLimit{Key: "sub", Rate: "2/h"}))
	alice := f.rsa.Sign(f.claims("orders:read"))
	for i, wantR := range []string{"1", "0"} {
		res := f.get("/orders/1", alice)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, res.body)
		}
		if got := res.Header.Get("RateLimit-Policy"); got != `"orders-read[0]";q=2;w=3600` {
			t.Errorf("request %d: RateLimit-Policy %q", i, got)
		}
		if got := res.Header.Get("RateLimit"); !strings.HasPrefix(got, `"orders-read[0]";r=`+wantR+";t=") {
			t.Errorf("request %d: RateLimit %q, want r=%s", i, got, wantR)
		}
	}
	before := f.up.Count()
	res := f.get("/orders/1", alice)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", res.StatusCode)
	}
	if f.up.Count() != before {
		t.Error("a refused request reached the upstream")
	}
	if res.json["error"] != "rate_limited" || res.json["error_description"] == "" {
		t.Errorf("body %s", res.body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	// 2/h: one request every 30 minutes.
	ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || ra < 1790 || ra > 1800 {
		t.Errorf("Retry-After %q, want about 1800 whole seconds", res.Header.Get("Retry-After"))
	}
	if got := res.Header.Get("RateLimit"); !strings.HasPrefix(got, `"orders-read[0]";r=0;t=`) {
		t.Errorf("RateLimit %q", got)
	}
	if res.Header.Get("WWW-Authenticate") != "" {
		t.Error("a rate-limit refusal carries a challenge")
	}
	// Another subject has its own counter.
	bob := f.rsa.Sign(f.claims("orders:read").With("sub", "bob"))
	if res := f.get("/orders/1", bob); res.StatusCode != http.StatusOK {
		t.Errorf("bob: %d, want 200", res.StatusCode)
	}
	if a, l := f.decisions("orders-read", "orders-read[0]", "allowed"), f.decisions("orders-read", "orders-read[0]", "limited"); a != 3 || l != 1 {
		t.Errorf("decisions allowed=%v limited=%v, want 3 and 1", a, l)
	}
	entries := f.logs.FilterMessage("request").All()
	var found bool
	for _, e := range entries {
		m := e.ContextMap()
		if m["reason"] == "rate_limited" {
			found = true
			if m["rate_limit"] != "orders-read[0]" || m["status"] != int64(429) {
				t.Errorf("access log: %v", m)
			}
		}
	}
	if !found {
		t.Error("no access-log line with reason rate_limited")
	}
	if testutil.ToFloat64(f.metrics.AuthFailures.WithLabelValues("corp", "rate_limited")) != 0 {
		t.Error("a rate-limit refusal counted as an auth failure")
	}
}

func TestRateLimitByClientIPRunsBeforeVerification(t *testing.T) {
	f := newFixture(t, limited("orders-read", config.RateLimit{Key: "client_ip", Rate: "3/h"}))
	forged := tokentest.RSA("rsa-1", 2048).Sign(f.claims("orders:read")) // same kid, another key
	for i := range 10 {
		res := f.from("198.51.100.7:4000", "/orders/1", forged)
		want := http.StatusUnauthorized
		if i >= 3 {
			want = http.StatusTooManyRequests
		}
		if res.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, res.StatusCode, want)
		}
	}
	if got := testutil.ToFloat64(f.metrics.AuthFailures.WithLabelValues("corp", "bad_signature")); got != 3 {
		t.Errorf("%v signature checks failed, want 3: the flood past the limit must cost none", got)
	}
	// Another address has its own counter; an IPv6 /64 is one client.
	if res := f.from("198.51.100.8:4000", "/orders/1", forged); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("another address: %d, want 401", res.StatusCode)
	}
	for i := range 3 {
		f.from("[2001:db8:1:2::"+strconv.Itoa(i+1)+"]:4000", "/orders/1", forged)
	}
	if res := f.from("[2001:db8:1:2::99]:4000", "/orders/1", forged); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a fourth address of one /64: %d, want 429", res.StatusCode)
	}
}

func TestRateLimitClientIPBehindTrustedProxy(t *testing.T) {
	f := newFixture(t, limited("public", config.RateLimit{Key: "client_ip", Rate: "1/h"}), func(f *fixture) {
		f.cfg.Server.TrustedProxies = []string{"10.0.0.0/8"}
	})
	// Behind the trusted proxy, each client is its right-most untrusted
	// X-Forwarded-For address; what the client wrote further left is not.
	if res := f.from("10.0.0.2:1", "/x", "", "X-Forwarded-For", "1.1.1.1, 203.0.113.5, 10.0.0.9"); res.StatusCode != http.StatusOK {
		t.Fatalf("first: %d", res.StatusCode)
	}
	if res := f.from("10.0.0.3:1", "/x", "", "X-Forwarded-For", "2.2.2.2, 203.0.113.5"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("same client through another proxy, another spoofed left-most: %d, want 429", res.StatusCode)
	}
	if res := f.from("10.0.0.2:1", "/x", "", "X-Forwarded-For", "203.0.113.6"); res.StatusCode != http.StatusOK {
		t.Errorf("another client behind the proxy: %d, want 200", res.StatusCode)
	}
	// From an untrusted peer the header is the client's own: ignored.
	if res := f.from("192.0.2.50:1", "/x", "", "X-Forwarded-For", "203.0.113.77"); res.StatusCode != http.StatusOK {
		t.Fatalf("untrusted peer: %d", res.StatusCode)
	}
	if res := f.from("192.0.2.50:1", "/x", "", "X-Forwarded-For", "203.0.113.78"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("untrusted peer with a new X-Forwarded-For: %d, want 429 (its own address counts)", res.StatusCode)
	}
}

func TestRateLimitByIdentitySpendsNothingForRefusedTokens(t *testing.T) {
	f := newFixture(t, limited("orders-read", config.RateLimit{Key: "sub", Rate: "2/h"}))
	forged := tokentest.RSA("rsa-1", 2048).Sign(f.claims("orders:read"))
	underScoped := f.rsa.Sign(f.claims("orders:write"))
	for range 5 {
		if res := f.get("/orders/1", forged); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged: %d", res.StatusCode)
		}
		if res := f.get("/orders/1", underScoped); res.StatusCode != http.StatusForbidden {
			t.Fatalf("under-scoped: %d", res.StatusCode)
		}
	}
	alice := f.rsa.Sign(f.claims("orders:read"))
	for i := range 2 {
		if res := f.get("/orders/1", alice); res.StatusCode != http.StatusOK {
			t.Fatalf("alice's request %d after the forgeries: %d, want 200", i, res.StatusCode)
		}
	}
	if res := f.get("/orders/1", alice); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("alice's third: %d, want 429", res.StatusCode)
	}
}

func TestRateLimitSharedPolicyCountsAcrossRoutes(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		f.cfg.RateLimits = []config.RateLimitPolicy{{Name: "per-sub", Key: "sub", Rate: "3/h"}}
	}, limited("orders-read", config.RateLimit{Policy: "per-sub"}, config.RateLimit{Key: "route", Rate: "100/h"}),
		limited("profile", config.RateLimit{Policy: "per-sub"}),
		limited("partner", config.RateLimit{Key: "route", Rate: "100/h"}))
	alice := f.rsa.Sign(f.claims("orders:read"))
	for _, p := range []string{"/orders/1", "/profile", "/orders/2"} {
		if res := f.get(p, alice); res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
	}
	if res := f.get("/profile", alice); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("fourth request on the shared policy: %d, want 429", res.StatusCode)
	}
	res := f.get("/orders/3", alice)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fifth: %d, want 429", res.StatusCode)
	}
	if got := res.Header.Get("RateLimit-Policy"); got != `"per-sub";q=3;w=3600, "orders-read[1]";q=100;w=3600` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	// The refusal by per-sub spent nothing of the route's own limit.
	if a := f.decisions("orders-read", "orders-read[1]", "allowed"); a != 2 {
		t.Errorf("orders-read[1] allowed %v, want 2", a)
	}
	if l := f.decisions("orders-read", "per-sub", "limited"); l != 1 {
		t.Errorf("per-sub limited on orders-read %v, want 1", l)
	}
}

func TestRateLimitWithoutTheKeyCountsByAddress(t *testing.T) {
	f := newFixture(t, limited("profile", config.RateLimit{Key: "org.tenant_id", Rate: "2/h"}))
	for i := range 2 {
		if res := f.from("192.0.2.10:1", "/profile", ""); res.StatusCode != http.StatusOK {
			t.Fatalf("anonymous %d: %d", i, res.StatusCode)
		}
	}
	noTenant := f.rsa.Sign(f.claims(""))
	if res := f.from("192.0.2.10:1", "/profile", noTenant); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a token without the claim, same address: %d, want 429 (its address's counter)", res.StatusCode)
	}
	if res := f.from("192.0.2.11:1", "/profile", ""); res.StatusCode != http.StatusOK {
		t.Errorf("anonymous from another address: %d, want 200", res.StatusCode)
	}
	tenant := f.rsa.Sign(f.claims("").With("org", map[string]any{"tenant_id": "acme"}))
	if res := f.from("192.0.2.10:1", "/profile", tenant); res.StatusCode != http.StatusOK {
		t.Errorf("a token with the claim, same address: %d, want 200 (the tenant's counter)", res.StatusCode)
	}
}

func TestRateLimitIsEnforcedInAuditMode(t *testing.T) {
	f := newFixture(t, limited("orders-read", config.RateLimit{Key: "sub", Rate: "1/h"}), func(f *fixture) {
		off := false
		f.cfg.Routes[0].Auth.Enforce = &off
	})
	if res := f.from("192.0.2.1:1", "/orders/1", ""); res.StatusCode != http.StatusOK {
		t.Fatalf("audit mode, no token: %d", res.StatusCode)
	}
	if res := f.from("192.0.2.1:1", "/orders/1", ""); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("audit mode, second anonymous request: %d, want 429", res.StatusCode)
	}
}

func TestRateLimitHeadersOnlyOnLimitedRoutes(t *testing.T) {
	f := newFixture(t, limited("orders-read", config.RateLimit{Key: "sub", Rate: "5/s"}))
	f.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit", `"upstream";r=99;t=1`)
		w.Header().Set("RateLimit-Policy", `"upstream";q=100;w=1`)
	})
	res := f.get("/orders/1", f.rsa.Sign(f.claims("orders:read")))
	if got := res.Header.Values("RateLimit"); len(got) != 1 || !strings.HasPrefix(got[0], `"orders-read[0]";r=4;`) {
		t.Errorf("limited route: RateLimit %q, want the gateway's only", got)
	}
	if got := res.Header.Values("RateLimit-Policy"); len(got) != 1 || got[0] != `"orders-read[0]";q=5;w=1` {
		t.Errorf("limited route: RateLimit-Policy %q", got)
	}
	res = f.get("/public", "")
	if got := res.Header.Get("RateLimit"); got != `"upstream";r=99;t=1` {
		t.Errorf("a route without limits: RateLimit %q, want the upstream's untouched", got)
	}
}

func TestRateLimitedDecision(t *testing.T) {
	f := newFixture(t, limited("orders-read", config.RateLimit{Key: "sub", Rate: "1/h"}))
	alice := f.rsa.Sign(f.claims("orders:read"))
	decide := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "http://api.example.com/orders/1", nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		rec := httptest.NewRecorder()
		f.gw.ProxyHandler().Decide(rec, req)
		return rec
	}
	if rec := decide(); rec.Code != http.StatusOK || rec.Header().Get("RateLimit") != "" {
		t.Fatalf("first decision: %d, RateLimit %q (an allowed decision's headers are claim headers)", rec.Code, rec.Header().Get("RateLimit"))
	}
	rec := decide()
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || rec.Header().Get("RateLimit") == "" {
		t.Errorf("second decision: %d %v", rec.Code, rec.Header())
	}
}

// A claim read only by a rate limit is kept by the verifier (which keeps
// only the claims the table reads): tokens of two tiers from one address
// have counters of their own.
func TestRateLimitByAClaimNothingElseReads(t *testing.T) {
	f := newFixture(t, limited("profile", config.RateLimit{Key: "tier", Rate: "1/h"}))
	gold := f.rsa.Sign(f.claims("").With("tier", "gold"))
	silver := f.rsa.Sign(f.claims("").With("tier", "silver"))
	if res := f.from("192.0.2.20:1", "/profile", gold); res.StatusCode != http.StatusOK {
		t.Fatalf("gold: %d", res.StatusCode)
	}
	if res := f.from("192.0.2.20:1", "/profile", silver); res.StatusCode != http.StatusOK {
		t.Errorf("silver from the same address: %d, want 200 (its own counter)", res.StatusCode)
	}
	if res := f.from("192.0.2.21:1", "/profile", gold); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("gold again from another address: %d, want 429 (the tier's counter)", res.StatusCode)
	}
}

// A reload that keeps a route but drops one of its limits drops that
// limit's series from /metrics; the limit it keeps keeps its count.
func TestRateLimitSeriesFollowReload(t *testing.T) {
	f := newFixture(t, limited("orders-read",
		config.RateLimit{Key: "sub", Rate: "100/h"},
		config.RateLimit{Key: "client_ip", Rate: "100/h"}))
	if res := f.get("/orders/1", f.rsa.Sign(f.claims("orders:read"))); res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, res.body)
	}
	series := func() map[string]bool {
		out := map[string]bool{}
		mfs, err := f.metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "portcullis_rate_limit_decisions_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				out[labels["route"]+" "+labels["policy"]+" "+labels["result"]] = true
			}
		}
		return out
	}
	if got := series(); !got["orders-read orders-read[1] allowed"] || !got["orders-read orders-read[0] allowed"] {
		t.Fatalf("before the reload: %v, want both limits' series", got)
	}
	cfg := *f.cfg
	cfg.Routes = slices.Clone(f.cfg.Routes)
	for i := range cfg.Routes {
		if cfg.Routes[i].Name == "orders-read" {
			cfg.Routes[i].RateLimit = cfg.Routes[i].RateLimit[:1]
		}
	}
	if err := f.gw.Reload(t.Context(), &cfg); err != nil {
		t.Fatal(err)
	}
	got := series()
	if got["orders-read orders-read[1] allowed"] || got["orders-read orders-read[1] limited"] {
		t.Errorf("after the reload: %v, want no series of the dropped limit orders-read[1]", got)
	}
	if !got["orders-read orders-read[0] allowed"] {
		t.Errorf("after the reload: %v, want the kept limit's series", got)
	}
	if n := f.decisions("orders-read", "orders-read[0]", "allowed"); n != 1 {
		t.Errorf("the kept limit counts %v allowed, want the 1 from before the reload", n)
	}
}
