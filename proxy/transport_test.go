package proxy_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/proxy"
)

func transportTable(t *testing.T, caFile string) *policy.Table {
	t.Helper()
	cfg, err := config.Parse([]byte(`
routes:
  - name: default
    match: {path_prefix: /a}
    upstream: "http://127.0.0.1:1"
    auth: {mode: public}
  - name: grpc-1
    match: {path_prefix: /b}
    upstream: "http://127.0.0.1:2"
    upstream_protocol: h2c
    auth: {mode: public}
  - name: grpc-2
    match: {path_prefix: /c}
    upstream: "http://127.0.0.1:3"
    upstream_protocol: h2c
    auth: {mode: public}
  - name: private
    match: {path_prefix: /d}
    upstream: "https://127.0.0.1:4"
    tls: {ca_file: "`+caFile+`"}
    auth: {mode: public}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	table, err := policy.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func TestTransportsAreSharedAndKeptAcrossReloads(t *testing.T) {
	pki := testpki.New(t)
	ts := proxy.NewTransports()
	first, err := ts.Routes(transportTable(t, pki.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < 4 || first[0] != nil {
		t.Fatalf("transports %v: the default route must use the shared transport (nil)", first)
	}
	if first[1] == nil || first[1] != first[2] {
		t.Errorf("two h2c routes got different transports")
	}
	if first[3] == nil || first[3] == first[1] {
		t.Errorf("the TLS route shares the h2c routes' transport")
	}
	if p := first[1].(*http.Transport).Protocols; p == nil || !p.UnencryptedHTTP2() || p.HTTP1() {
		t.Errorf("h2c transport protocols %v, want unencrypted HTTP/2 only", p)
	}

	again, err := ts.Routes(transportTable(t, pki.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	if again[1] != first[1] || again[3] != first[3] {
		t.Errorf("a reload with the same settings made new transports: idle connections would be lost")
	}

	// The same ca_file path holding another CA is another transport.
	other := testpki.New(t)
	data, err := os.ReadFile(other.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pki.CAFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	rotated, err := ts.Routes(transportTable(t, pki.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	if rotated[3] == first[3] {
		t.Errorf("a reload after the CA file changed kept the transport built from the old CAs")
	}
	if rotated[1] != first[1] {
		t.Errorf("the h2c routes lost their transport when another route's CA changed")
	}

	if _, err := ts.Routes(transportTable(t, filepath.Join(t.TempDir(), "missing.pem"))); err == nil {
		t.Errorf("a missing ca_file was accepted")
	}
}
