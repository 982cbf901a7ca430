package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// world is an IdP, a second IdP and an upstream on loopback.
type world struct {
	corp, partner *tokentest.Issuer
	corpKey       *tokentest.Key
	partnerKey    *tokentest.Key
	upstream      *gatewaytest.Upstream
}

func newWorld(t *testing.T) *world {
	w := &world{corpKey: tokentest.EC("corp-1", "ES256"), partnerKey: tokentest.EC("partner-1", "ES256")}
	w.corp = tokentest.NewIssuer(w.corpKey)
	w.partner = tokentest.NewIssuer(w.partnerKey)
	t.Cleanup(func() { w.corp.Close(); w.partner.Close() })
	w.upstream = gatewaytest.NewUpstream(t)
	w.upstream.SetHandler(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "%s %s", r.URL.Path, r.Header.Get("X-User-Id"))
	})
	return w
}

// file renders a configuration: always the corp issuer and the /orders
// route; extra adds YAML to the issuers and routes lists.
func (w *world) file(t *testing.T, extraIssuers, extraRoutes string) *config.Config {
	t.Helper()
	doc := fmt.Sprintf(`
issuers:
  - name: corp
    issuer: %q
    jwks_uri: %q
    algorithms: [ES256]
    audiences: [api]
%s
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: %q
    auth: {mode: required}
    forward: {claims_to_headers: {X-User-Id: sub}}
%s`, w.corp.URL(), w.corp.JWKSURL(), extraIssuers, w.upstream.URL, extraRoutes)
	return gatewaytest.ParseConfig(t, "test.yaml", doc)
}

func (w *world) partnerIssuer(jwksURL string) string {
	return fmt.Sprintf(`  - name: partner
    issuer: %q
    jwks_uri: %q
    algorithms: [ES256]
    audiences: [api]
`, w.partner.URL(), jwksURL)
}

func (w *world) partnerRoute() string {
	return fmt.Sprintf(`  - name: partner
    match: {path_prefix: /partner}
    upstream: %q
    auth: {mode: required, issuers: [partner]}
`, w.upstream.URL)
}

func (w *world) token(k *tokentest.Key, is *tokentest.Issuer) string {
	return k.Sign(tokentest.Standard(is.URL(), "api", "alice", "", time.Hour))
}

// start builds and starts a gateway from cfg, waits for its keys and
// serves it on loopback.
func start(t *testing.T, cfg *config.Config) (*gatewaytest.Gateway, *httptest.Server) {
	t.Helper()
	g := gatewaytest.Options{Server: true}.Start(t, cfg)
	return g, g.Server
}

func get(t *testing.T, url, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestReloadAddsIssuersAndRoutesAndKeepsUnchangedKeys(t *testing.T) {
	w := newWorld(t)
	g, srv := start(t, w.file(t, "", ""))
	corpFetches := w.corp.JWKSFetches()
	partnerTok := w.token(w.partnerKey, w.partner)
	if code, _ := get(t, srv.URL+"/partner/1", partnerTok); code != http.StatusNotFound {
		t.Fatalf("before reload: %d, want 404", code)
	}

	if err := g.Reload(context.Background(), w.file(t, w.partnerIssuer(w.partner.JWKSURL()), w.partnerRoute())); err != nil {
		t.Fatal(err)
	}
	// The new issuer's keys were loaded before its route went live.
	if code, body := get(t, srv.URL+"/partner/1", partnerTok); code != 200 {
		t.Fatalf("after reload: %d %s", code, body)
	}
	if got := w.corp.JWKSFetches(); got != corpFetches {
		t.Errorf("the unchanged issuer refetched its keys (%d -> %d)", corpFetches, got)
	}
	if got := testutil.ToFloat64(g.Metrics().ConfigReloads.WithLabelValues("success")); got != 1 {
		t.Errorf("successful reloads = %v", got)
	}

	// Removing the issuer again removes its route and its key gauge.
	if err := g.Reload(context.Background(), w.file(t, "", "")); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, srv.URL+"/partner/1", partnerTok); code != http.StatusNotFound {
		t.Errorf("removed route: %d, want 404", code)
	}
	if n := testutil.CollectAndCount(g.Metrics().JWKSKeys); n != 1 {
		t.Errorf("jwks_keys has %d series after removing an issuer, want 1", n)
	}
}

func TestReloadWhoseNewIssuerCannotLoadChangesNothing(t *testing.T) {
	w := newWorld(t)
	g, srv := start(t, w.file(t, "", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := g.Reload(ctx, w.file(t, w.partnerIssuer("http://127.0.0.1:1/jwks"), w.partnerRoute()))
	if err == nil || !strings.Contains(err.Error(), "partner") {
		t.Fatalf("reload with an unreachable new issuer: %v", err)
	}
	if code, _ := get(t, srv.URL+"/partner/1", w.token(w.partnerKey, w.partner)); code != http.StatusNotFound {
		t.Errorf("the failed reload's route is live: %d", code)
	}
	if code, _ := get(t, srv.URL+"/orders/1", w.token(w.corpKey, w.corp)); code != 200 {
		t.Errorf("the old configuration stopped serving: %d", code)
	}
	if got := testutil.ToFloat64(g.Metrics().ConfigReloads.WithLabelValues("error")); got != 1 {
		t.Errorf("failed reloads = %v", got)
	}
	if len(g.NotReady()) != 0 {
		t.Errorf("readiness lists %v after a failed reload", g.NotReady())
	}
}

// TestReloadUnderLoad: while requests flow, the configuration is swapped
// back and forth; not one request may fail or see a half-built state.
func TestReloadUnderLoad(t *testing.T) {
	w := newWorld(t)
	a := w.file(t, w.partnerIssuer(w.partner.JWKSURL()), w.partnerRoute())
	b := w.file(t, w.partnerIssuer(w.partner.JWKSURL()), "")
	g, srv := start(t, a)
	tok := w.token(w.corpKey, w.corp)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}

	const workers, perWorker = 8, 250
	var failures, done atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders/7", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(body) != "/orders/7 alice" {
					failures.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	go func() { wg.Wait(); close(stop) }()
	reloads := 0
	deadline := time.After(30 * time.Second)
loop:
	for {
		cfg := a
		if reloads%2 == 0 {
			cfg = b
		}
		if err := g.Reload(context.Background(), cfg); err != nil {
			t.Fatalf("reload %d: %v", reloads, err)
		}
		reloads++
		select {
		case <-stop:
			break loop
		case <-deadline:
			t.Fatal("the load did not finish in 30s")
		case <-time.After(2 * time.Millisecond):
		}
	}
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed across %d reloads", failures.Load(), done.Load(), reloads)
	}
	if reloads < 5 {
		t.Errorf("only %d reloads happened during the load", reloads)
	}
	t.Logf("%d requests, %d reloads, 0 failures", done.Load(), reloads)
}

// A reload that leaves an issuer's verification as it was keeps its token
// cache (no token is checked again); one that changes how the issuer's
// tokens are judged starts its cache empty.
func TestReloadKeepsTheTokenCacheOfUnchangedIssuers(t *testing.T) {
	w := newWorld(t)
	g, srv := start(t, w.file(t, "", ""))
	tok := w.token(w.corpKey, w.corp)
	misses := func() float64 { return testutil.ToFloat64(g.Metrics().TokenCacheMisses.WithLabelValues("corp")) }
	if code, _ := get(t, srv.URL+"/orders/1", tok); code != 200 {
		t.Fatalf("before reload: %d", code)
	}
	before := misses()

	// Another route: the issuer verifies as before.
	extra := fmt.Sprintf("  - name: status\n    match: {path: /status}\n    upstream: %q\n    auth: {mode: public}\n", w.upstream.URL)
	if err := g.Reload(context.Background(), w.file(t, "", extra)); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, srv.URL+"/orders/2", tok); code != 200 {
		t.Fatalf("after a route reload: %d", code)
	}
	if got := misses(); got != before {
		t.Errorf("a reload that changed only routes cost %v full verifications, want 0", got-before)
	}

	// A route that forwards another claim changes what tokens keep: the
	// cache starts again, and the new header is there.
	another := fmt.Sprintf("  - name: whoami\n    match: {path: /whoami}\n    upstream: %q\n    forward: {claims_to_headers: {X-Audience: aud}}\n", w.upstream.URL)
	if err := g.Reload(context.Background(), w.file(t, "", another)); err != nil {
		t.Fatal(err)
	}
	w.upstream.SetHandler(func(rw http.ResponseWriter, r *http.Request) { fmt.Fprint(rw, r.Header.Get("X-Audience")) })
	if code, body := get(t, srv.URL+"/whoami", tok); code != 200 || body != "api" {
		t.Errorf("a claim kept only since the reload: %d %q, want 200 \"api\"", code, body)
	}
	if got := misses(); got != before+1 {
		t.Errorf("after a reload that changed the kept claims: %v misses, want %v", got, before+1)
	}
}

// A reload keeps the pooled upstream connections: requests before and after
// it reuse one connection to the upstream.
func TestReloadKeepsUpstreamConnections(t *testing.T) {
	w := newWorld(t)
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprint(rw, "ok")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	w.upstream.URL = up.URL // the orders route now forwards to up
	g, srv := start(t, w.file(t, "", ""))
	tok := w.token(w.corpKey, w.corp)
	for i := range 3 {
		if code, _ := get(t, srv.URL+"/orders/1", tok); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
		extra := fmt.Sprintf("  - name: r%d\n    match: {path: /r%d}\n    upstream: %q\n    auth: {mode: public}\n", i, i, up.URL)
		if err := g.Reload(context.Background(), w.file(t, "", extra)); err != nil {
			t.Fatal(err)
		}
	}
	if code, _ := get(t, srv.URL+"/orders/1", tok); code != 200 {
		t.Fatalf("after the reloads: %d", code)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("4 sequential requests across 3 reloads opened %d upstream connections, want 1", n)
	}
}

// A reload that removes a route removes its series; when the route comes
// back, its requests are counted in series that /metrics shows again.
func TestReloadRemovesTheSeriesOfRemovedRoutes(t *testing.T) {
	w := newWorld(t)
	status := fmt.Sprintf("  - name: status\n    match: {path: /status}\n    upstream: %q\n    auth: {mode: public}\n", w.upstream.URL)
	g, srv := start(t, w.file(t, "", status))
	m := g.Metrics()
	vectors := map[string]prometheus.Collector{
		"requests": m.Requests, "duration": m.RequestDuration,
		"upstream duration": m.UpstreamDuration, "decisions": m.AuthDecisions,
	}
	routesIn := func(c prometheus.Collector) map[string]bool {
		ch := make(chan prometheus.Metric, 100)
		go func() { c.Collect(ch); close(ch) }()
		seen := map[string]bool{}
		for metric := range ch {
			var pb dto.Metric
			if err := metric.Write(&pb); err != nil {
				t.Fatal(err)
			}
			for _, l := range pb.GetLabel() {
				if l.GetName() == "route" {
					seen[l.GetValue()] = true
				}
			}
		}
		return seen
	}
	if code, _ := get(t, srv.URL+"/status", ""); code != 200 {
		t.Fatalf("status: %d", code)
	}
	get(t, srv.URL+"/orders/1", w.token(w.corpKey, w.corp))
	for name, v := range vectors {
		if !routesIn(v)["status"] {
			t.Fatalf("%s has no series of the status route before the reload", name)
		}
	}

	if err := g.Reload(context.Background(), w.file(t, "", "")); err != nil {
		t.Fatal(err)
	}
	for name, v := range vectors {
		if got := routesIn(v); got["status"] || !got["orders"] {
			t.Errorf("after removing the status route, %s has series of %v, want orders only", name, got)
		}
	}

	if err := g.Reload(context.Background(), w.file(t, "", status)); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, srv.URL+"/status", ""); code != 200 {
		t.Fatalf("status after it came back: %d", code)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("status", "GET", "200", "proxy")); got != 1 {
		t.Errorf("requests_total of the route that came back = %v, want 1", got)
	}
}
