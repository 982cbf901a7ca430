package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

func TestCompileRateLimits(t *testing.T) {
	cfg, err := config.Parse([]byte(`
issuers: [{name: corp, issuer: "https://idp.example.com/", audiences: [api], algorithms: [RS256]}]
rate_limits:
  - {name: per-tenant, key: "org.tenant_id", rate: 10/m}
routes:
  - name: a
    match: {path_prefix: /a}
    upstream: "http://127.0.0.1:1"
    rate_limit:
      - {key: client_ip, rate: 5/s, burst: 2}
      - {policy: per-tenant}
      - {key: "claim:issuer", rate: 1/h}
  - name: b
    match: {path_prefix: /b}
    upstream: "http://127.0.0.1:1"
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	table, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := table.Routes()[0], table.Routes()[1]
	if b.RateLimits != nil {
		t.Errorf("route b: %+v, want no limits", b.RateLimits)
	}
	want := []struct {
		name   string
		key    RateKey
		before bool
		count  int64
		period time.Duration
		burst  int64
	}{
		{"a[0]", KeyClientIP, true, 5, time.Second, 2},
		{"per-tenant", KeyClaim, false, 10, time.Minute, 10},
		{"a[2]", KeyClaim, false, 1, time.Hour, 1},
	}
	if len(a.RateLimits) != len(want) {
		t.Fatalf("route a: %d limits, want %d", len(a.RateLimits), len(want))
	}
	for i, w := range want {
		l := a.RateLimits[i]
		if l.Name != w.name || l.Key != w.key || l.BeforeAuth() != w.before || l.Count != w.count || l.Period != w.period || l.Burst != w.burst {
			t.Errorf("limit %d: %+v, want %+v", i, l, w)
		}
	}
	if got := a.RateLimits[2].Claim.String(); got != "issuer" {
		t.Errorf("claim:issuer reads claim %q", got)
	}
	// The verifier keeps only the claims the table reads: a rate-limit key
	// must be among them, or it would never be found.
	names := table.ClaimNames("corp")
	for _, n := range []string{"org.tenant_id", "org", "issuer"} {
		if !slices.Contains(names, n) {
			t.Errorf("ClaimNames %v lacks %q", names, n)
		}
	}
}
