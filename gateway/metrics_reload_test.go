package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// jwksDoc is issuer corp with the given jwks_uri (refreshed every second),
// extra issuers, and one public route.
func jwksDoc(t *testing.T, corpJWKS, extra string) string {
	up := gatewaytest.NewUpstream(t)
	return fmt.Sprintf(`issuers:
  - name: corp
    issuer: "https://corp.example"
    jwks_uri: %q
    algorithms: [ES256]
    refresh_interval: 1s
    min_refresh_interval: 1s
%s
routes:
  - name: open
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
`, corpJWKS, extra, up.URL)
}

// serveKeys serves a key set of n new keys.
func serveKeys(t *testing.T, n int) *httptest.Server {
	var keys []*tokentest.Key
	for i := range n {
		keys = append(keys, tokentest.EC(fmt.Sprintf("k-%d", i), "ES256"))
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tokentest.JWKS(keys...)) }))
	t.Cleanup(s.Close)
	return s
}

// A reload that replaces corp's key source while the old set's refresh is in
// flight: the cancelled fetch must not overwrite the new set's gauges nor
// count as a failed refresh.
func TestReloadCancelledFetchDoesNotRewriteGauges(t *testing.T) {
	var fetches atomic.Int64
	hanging := make(chan struct{}, 1)
	oldKey := tokentest.EC("old", "ES256")
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) == 1 {
			w.Write(tokentest.JWKS(oldKey))
			return
		}
		select {
		case hanging <- struct{}{}:
		default:
		}
		<-r.Context().Done() // every refresh hangs until cancelled
	}))
	defer slow.Close()
	g := gatewaytest.Options{}.StartYAML(t, jwksDoc(t, slow.URL, ""))
	select {
	case <-hanging:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh started")
	}
	fresh := serveKeys(t, 2)
	if err := g.Reload(context.Background(), gatewaytest.ParseConfig(t, "r.yaml", jwksDoc(t, fresh.URL, ""))); err != nil {
		t.Fatal(err)
	}
	// The old set's fetch ends, cancelled, on its own goroutine: time for
	// it to write what it would (it did, before the mend, within this).
	time.Sleep(300 * time.Millisecond)
	m := g.Metrics()
	if got := testutil.ToFloat64(m.JWKSKeys.WithLabelValues("corp")); got != 2 {
		t.Errorf("portcullis_jwks_keys{issuer=corp} = %v, want 2 (the new set's)", got)
	}
	if got := testutil.ToFloat64(m.JWKSRefresh.WithLabelValues("corp", "error")); got != 0 {
		t.Errorf("portcullis_jwks_refresh_total{corp,error} = %v: the reload's cancellation counted as a failure", got)
	}
}

// A reload refused because new keys did not load changes nothing, its
// gauges included: no key count of 0 (PortcullisJWKSNoKeys) for an issuer
// that was never configured, none over a running issuer's.
func TestRefusedReloadLeavesNoKeyGauges(t *testing.T) {
	good := serveKeys(t, 1)
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer dead.Close()
	// corp refreshes every 15m (the default), as in production.
	noRefresh := strings.NewReplacer("    refresh_interval: 1s\n", "", "    min_refresh_interval: 1s\n", "")
	g := gatewaytest.Options{}.StartYAML(t, noRefresh.Replace(jwksDoc(t, good.URL, "")))
	m := g.Metrics()
	reload := func(doc string) {
		doc = noRefresh.Replace(doc)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := g.Reload(ctx, gatewaytest.ParseConfig(t, "r.yaml", doc)); err == nil {
			t.Fatal("the reload was not refused")
		}
	}
	reload(jwksDoc(t, good.URL, fmt.Sprintf("  - {name: partner, issuer: \"https://p.example\", jwks_uri: %q, algorithms: [ES256]}", dead.URL)))
	if n, _ := testutil.GatherAndCount(m.Registry, "portcullis_jwks_keys"); n != 1 {
		t.Errorf("portcullis_jwks_keys has %d series after a refused reload, want 1: unconfigured partner = %v (PortcullisJWKSNoKeys fires on 0)",
			n, testutil.ToFloat64(m.JWKSKeys.WithLabelValues("partner")))
	}
	reload(jwksDoc(t, dead.URL, "")) // corp's source changed to a dead one
	if got := testutil.ToFloat64(m.JWKSKeys.WithLabelValues("corp")); got != 1 {
		t.Errorf("portcullis_jwks_keys{issuer=corp} = %v after a refused reload, want 1: corp still serves its key", got)
	}
}

// A reload that removes an issuer removes its cache gauges, the
// introspection cache's included; an issuer whose verification changed
// starts with an empty token cache, and its gauge says so.
func TestReloadCacheGauges(t *testing.T) {
	t.Setenv("REVIEW_SECRET", "s3cret")
	k := tokentest.EC("c-1", "ES256")
	corp := tokentest.NewIssuer(k)
	defer corp.Close()
	up := gatewaytest.NewUpstream(t)
	doc := func(aud, extra string) string {
		return fmt.Sprintf(`issuers:
  - {name: corp, issuer: %q, jwks_uri: %q, algorithms: [ES256], audiences: [%s]}
%s
routes:
  - {name: r, match: {path_prefix: /}, upstream: %q, auth: {mode: required, issuers: [corp]}}
`, corp.URL(), corp.JWKSURL(), aud, extra, up.URL)
	}
	opq := `  - name: opq
    issuer: "https://opq.example"
    discovery: false
    algorithms: [ES256]
    introspection: {client_id: gw, client_secret_env: REVIEW_SECRET, endpoint: "https://127.0.0.1:1/introspect"}`
	g := gatewaytest.Options{Server: true}.StartYAML(t, doc("api", opq))
	for _, sub := range []string{"a", "b", "c"} {
		if code, _ := get(t, g.Server.URL+"/x", k.Sign(tokentest.Standard(corp.URL(), "api", sub, "", time.Hour))); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if err := g.Reload(context.Background(), gatewaytest.ParseConfig(t, "r.yaml", doc("api, other", ""))); err != nil {
		t.Fatal(err)
	}
	m := g.Metrics()
	if n, _ := testutil.GatherAndCount(m.Registry, "portcullis_introspection_cache_entries"); n != 0 {
		t.Errorf("portcullis_introspection_cache_entries keeps %d series for removed issuer opq", n)
	}
	if got := testutil.ToFloat64(m.TokenCacheEntries.WithLabelValues("corp")); got != 0 {
		t.Errorf("portcullis_token_cache_entries{corp} = %v after corp's cache was emptied, want 0", got)
	}
}
