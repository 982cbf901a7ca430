package proxy_test

// Micro-benchmarks of the request path, one handler call per iteration.
//
// The handler is assembled as the gateway assembles it (a configuration
// with portcullis's defaults, a real key set fetched from a loopback
// issuer, the verifier with its token cache, the compiled route table),
// with one difference: the upstream is a RoundTripper that answers at once
// with a fixed response, so that what is measured is the gateway's own
// work and not a loopback round trip. BenchmarkHandlerAllowed/loopback
// measures the same request through a real upstream, for comparison. Each
// iteration builds its request and recorder with httptest: a few
// allocations of every figure are theirs.
//
//	go test ./proxy -run '^$' -bench . -benchmem

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/proxy"
	"github.com/portcullis/portcullis/ratelimit"
	"github.com/portcullis/portcullis/token"
	"github.com/portcullis/portcullis/token/tokentest"
)

// benchKeys are generated once: RSA generation would otherwise dominate
// the set-up of every sub-benchmark.
var benchKeys = sync.OnceValue(func() map[string]*tokentest.Key {
	return map[string]*tokentest.Key{
		"RS256": tokentest.RSA("bench-rs", 2048),
		"ES256": tokentest.EC("bench-ec", "ES256"),
		"EdDSA": tokentest.Ed25519("bench-ed"),
	}
})

// fixedUpstream answers every request with the same small response, and
// keeps the last request's headers for the set-up checks.
type fixedUpstream struct {
	mu   sync.Mutex
	last http.Header
}

const fixedBody = `{"id":42,"status":"shipped"}`

func (u *fixedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	u.mu.Lock()
	u.last = r.Header
	u.mu.Unlock()
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(fixedBody)),
		ContentLength: int64(len(fixedBody)),
		Request:       r,
	}, nil
}

func (u *fixedUpstream) lastHeader() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// benchPath is one assembled request path.
type benchPath struct {
	handler  http.Handler
	upstream *fixedUpstream
	iss      string
}

// benchOptions vary the configuration; the zero value is portcullis's
// defaults with three claim headers.
type benchOptions struct {
	noHeaders bool         // the route forwards no claims
	noCache   bool         // token_cache.max_entries: 0, so every request verifies a signature
	noLog     bool         // log.access_log: false
	tracer    trace.Tracer // nil: tracing off, as by default (trace_test.go)

	// rateLimit is the route's rate_limit, in YAML flow style ("": none;
	// ratelimit_bench_test.go); limiter keeps its counters (nil: a new
	// Local store).
	rateLimit string
	limiter   ratelimit.Store
}

// newBenchPath builds the request path of one issuer and one route,
// GET /orders, requiring the scope orders:read, with the access log on (a
// JSON logger writing to io.Discard), as `portcullis serve` runs.
func newBenchPath(b testing.TB, o benchOptions) *benchPath {
	b.Helper()
	keys := benchKeys()
	issuer := tokentest.NewIssuer(keys["RS256"], keys["ES256"], keys["EdDSA"])
	b.Cleanup(issuer.Close)

	forward := "\n    forward: {claims_to_headers: {X-User-Id: sub, X-User-Scopes: scope, X-Tenant: org.tenant_id}}"
	if o.noHeaders {
		forward = ""
	}
	if o.rateLimit != "" {
		forward += "\n    rate_limit: " + o.rateLimit
	}
	cache := ""
	if o.noCache {
		cache = "\n    token_cache: {max_entries: 0}"
	}
	yaml := fmt.Sprintf(`
issuers:
  - name: corp
    issuer: %q
    jwks_uri: %q
    audiences: [orders-api]
    algorithms: [RS256, ES256, EdDSA]
    required_claims: [sub, exp]%s
routes:
  - name: orders
    match: {path_prefix: /orders, methods: [GET]}
    upstream: "http://127.0.0.1:9"
    auth: {scopes: {all_of: ["orders:read"]}}%s
`, issuer.URL(), issuer.JWKSURL(), cache, forward)
	cfg, err := config.Parse([]byte(yaml), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}

	m := metrics.New()
	is := cfg.Issuers[0]
	ks := jwks.New(jwks.Source{
		Issuer: is.Name, IssuerURL: is.Issuer, JWKSURI: is.JWKSURI, Discovery: is.Discovery,
		Algorithms: is.Algorithms, RefreshInterval: is.RefreshInterval.D(), MinRefreshInterval: is.MinRefreshInterval.D(),
	}, nil, zap.NewNop(), m)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	ks.Start(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for !ks.Ready() {
		if time.Now().After(deadline) {
			b.Fatal("the issuer's keys did not load within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	verifier, err := token.NewVerifier([]token.Issuer{{
		Name: is.Name, Issuer: is.Issuer, Audiences: is.Audiences, AudienceClaim: is.AudienceClaim,
		Algorithms: is.Algorithms, ClockSkew: is.ClockSkew.D(), RequiredClaims: is.RequiredClaims,
		TokenTypes: is.TokenTypes, Keys: ks,
		Cache: token.CacheOptions{MaxEntries: is.TokenCache.MaxEntries, MaxTTL: is.TokenCache.MaxTTL.D()},
	}}, token.WithMetrics(m))
	if err != nil {
		b.Fatal(err)
	}
	table, err := policy.Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	up := &fixedUpstream{}
	rt := proxy.NewRuntime(table, verifier, proxy.Options{
		MaxInFlight: cfg.Server.MaxInFlight,
		AccessLog:   cfg.Log.AccessLog && !o.noLog,
		Transport:   up,
		Tracer:      o.tracer,
		RateLimiter: o.limiter,
	})
	return &benchPath{handler: proxy.New(rt, m, discardLogger(b).Named(gateway.AccessLogger)), upstream: up, iss: issuer.URL()}
}

// discardLogger is the binary's logger (gateway.NewLogger with the default
// log settings: JSON, access lines in batches) writing into nothing, so that
// the benchmarks pay for each line what the binary pays.
func discardLogger(b testing.TB) *zap.Logger {
	c := config.Log{Level: "info", Format: "json", AccessLog: true, FlushInterval: config.Duration(100 * time.Millisecond)}
	log, stop, err := gateway.NewLogger(c, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(stop)
	return log
}

func (p *benchPath) claims(scope string) tokentest.Claims {
	return tokentest.Standard(p.iss, "orders-api", "alice", scope, time.Hour).
		With("org", map[string]any{"tenant_id": "acme"})
}

// serve sends one GET /orders/42 with the Authorization value auth (none
// when empty) and extra headers, and returns the status.
func (p *benchPath) serve(auth string, headers ...string) int {
	req := httptest.NewRequest(http.MethodGet, "http://api.example.com/orders/42", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	p.handler.ServeHTTP(rec, req)
	return rec.Code
}

// loop runs serve b.N times and fails on the first unexpected status.
func (p *benchPath) loop(b *testing.B, want int, auth string, headers ...string) {
	b.Helper()
	if got := p.serve(auth, headers...); got != want {
		b.Fatalf("status %d, want %d", got, want)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := p.serve(auth, headers...); got != want {
			b.Fatalf("status %d, want %d", got, want)
		}
	}
}

// BenchmarkHandlerAllowed is a valid token on a route that accepts it: the
// whole path from route match to the upstream's response. "cached" sends
// the same token every time (clients reusing their tokens: a cache hit
// after the first request); "uncached" turns the token cache off, so each
// request verifies the signature, as a never-seen token would.
func BenchmarkHandlerAllowed(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		for _, cached := range []bool{true, false} {
			name := alg + "/cached"
			if !cached {
				name = alg + "/uncached"
			}
			b.Run(name, func(b *testing.B) {
				p := newBenchPath(b, benchOptions{noCache: !cached})
				tok := benchKeys()[alg].Sign(p.claims("orders:read"))
				p.loop(b, http.StatusOK, "Bearer "+tok)
				if got := p.upstream.lastHeader().Get("X-User-Id"); got != "alice" {
					b.Fatalf("the upstream saw X-User-Id %q, want alice", got)
				}
			})
		}
	}
	b.Run("RS256/cached/nolog", func(b *testing.B) {
		p := newBenchPath(b, benchOptions{noLog: true})
		p.loop(b, http.StatusOK, "Bearer "+benchKeys()["RS256"].Sign(p.claims("orders:read")))
	})
	b.Run("RS256/cached/loopback", benchmarkLoopback)
	b.Run("RS256/cached/1000-tokens", func(b *testing.B) {
		// The load harness's rs256-reused: 1,000 cached tokens sent in
		// turn, so that each request reads a token's cached verification
		// and claims that the previous requests have pushed out of the
		// CPU's caches, as under real load.
		p := newBenchPath(b, benchOptions{})
		auths := make([]string, 1000)
		for i := range auths {
			auths[i] = "Bearer " + benchKeys()["RS256"].Sign(p.claims("orders:read").With("sub", fmt.Sprintf("user-%04d", i)))
			if got := p.serve(auths[i]); got != http.StatusOK {
				b.Fatalf("token %d: status %d, want 200", i, got)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if got := p.serve(auths[i]); got != http.StatusOK {
				b.Fatalf("status %d, want 200", got)
			}
			i = (i + 1) % len(auths)
		}
	})
}

// benchmarkLoopback is the cached RS256 request through the gateway as the
// binary builds it, in front of a real upstream on loopback: the transport
// and the upstream's own work are in the figure.
func benchmarkLoopback(b *testing.B) {
	keys := benchKeys()
	issuer := tokentest.NewIssuer(keys["RS256"])
	b.Cleanup(issuer.Close)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, fixedBody)
	}))
	b.Cleanup(up.Close)
	yaml := fmt.Sprintf(`
issuers:
  - {name: corp, issuer: %q, jwks_uri: %q, audiences: [orders-api], algorithms: [RS256], required_claims: [sub, exp]}
routes:
  - name: orders
    match: {path_prefix: /orders, methods: [GET]}
    upstream: %q
    auth: {scopes: {all_of: ["orders:read"]}}
    forward: {claims_to_headers: {X-User-Id: sub, X-User-Scopes: scope, X-Tenant: org.tenant_id}}
`, issuer.URL(), issuer.JWKSURL(), up.URL)
	cfg, err := config.Parse([]byte(yaml), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(cfg, discardLogger(b), metrics.New())
	if err != nil {
		b.Fatal(err)
	}
	keysCtx, stop := context.WithCancel(context.Background())
	b.Cleanup(stop)
	g.Start(keysCtx)
	ctx, cancel := context.WithTimeout(keysCtx, 10*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	p := &benchPath{handler: g.Handler(), iss: issuer.URL()}
	p.loop(b, http.StatusOK, "Bearer "+keys["RS256"].Sign(p.claims("orders:read")))
}

// BenchmarkHandlerRefused is what refusals cost: a flood of bad requests
// must be cheaper than good ones, and none of them reaches the upstream.
func BenchmarkHandlerRefused(b *testing.B) {
	p := newBenchPath(b, benchOptions{})
	keys := benchKeys()
	good := p.claims("orders:read")
	forged := tokentest.RSA("bench-rs", 2048).Sign(good) // the real kid, another key
	cases := []struct {
		name   string
		status int
		auth   string
		path   string
	}{
		{"no token is 401 before any parsing", http.StatusUnauthorized, "", ""},
		{"a malformed token is 401 before any parsing", http.StatusUnauthorized, "Bearer a.b", ""},
		{"a forged signature is 401 after one verification", http.StatusUnauthorized, "Bearer " + forged, ""},
		{"an expired token is 401", http.StatusUnauthorized, "Bearer " + keys["RS256"].Sign(good.With("exp", time.Now().Add(-time.Hour).Unix())), ""},
		{"a valid token without the scope is 403", http.StatusForbidden, "Bearer " + keys["RS256"].Sign(p.claims("orders:write")), ""},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p.loop(b, c.status, c.auth)
		})
	}
}

// BenchmarkRewriteHeaders isolates the header rewrite: the same cached
// RS256 request with no claim headers, with three, and with three while
// the client sends its own copies in several spellings (all removed).
func BenchmarkRewriteHeaders(b *testing.B) {
	spoofed := []string{"X-User-Id", "mallory", "x_user_id", "mallory", "X-Tenant", "evil", "X-USER-SCOPES", "admin"}
	cases := []struct {
		name    string
		opts    benchOptions
		headers []string
		want    string // X-User-Id at the upstream
	}{
		{"no claim headers", benchOptions{noHeaders: true}, nil, ""},
		{"three claim headers", benchOptions{}, nil, "alice"},
		{"three claim headers and four spoofed ones", benchOptions{}, spoofed, "alice"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := newBenchPath(b, c.opts)
			tok := benchKeys()["RS256"].Sign(p.claims("orders:read"))
			p.loop(b, http.StatusOK, "Bearer "+tok, c.headers...)
			h := p.upstream.lastHeader()
			if got := h.Values("X-User-Id"); strings.Join(got, ",") != c.want {
				b.Fatalf("the upstream saw X-User-Id %q, want %q", got, c.want)
			}
			if _, ok := h["X_user_id"]; ok {
				b.Fatal("a spoofed spelling reached the upstream")
			}
		})
	}
}

// BenchmarkTunedBare is the floor BenchmarkHandlerAllowed/RS256/cached
// stands on: the load harness's tuned baseline (a ReverseProxy with the
// gateway's buffer pool, SetURL and SetXForwarded, no auth) serving the
// same request over the same fixed upstream. The difference between the
// two is what the gateway itself costs a request.
func BenchmarkTunedBare(b *testing.B) {
	p := newBenchPath(b, benchOptions{})
	target := &url.URL{Scheme: "http", Host: "127.0.0.1:9"}
	p.handler = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  p.upstream,
		BufferPool: proxy.NewBufferPool(),
	}
	p.loop(b, http.StatusOK, "Bearer "+benchKeys()["RS256"].Sign(p.claims("orders:read")))
}
