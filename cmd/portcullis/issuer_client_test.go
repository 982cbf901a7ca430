package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
	"github.com/portcullis/portcullis/token/tokentest"
)

// An issuer behind mutual TLS with a private CA and a required header: the
// gateway fetches its keys with the configured CA file, client certificate
// and header, and verifies its tokens; without them the IdP refuses it and
// the gateway never gets ready.
func TestIssuerMutualTLSAndHeaders(t *testing.T) {
	p := testpki.New(t)
	key := tokentest.RSA("mtls", 2048)
	var fetches, refused atomic.Int64
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	idp := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "s3cret-key" {
			refused.Add(1)
			http.Error(w, "no api key", http.StatusForbidden)
			return
		}
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(tokentest.JWKS(key))
	}))
	idp.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.Issue(t, "idp", true)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool,
	}
	idp.StartTLS()
	defer idp.Close()
	certFile, keyFile := p.Files(t, "gateway", p.Issue(t, "gateway", false))
	up := gatewaytest.NewUpstream(t)
	render := func(tlsBlock string) func(listen, admin string) string {
		return func(listen, admin string) string {
			return fmt.Sprintf(`
server: {listen: %q, admin_listen: %q}
issuers:
  - name: private
    issuer: "https://idp.internal/"
    jwks_uri: %q
    audiences: [api]
    algorithms: [RS256]
%s
routes:
  - name: r
    match: {path_prefix: /}
    upstream: %q
`, listen, admin, idp.URL+"/jwks", tlsBlock, up.URL)
		}
	}
	t.Run("with the CA, the client certificate and the header the keys load", func(t *testing.T) {
		g := startGateway(t, render(fmt.Sprintf(`    tls: {ca_file: %q, cert_file: %q, key_file: %q}
    headers: {X-Api-Key: s3cret-key}`, p.CAFile, certFile, keyFile)))
		waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 10*time.Second)
		tok := key.Sign(tokentest.Standard("https://idp.internal/", "api", "alice", "", time.Hour))
		if res := do(t, "GET", g.URL("/x"), map[string]string{"Authorization": tokentest.Bearer(tok)}); res.StatusCode != http.StatusOK {
			t.Fatalf("a token of the mutual-TLS issuer: %d %s", res.StatusCode, res.body)
		}
		if fetches.Load() == 0 {
			t.Error("the IdP served no key set")
		}
		checkNoSecret(t, "the log", g.Stdout()+g.Stderr(), "s3cret-key")
	})
	t.Run("without a client certificate the IdP refuses the gateway", func(t *testing.T) {
		served := fetches.Load()
		g := startGateway(t, render(fmt.Sprintf(`    tls: {ca_file: %q}
    headers: {X-Api-Key: s3cret-key}`, p.CAFile)))
		refusedFetch(t, g, "certificate")
		if res := do(t, "GET", g.AdminURL("/readyz"), nil); res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d without a client certificate, want 503", res.StatusCode)
		}
		if n := fetches.Load(); n != served {
			t.Errorf("the IdP served %d key sets to a gateway without a client certificate", n-served)
		}
	})
	t.Run("without the CA file the IdP's certificate is not trusted", func(t *testing.T) {
		served := fetches.Load()
		g := startGateway(t, render(fmt.Sprintf(`    tls: {cert_file: %q, key_file: %q}
    headers: {X-Api-Key: s3cret-key}`, certFile, keyFile)))
		refusedFetch(t, g, "certificate signed by unknown authority")
		if res := do(t, "GET", g.AdminURL("/readyz"), nil); res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d with an untrusted IdP certificate, want 503", res.StatusCode)
		}
		if n := fetches.Load(); n != served {
			t.Errorf("the IdP served %d key sets to a gateway that does not trust its certificate", n-served)
		}
	})
}

// refusedFetch waits until g's log says that a key-set fetch failed with
// an error holding why: until then, /readyz is 503 whatever the TLS
// settings do, so a check made earlier would prove nothing.
func refusedFetch(t *testing.T, g *gatewaytest.GatewayProcess, why string) {
	t.Helper()
	eventually(t, 10*time.Second, "a key-set fetch failing with "+why, func() (bool, string) {
		return strings.Contains(g.Stderr(), why), gatewaytest.Tail(g.Stderr(), 10)
	})
}

// HTTP_PROXY (and HTTPS_PROXY, NO_PROXY) from the environment carry the
// gateway's calls to an identity provider: here a proxy on loopback serves
// the key set of a host that does not resolve.
func TestIssuerCallsHonourTheProxyEnvironment(t *testing.T) {
	key := tokentest.RSA("proxied", 2048)
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Method + " " + r.URL.String())
		if r.URL.String() != "http://idp.example.test/jwks" {
			http.Error(w, "unexpected", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(tokentest.JWKS(key))
	}))
	defer proxy.Close()
	up := gatewaytest.NewUpstream(t)
	env := append(baseEnv(), "HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
	g := gatewaytest.StartGatewayProcess(t, binary, env, func(listen, admin string) string {
		return fmt.Sprintf(`
server: {listen: %q, admin_listen: %q}
issuers:
  - name: proxied
    issuer: "http://idp.example.test/"
    jwks_uri: "http://idp.example.test/jwks"
    audiences: [api]
    algorithms: [RS256]
routes:
  - name: r
    match: {path_prefix: /}
    upstream: %q
`, listen, admin, up.URL)
	})
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 10*time.Second)
	if got, _ := seen.Load().(string); got != "GET http://idp.example.test/jwks" {
		t.Errorf("the proxy saw %q, want the key set's absolute URL", got)
	}
	tok := key.Sign(tokentest.Standard("http://idp.example.test/", "api", "alice", "", time.Hour))
	if res := do(t, "GET", g.URL("/x"), map[string]string{"Authorization": tokentest.Bearer(tok)}); res.StatusCode != http.StatusOK {
		t.Errorf("a token whose keys came through the proxy: %d %s", res.StatusCode, res.body)
	}
}
