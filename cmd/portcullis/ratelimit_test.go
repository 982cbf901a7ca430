package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/ratelimit/redistest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// rateLimitQuota is the per-subject quota of rateLimitConfig: 10 an hour,
// all at once, so that nothing is earned back while a test runs.
const rateLimitQuota = 10

// rateLimitConfig renders a gateway whose route /api allows each subject
// rateLimitQuota requests an hour (policy per-sub), counted in the Redis at
// url within timeout, falling back as onError says when Redis fails;
// extra is added to rate_limit_store.
func rateLimitConfig(idp *tokentest.Issuer, upstream, url, timeout, onError, extra string) func(listen, admin string) string {
	return func(listen, admin string) string {
		return featureHead(listen, admin) + "issuers:\n" + corpIssuer(idp) + fmt.Sprintf(`rate_limits:
  - {name: per-sub, key: sub, rate: %d/h}
rate_limit_store:
  url: %q
  timeout: %s
  on_store_error: %s
%sroutes:
  - name: api
    match: {path_prefix: /api}
    upstream: %q
    rate_limit: [{policy: per-sub}]
`, rateLimitQuota, url, timeout, onError, extra, upstream)
	}
}

// rateLimitFleet is a Redis and gateways sharing it.
type rateLimitFleet struct {
	redis *redistest.Server
	gws   []*gatewaytest.GatewayProcess
	mint  func(sub string) string
}

// startFleet starts Redis (with redisArgs) and n gateways using it with
// store timeout and on_store_error onError.
func startFleet(t *testing.T, n int, timeout, onError string, redisArgs []string, extra func(*redistest.Server) string) *rateLimitFleet {
	t.Helper()
	idp, keys := newIssuer(t, "k1")
	upstream := gatewaytest.NewUpstream(t)
	f := &rateLimitFleet{redis: redistest.Start(t, redisArgs...)}
	more := ""
	if extra != nil {
		more = extra(f.redis)
	}
	for range n {
		g := startGateway(t, rateLimitConfig(idp, upstream.URL, f.redis.URL, timeout, onError, more))
		waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)
		f.gws = append(f.gws, g)
	}
	f.mint = func(sub string) string {
		return keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", sub, "", time.Hour))
	}
	return f
}

// spend sends n requests for sub, round-robin over the gateways, and
// counts the answers by status. Each must come back within bound.
func (f *rateLimitFleet) spend(t *testing.T, sub string, n int, bound time.Duration) map[int]int {
	t.Helper()
	tok := f.mint(sub)
	got := map[int]int{}
	for i := range n {
		g := f.gws[i%len(f.gws)]
		start := time.Now()
		res := do(t, http.MethodGet, g.URL("/api/x"), bearer(tok))
		if d := time.Since(start); d > bound {
			t.Errorf("request %d for %s took %v, more than %v", i, sub, d, bound)
		}
		got[res.StatusCode]++
		if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
			t.Errorf("a 429 without Retry-After: %v", res.Header)
		}
	}
	return got
}

// sum adds a counter's series over every gateway.
func (f *rateLimitFleet) sum(t *testing.T, name, lbls string) float64 {
	t.Helper()
	var s float64
	for _, g := range f.gws {
		s += counter(t, g, name, lbls)
	}
	return s
}

// healthy waits until every gateway's calls to Redis succeed again: a
// request of a throwaway subject through each, until the store's ok count
// rises on all of them.
func (f *rateLimitFleet) healthy(t *testing.T) {
	t.Helper()
	for i, g := range f.gws {
		tok := f.mint(fmt.Sprintf("probe-%d-%d", i, time.Now().UnixNano()))
		eventually(t, 15*time.Second, "the gateway uses Redis again", func() (bool, string) {
			before := counter(t, g, "portcullis_rate_limit_store_requests_total", labels("result", "ok"))
			do(t, http.MethodGet, g.URL("/api/x"), bearer(tok))
			after := counter(t, g, "portcullis_rate_limit_store_requests_total", labels("result", "ok"))
			return after > before, fmt.Sprintf("ok calls %v -> %v", before, after)
		})
	}
}

// TestRateLimitSharedAcrossInstances runs two gateways against one Redis:
// a subject's quota is spent across both together (N allowed in total, not
// N each), and each counts its own decisions.
func TestRateLimitSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	// A generous timeout: this test is about sharing, and a call that
	// timed out on a loaded machine would be counted by the fallback.
	f := startFleet(t, 2, "2s", "local", nil, nil)

	got := f.spend(t, "alice", 3*rateLimitQuota, 3*time.Second)
	if got[http.StatusOK] != rateLimitQuota || got[http.StatusTooManyRequests] != 2*rateLimitQuota {
		t.Fatalf("answers %v, want %d allowed across both gateways and the rest 429", got, rateLimitQuota)
	}
	// Concurrent requests through both gateways: still exact.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	tok := f.mint("bob")
	for i := range 4 * rateLimitQuota {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, f.gws[i%2].URL("/api/y"), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != rateLimitQuota {
		t.Errorf("concurrent: %d allowed, want %d", ok, rateLimitQuota)
	}

	allowed := f.sum(t, "portcullis_rate_limit_decisions_total", labels("route", "api", "policy", "per-sub", "result", "allowed"))
	limited := f.sum(t, "portcullis_rate_limit_decisions_total", labels("route", "api", "policy", "per-sub", "result", "limited"))
	if allowed != 2*rateLimitQuota || limited != 5*rateLimitQuota {
		t.Errorf("decisions over both gateways: allowed %v, limited %v; want %d and %d", allowed, limited, 2*rateLimitQuota, 5*rateLimitQuota)
	}
	if e := f.sum(t, "portcullis_rate_limit_store_requests_total", labels("result", "error")); e != 0 {
		t.Errorf("%v store errors with Redis up", e)
	}
	// Redis holds hashes, never the subject.
	for range 4 {
		key, err := f.redis.Do(time.Second, "RANDOMKEY")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(key, "alice") || strings.Contains(key, "bob") || !strings.HasPrefix(key, "portcullis:rl:") {
			t.Errorf("a Redis key: %q", key)
		}
	}
	if n, err := f.redis.Do(time.Second, "DBSIZE"); err != nil || n != "2" {
		t.Errorf("Redis holds %s keys (%v), want 2: one per subject, shared by both gateways", n, err)
	}
}

// TestRateLimitRedisDown kills Redis under two gateways: with
// on_store_error local each keeps answering within its timeout, limiting
// alone (N each), counts the errors and the fallback, and shares the quota
// again once Redis is back. Killing it again and again (flapping) hangs
// nothing.
func TestRateLimitRedisDown(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2, "500ms", "local", nil, nil)
	if got := f.spend(t, "alice", 2*rateLimitQuota, 2*time.Second); got[http.StatusOK] != rateLimitQuota {
		t.Fatalf("before the outage: %v", got)
	}

	f.redis.Kill()
	got := f.spend(t, "carol", 4*rateLimitQuota, time.Second)
	if got[http.StatusOK] != 2*rateLimitQuota || got[http.StatusTooManyRequests] != 2*rateLimitQuota {
		t.Errorf("Redis down, local fallback: %v, want %d allowed (the quota in each gateway alone)", got, 2*rateLimitQuota)
	}
	if e := f.sum(t, "portcullis_rate_limit_store_requests_total", labels("result", "error")) +
		f.sum(t, "portcullis_rate_limit_store_requests_total", labels("result", "timeout")); e == 0 {
		t.Error("no store error counted while Redis is down")
	}
	if fb := f.sum(t, "portcullis_rate_limit_fallback_total", labels("mode", "local")); fb < 4*rateLimitQuota {
		t.Errorf("fallback local %v, want every decision (%d)", fb, 4*rateLimitQuota)
	}
	// /readyz is not tied to Redis: the fallback is there for this.
	for _, g := range f.gws {
		if res := do(t, http.MethodGet, g.AdminURL("/readyz"), nil); res.StatusCode != http.StatusOK {
			t.Errorf("/readyz %d while Redis is down", res.StatusCode)
		}
	}

	// Flapping: down and up while requests keep coming; none hangs.
	for range 3 {
		f.redis.Restart()
		f.spend(t, "flap", 4, time.Second)
		f.redis.Kill()
		f.spend(t, "flap", 4, time.Second)
	}

	f.redis.Restart()
	f.healthy(t)
	if got := f.spend(t, "dave", 3*rateLimitQuota, 2*time.Second); got[http.StatusOK] != rateLimitQuota {
		t.Errorf("after Redis came back: %v, want %d allowed across both again", got, rateLimitQuota)
	}
}

// TestRateLimitRedisDownDeny: with on_store_error deny, a Redis that is
// down refuses every limited request with 429 at once.
func TestRateLimitRedisDownDeny(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 1, "500ms", "deny", nil, nil)
	if got := f.spend(t, "alice", 2, 2*time.Second); got[http.StatusOK] != 2 {
		t.Fatalf("Redis up: %v", got)
	}
	f.redis.Kill()
	got := f.spend(t, "bob", 5, time.Second)
	if got[http.StatusTooManyRequests] != 5 {
		t.Errorf("Redis down, deny: %v, want every request refused", got)
	}
	if fb := f.sum(t, "portcullis_rate_limit_fallback_total", labels("mode", "deny")); fb != 5 {
		t.Errorf("fallback deny %v, want 5", fb)
	}
	f.redis.Restart()
	f.healthy(t)
	if got := f.spend(t, "carol", 2, 2*time.Second); got[http.StatusOK] != 2 {
		t.Errorf("Redis back: %v", got)
	}
}

// TestRateLimitRedisSlow pauses Redis (CLIENT PAUSE): every call times out
// after rate_limit_store.timeout, the local fallback answers, the timeouts
// are counted, and nothing waits for the pause to end.
func TestRateLimitRedisSlow(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 1, "200ms", "local", nil, nil)
	f.spend(t, "warm", 1, 2*time.Second)
	if _, err := f.redis.Do(time.Second, "CLIENT", "PAUSE", "4000", "ALL"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := f.spend(t, "slow", rateLimitQuota+2, time.Second)
	if got[http.StatusOK] != rateLimitQuota {
		t.Errorf("Redis paused, local fallback: %v, want %d allowed", got, rateLimitQuota)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("%d requests took %v while Redis was paused: they waited for it", rateLimitQuota+2, d)
	}
	if to := f.sum(t, "portcullis_rate_limit_store_requests_total", labels("result", "timeout")); to == 0 {
		t.Error("no store timeout counted")
	}
	f.healthy(t)
}

// TestRateLimitRedisPasswordFile: the password comes from password_file
// and is never logged.
func TestRateLimitRedisPasswordFile(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-rl-password"
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startFleet(t, 1, "2s", "deny", []string{"--requirepass", secret}, func(*redistest.Server) string {
		return fmt.Sprintf("  password_file: %q\n", pwFile)
	})
	if got := f.spend(t, "alice", rateLimitQuota+1, 2*time.Second); got[http.StatusOK] != rateLimitQuota {
		t.Errorf("with the password: %v, want %d allowed (deny would refuse all if AUTH failed)", got, rateLimitQuota)
	}
	checkNoSecret(t, "the gateway's output", f.gws[0].Output(), secret)
}

// TestRateLimitRedisTLS: a rediss:// store whose certificate is trusted
// through rate_limit_store.tls.ca_file, with the password from
// password_file, holds the limit; a gateway that does not trust the CA never
// talks to it in clear: its calls fail and on_store_error (deny) answers.
func TestRateLimitRedisTLS(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-tls-password"
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := redistest.StartTLS(t, "--requirepass", secret)
	idp, keys := newIssuer(t, "k1")
	upstream := gatewaytest.NewUpstream(t)
	fleet := func(extra string) *rateLimitFleet {
		g := startGateway(t, rateLimitConfig(idp, upstream.URL, srv.TLSURL, "2s", "deny", extra))
		waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)
		return &rateLimitFleet{redis: srv, gws: []*gatewaytest.GatewayProcess{g}, mint: func(sub string) string {
			return keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", sub, "", time.Hour))
		}}
	}

	trusted := fleet(fmt.Sprintf("  password_file: %q\n  tls:\n    ca_file: %q\n", pwFile, srv.CAFile))
	if got := trusted.spend(t, "alice", rateLimitQuota+1, 2*time.Second); got[http.StatusOK] != rateLimitQuota || got[http.StatusTooManyRequests] != 1 {
		t.Errorf("over TLS: %v, want %d allowed and one 429", got, rateLimitQuota)
	}
	if ok := trusted.sum(t, "portcullis_rate_limit_store_requests_total", labels("result", "ok")); ok < rateLimitQuota+1 {
		t.Errorf("%v successful store calls over TLS, want %d", ok, rateLimitQuota+1)
	}
	if n, err := srv.Do(time.Second, "DBSIZE"); err != nil || n != "1" {
		t.Errorf("Redis holds %s keys (%v), want 1", n, err)
	}
	checkNoSecret(t, "the gateway's output", trusted.gws[0].Output(), secret)

	untrusting := fleet(fmt.Sprintf("  password_file: %q\n", pwFile))
	if got := untrusting.spend(t, "bob", 2, 3*time.Second); got[http.StatusTooManyRequests] != 2 {
		t.Errorf("without the CA: %v, want every request refused by on_store_error deny", got)
	}
	if e := untrusting.sum(t, "portcullis_rate_limit_store_requests_total", labels("result", "error")); e == 0 {
		t.Error("a store whose certificate is not trusted counted no error")
	}
}

// TestExplainShowsRateLimitsAndSpendsNothing: explain lists the route's
// limits and never talks to the store: with Redis unreachable and
// on_store_error deny, a request that touched it would be refused.
func TestExplainShowsRateLimitsAndSpendsNothing(t *testing.T) {
	t.Parallel()
	idp, keys := newIssuer(t, "k1")
	render := rateLimitConfig(idp, "http://127.0.0.1:9", "redis://127.0.0.1:1/0", "50ms", "deny", "")
	cfg := gatewaytest.WriteFile(t, "portcullis.yaml", render("127.0.0.1:0", "127.0.0.1:0"))
	tok := keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "alice", "", time.Hour))
	runExplain(t, 0, []string{"rate_limit", "per-sub: 10 per 1h0m0s, burst 10, by claim sub, after authentication (not spent by explain)", "ALLOWED"}, nil,
		"-config", cfg, "-token", tok, "GET", "http://api.example.com/api/x")
}
