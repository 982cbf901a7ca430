package gateway

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
	"github.com/portcullis/portcullis/introspect"
)

// A reload that changes an issuer's introspection.max_concurrent gives it a
// new introspection client, so that the new bound holds; one that changes
// nothing keeps the client and its cached answers (see
// TestIssuerCAFileUnchangedKeepsClientsAtReload). The issuer's cache gauge
// then shows the new, empty cache, not the old one's count (both publish
// under the issuer's name).
func TestIntrospectionMaxConcurrentChangedAtReloadReplacesTheClient(t *testing.T) {
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
		t.Fatal("the introspection client was kept although max_concurrent changed")
	}
	if v := testutil.ToFloat64(gauge); v != 0 {
		t.Errorf("portcullis_introspection_cache_entries{private} = %v after the client and its cache were replaced, want 0", v)
	}
}

// The gateway's logger reaches the introspection client: a failed call is
// a warning that names the issuer and the cause.
func TestIntrospectionFailuresAreLoggedWithTheIssuer(t *testing.T) {
	ca := testpki.New(t)
	idp := newPrivateIdP(t, ca.Issue(t, "idp", true))
	caFile := filepath.Join(t.TempDir(), "idp-ca.pem")
	writeFile(t, caFile, readFile(t, ca.CAFile))
	cfg := privateIssuerConfig(t, idp, caFile)
	cfg.Issuers[0].Introspection.Endpoint = idp.URL + "/moved" // 404
	core, logs := observer.New(zapcore.InfoLevel)
	g := startPrivateLogged(t, cfg, zap.New(core))

	_, err := g.state.Load().introspectors[0].client.Introspect(context.Background(), "opaque-0123456789")
	if !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	lines := logs.FilterMessageSnippet("introspection failed").All()
	if len(lines) != 1 {
		t.Fatalf("%d introspection failure lines, want 1", len(lines))
	}
	f := lines[0].ContextMap()
	if lines[0].Level != zapcore.WarnLevel || f["issuer"] != "private" || f["error"] != err.Error() {
		t.Errorf("line %v %q %v, want a warning with issuer private and error %q", lines[0].Level, lines[0].Message, f, err)
	}
}
