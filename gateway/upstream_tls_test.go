package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
	"github.com/portcullis/portcullis/metrics"
)

// tlsUpstream serves on loopback over TLS with cert, answering with the
// protocol it was spoken to in and the client certificate it was shown.
func tlsUpstream(t *testing.T, cert tls.Certificate, clientCAs *x509.CertPool, h2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := "-"
		if len(r.TLS.PeerCertificates) > 0 {
			client = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		io.WriteString(w, r.Proto+" "+client)
	}))
	srv.EnableHTTP2 = h2
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCAs != nil {
		srv.TLS.ClientCAs, srv.TLS.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestUpstreamTLS(t *testing.T) {
	pki := testpki.New(t)
	cas := x509.NewCertPool()
	cas.AddCert(pki.CA)
	plain := tlsUpstream(t, pki.Issue(t, "plain", true), nil, true)
	mutual := tlsUpstream(t, pki.Issue(t, "mutual", true), cas, false)
	named := tlsUpstream(t, pki.IssueFor(t, "orders.internal"), nil, false)
	certFile, keyFile := pki.Files(t, "gateway", pki.Issue(t, "gateway", false))

	g := gatewaytest.Options{Server: true}.StartYAML(t, `
routes:
  - name: private-ca
    match: {path_prefix: /private-ca}
    upstream: "`+plain.URL+`"
    tls: {ca_file: "`+pki.CAFile+`"}
    auth: {mode: public}
  - name: http1-only
    match: {path_prefix: /http1-only}
    upstream: "`+plain.URL+`"
    upstream_protocol: http1
    tls: {ca_file: "`+pki.CAFile+`"}
    auth: {mode: public}
  - name: system-cas
    match: {path_prefix: /system-cas}
    upstream: "`+plain.URL+`"
    auth: {mode: public}
  - name: mutual
    match: {path_prefix: /mutual}
    upstream: "`+mutual.URL+`"
    tls: {ca_file: "`+pki.CAFile+`", cert_file: "`+certFile+`", key_file: "`+keyFile+`"}
    auth: {mode: public}
  - name: mutual-without-cert
    match: {path_prefix: /mutual-without-cert}
    upstream: "`+mutual.URL+`"
    tls: {ca_file: "`+pki.CAFile+`", server_name: "127.0.0.1"}
    auth: {mode: public}
  - name: server-name
    match: {path_prefix: /server-name}
    upstream: "`+named.URL+`"
    tls: {ca_file: "`+pki.CAFile+`", server_name: orders.internal}
    auth: {mode: public}
  - name: address-name
    match: {path_prefix: /address-name}
    upstream: "`+named.URL+`"
    tls: {ca_file: "`+pki.CAFile+`"}
    auth: {mode: public}
  - name: insecure
    match: {path_prefix: /insecure}
    upstream: "`+named.URL+`"
    tls: {insecure_skip_verify: true, insecure_skip_verify_acknowledged: true}
    auth: {mode: public}
`)
	tests := []struct {
		name   string
		path   string
		status int
		body   string
	}{
		{"an upstream of a private CA is verified with ca_file, and spoken to in HTTP/2 when it offers it", "/private-ca", 200, "HTTP/2.0 -"},
		{"upstream_protocol http1 keeps to HTTP/1.1 over TLS", "/http1-only", 200, "HTTP/1.1 -"},
		{"without ca_file the private CA is not trusted", "/system-cas", 502, ""},
		{"mutual TLS shows the client certificate of cert_file and key_file", "/mutual", 200, "HTTP/1.1 gateway"},
		{"an upstream that requires a client certificate refuses a route without one", "/mutual-without-cert", 502, ""},
		{"server_name verifies the certificate as that name", "/server-name", 200, "HTTP/1.1 -"},
		{"without server_name the address dialled must be in the certificate", "/address-name", 502, ""},
		{"insecure_skip_verify, acknowledged, accepts any certificate", "/insecure", 200, "HTTP/1.1 -"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := http.Get(g.Server.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status || (tt.body != "" && string(body) != tt.body) {
				t.Errorf("%d %q, want %d %q", res.StatusCode, body, tt.status, tt.body)
			}
		})
	}

}

func TestUpstreamTLSFilesAreReadAtLoad(t *testing.T) {
	cfg := gatewaytest.ParseConfig(t, "gateway.yaml", `
routes:
  - name: r
    match: {path_prefix: /}
    upstream: "https://127.0.0.1:1"
    tls: {ca_file: "`+t.TempDir()+`/missing.pem"}
    auth: {mode: public}
`)
	_, err := gateway.New(cfg, zap.NewNop(), metrics.New())
	if err == nil || !strings.Contains(err.Error(), "routes[0] (r): tls.ca_file") {
		t.Fatalf("gateway.New: %v, want an error naming routes[0] and its ca_file", err)
	}
}
