package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/token/tokentest"
)

// These tests are internal because the introspection client and the
// revocation list a reload keeps or replaces are not reachable from
// outside; gatewaytest, which imports this package, cannot be used here.

// privateIdP is an identity provider on loopback TLS with a certificate of
// a private CA, serving a key set, an introspection endpoint and a
// revocation list. The test can make it present another certificate, as an
// IdP moved to a new CA does.
type privateIdP struct {
	*httptest.Server
	cert atomic.Pointer[tls.Certificate]
}

func newPrivateIdP(t *testing.T, c tls.Certificate) *privateIdP {
	t.Helper()
	key := tokentest.EC("k1", "ES256")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(tokentest.JWKS(key))
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"active": false}`)
	})
	mux.HandleFunc("GET /revoked", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"entries": []}`)
	})
	idp := &privateIdP{Server: httptest.NewUnstartedServer(mux)}
	idp.cert.Store(&c)
	// The certificate is chosen at each handshake, so that serve can
	// replace it; httptest's own certificate is never offered.
	idp.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{Certificates: []tls.Certificate{*idp.cert.Load()}}, nil
	}}
	// Handshakes refused on purpose are not worth a line of test output.
	idp.Config.ErrorLog = log.New(io.Discard, "", 0)
	idp.StartTLS()
	t.Cleanup(idp.Close)
	return idp
}

// serve makes the IdP present c from now on. Open connections are closed,
// as a restarted IdP's are, so that the next call makes a handshake.
func (idp *privateIdP) serve(c tls.Certificate) {
	idp.cert.Store(&c)
	idp.CloseClientConnections()
}

// privateIssuerConfig is a file whose one issuer is idp, trusted through
// caFile, with a key set, introspection and a revocation list.
func privateIssuerConfig(t *testing.T, idp *privateIdP, caFile string) *config.Config {
	t.Helper()
	t.Setenv("PORTCULLIS_TEST_INTROSPECTION_SECRET", "s3cret")
	doc := fmt.Sprintf(`
issuers:
  - name: private
    issuer: "https://idp.internal/"
    jwks_uri: %q
    audiences: [api]
    algorithms: [ES256]
    tls: {ca_file: %q}
    introspection:
      client_id: gateway
      client_secret_env: PORTCULLIS_TEST_INTROSPECTION_SECRET
      endpoint: %q
    revocation: {uri: %q}
routes:
  - name: r
    match: {path_prefix: /}
    upstream: "http://127.0.0.1:1"
`, idp.URL+"/jwks", caFile, idp.URL+"/introspect", idp.URL+"/revoked")
	cfg, err := config.Parse([]byte(doc), "gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startPrivateWithCAFile starts a gateway whose issuer trusts a CA of its
// own through a ca_file, in front of an IdP that the CA certified.
func startPrivateWithCAFile(t *testing.T) (*testpki.PKI, *privateIdP, string, *Gateway) {
	t.Helper()
	ca := testpki.New(t)
	idp := newPrivateIdP(t, ca.Issue(t, "idp", true))
	caFile := filepath.Join(t.TempDir(), "idp-ca.pem")
	writeFile(t, caFile, readFile(t, ca.CAFile))
	return ca, idp, caFile, startPrivate(t, privateIssuerConfig(t, idp, caFile))
}

// startPrivate starts a gateway on cfg and waits for its keys and list.
func startPrivate(t *testing.T, cfg *config.Config) *Gateway {
	t.Helper()
	return startPrivateLogged(t, cfg, zap.NewNop())
}

// startPrivateLogged is startPrivate with the gateway's logger.
func startPrivateLogged(t *testing.T, cfg *config.Config, log *zap.Logger) *Gateway {
	t.Helper()
	g, err := New(cfg, log, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g.Start(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := g.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return g
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// calls makes one call of each client of g's issuer (key set, introspection,
// revocation list) and returns what failed.
func calls(ctx context.Context, g *Gateway, token string) []error {
	st := g.state.Load()
	var errs []error
	if err := g.KeySet("private").Refresh(ctx); err != nil {
		errs = append(errs, fmt.Errorf("key set: %w", err))
	}
	if _, err := st.introspectors[0].client.Introspect(ctx, token); err != nil {
		errs = append(errs, fmt.Errorf("introspection: %w", err))
	}
	if err := st.lists[0].list.Refresh(ctx); err != nil {
		errs = append(errs, fmt.Errorf("revocation list: %w", err))
	}
	return errs
}

// An IdP moves to a new private CA and the operator rewrites the issuer's
// ca_file in place and reloads: the key set's, introspection's and the
// revocation list's calls trust the new CA, and no longer the old one.
func TestIssuerCAFileRewrittenInPlaceIsReadAtReload(t *testing.T) {
	ca1, ca2 := testpki.New(t), testpki.New(t)
	idp := newPrivateIdP(t, ca1.Issue(t, "idp", true))
	caFile := filepath.Join(t.TempDir(), "idp-ca.pem")
	writeFile(t, caFile, readFile(t, ca1.CAFile))
	g := startPrivate(t, privateIssuerConfig(t, idp, caFile))
	ctx := context.Background()
	if errs := calls(ctx, g, "opaque-1"); len(errs) > 0 {
		t.Fatalf("with the CA that signed the IdP's certificate: %v", errs)
	}

	idp.serve(ca2.Issue(t, "idp", true))
	writeFile(t, caFile, readFile(t, ca2.CAFile))
	if err := g.Reload(ctx, privateIssuerConfig(t, idp, caFile)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	for _, err := range calls(ctx, g, "opaque-2") {
		t.Errorf("after ca_file was rewritten with the new CA and reloaded: %v", err)
	}

	// The old CA is gone from the file, so it is no longer trusted.
	idp.serve(ca1.Issue(t, "idp", true))
	errs := calls(ctx, g, "opaque-3")
	if len(errs) != 3 {
		t.Errorf("a certificate of the CA removed from ca_file was trusted by %d of 3 clients (errors: %v)", 3-len(errs), errs)
	}
	for _, err := range errs {
		if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("a call to the IdP with the removed CA's certificate: %v, want an unknown authority", err)
		}
	}
}

// A reload whose issuer's ca_file holds what it held before, even written
// again, keeps the issuer's clients: its keys, its cached introspection
// answers and its list are not fetched anew.
func TestIssuerCAFileUnchangedKeepsClientsAtReload(t *testing.T) {
	ca, idp, caFile, g := startPrivateWithCAFile(t)
	before := g.state.Load()

	writeFile(t, caFile, readFile(t, ca.CAFile)) // the same bytes, a new mtime
	if err := g.Reload(context.Background(), privateIssuerConfig(t, idp, caFile)); err != nil {
		t.Fatal(err)
	}
	after := g.state.Load()
	if after.issuers[0] != before.issuers[0] {
		t.Error("the key set was replaced although ca_file did not change")
	}
	if after.introspectors[0] != before.introspectors[0] {
		t.Error("the introspection client was replaced although ca_file did not change")
	}
	if after.lists[0] != before.lists[0] {
		t.Error("the revocation list was replaced although ca_file did not change")
	}
}

// An issuer's ca_file that cannot be read at a reload fails the reload, as
// a configuration error does, and the running configuration stays.
func TestIssuerCAFileUnreadableFailsReload(t *testing.T) {
	_, idp, caFile, g := startPrivateWithCAFile(t)
	before := g.state.Load()

	if err := os.Remove(caFile); err != nil {
		t.Fatal(err)
	}
	err := g.Reload(context.Background(), privateIssuerConfig(t, idp, caFile))
	if err == nil || !strings.Contains(err.Error(), "issuers.private.tls.ca_file") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reload with the issuer's ca_file removed: %v, want an error naming issuers.private.tls.ca_file", err)
	}
	if g.state.Load() != before {
		t.Error("the failed reload replaced the running state")
	}
}
