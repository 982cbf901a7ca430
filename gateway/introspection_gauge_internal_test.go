package gateway

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A reload that replaces an issuer's introspection client, and with it the
// cache, leaves the issuer's cache gauge at the new cache's size, not at
// the old one's count (both publish under the issuer's name).
func TestReloadThatReplacesAnIntrospectionClientRepublishesItsCacheSize(t *testing.T) {
	_, idp, caFile, g := startPrivateWithCAFile(t)
	before := g.state.Load()
	if _, err := before.introspectors[0].client.Introspect(context.Background(), "opaque-0123456789"); err != nil {
		t.Fatal(err)
	}
	gauge := g.metrics.Introspection.CacheEntries.WithLabelValues("private")
	if v := testutil.ToFloat64(gauge); v != 1 {
		t.Fatalf("cache gauge %v before the reload, want 1", v)
	}
	cfg := privateIssuerConfig(t, idp, caFile)
	cfg.Issuers[0].Introspection.MaxConcurrent = before.introspectors[0].source.MaxConcurrent + 1
	if err := g.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if g.state.Load().introspectors[0] == before.introspectors[0] {
		t.Fatal("the reload kept the client: the test measures nothing")
	}
	if v := testutil.ToFloat64(gauge); v != 0 {
		t.Errorf("portcullis_introspection_cache_entries{private} = %v after the client and its cache were replaced, want 0", v)
	}
}
