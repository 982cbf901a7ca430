package remote_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
	"github.com/portcullis/portcullis/remote"
)

// mtlsServer requires a client certificate from p's CA and answers with the
// client certificate's common name and the X-Api-Key header it got.
func mtlsServer(t *testing.T, p *testpki.PKI) *httptest.Server {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName+" "+r.Header.Get("X-Api-Key"))
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.Issue(t, "server", true)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// An identity's client trusts its CA file only, shows its client
// certificate, sends its headers, and picks up a certificate rotated in
// place from its next connection on.
func TestIdentityClient(t *testing.T) {
	p := testpki.New(t)
	srv := mtlsServer(t, p)
	certFile, keyFile := p.Files(t, "client", p.Issue(t, "gateway-1", false))
	id := remote.Identity{CAFile: p.CAFile, CertFile: certFile, KeyFile: keyFile, Headers: remote.HeaderLines(map[string]string{"x-api-key": "k1"})}
	c, err := remote.NewClient(id, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := get(t, c, srv.URL); err != nil || got != "gateway-1 k1" {
		t.Fatalf("mutual TLS with headers: %q, %v", got, err)
	}

	// Rotated in place: the next connection presents the new certificate.
	p.Files(t, "client", p.Issue(t, "gateway-2", false))
	c.CloseIdleConnections()
	if got, err := get(t, c, srv.URL); err != nil || got != "gateway-2 k1" {
		t.Fatalf("after rotation: %q, %v, want the new certificate", got, err)
	}

	// Caught mid-rotation (a certificate without its key yet): the last
	// pair read is shown, and the next one read once both files are new.
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\ntorn"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.CloseIdleConnections()
	if got, err := get(t, c, srv.URL); err != nil || got != "gateway-2 k1" {
		t.Fatalf("with a torn pair: %q, %v, want the last pair read", got, err)
	}
	p.Files(t, "client", p.Issue(t, "gateway-3", false))
	c.CloseIdleConnections()
	if got, err := get(t, c, srv.URL); err != nil || got != "gateway-3 k1" {
		t.Fatalf("after the rotation ended: %q, %v, want the new certificate", got, err)
	}

	noCert, err := remote.NewClient(remote.Identity{CAFile: p.CAFile}, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, noCert, srv.URL); err == nil {
		t.Error("a client without a certificate was let in")
	}
	system, err := remote.NewClient(remote.Identity{CertFile: certFile, KeyFile: keyFile}, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, system, srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("the system's CAs trusted a private CA's server: %v", err)
	}
}

func TestTLSConfigRefusesBrokenFiles(t *testing.T) {
	p := testpki.New(t)
	certFile, keyFile := p.Files(t, "client", p.Issue(t, "gw", false))
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	for name, args := range map[string][3]string{
		"a CA file that does not exist": {filepath.Join(t.TempDir(), "none.pem"), "", ""},
		"a CA file without PEM":         {notPEM, "", ""},
		"a certificate without its key": {"", certFile, ""},
		"a key that is not the cert's":  {"", certFile, p.CAFile},
	} {
		if _, err := remote.TLSConfig(args[0], args[1], args[2]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := remote.TLSConfig(p.CAFile, certFile, keyFile); err != nil {
		t.Errorf("a good set of files: %v", err)
	}
}

// ReadCA makes an identity whose CA file holds other CAs a different
// value, and one whose file holds the same bytes an equal value, so that a
// reload replaces a client exactly when its trust changed.
func TestReadCA(t *testing.T) {
	p1, p2 := testpki.New(t), testpki.New(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	write := func(from string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func() remote.Identity {
		id, err := remote.Identity{CAFile: caFile}.ReadCA()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	write(p1.CAFile)
	first := read()
	write(p1.CAFile)
	if again := read(); again != first {
		t.Error("the same CA file written again makes a different identity")
	}
	write(p2.CAFile)
	if other := read(); other == first {
		t.Error("a CA file rewritten with another CA makes the same identity")
	}
	if id, err := (remote.Identity{}).ReadCA(); err != nil || id != (remote.Identity{}) {
		t.Errorf("no CA file: %+v, %v; want the identity unchanged", id, err)
	}
	os.Remove(caFile)
	if _, err := (remote.Identity{CAFile: caFile}).ReadCA(); err == nil || !strings.HasPrefix(err.Error(), "ca_file: ") {
		t.Errorf("a CA file that is gone: %v, want an error naming ca_file", err)
	}
}
