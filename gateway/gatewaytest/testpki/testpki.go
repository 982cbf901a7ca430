// Package testpki is a test certificate authority: a CA and the server and
// client certificates it signs, written to PEM files as an operator would
// have them. It is a package of its own, with no dependency on the gateway,
// so that the test helpers of the packages below the gateway (redistest)
// use the same CA as the gateway's tests.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a test CA that signs server certificates for 127.0.0.1 and client
// certificates, written to PEM files as an operator would have them: for
// tests of TLS listeners and of mutual TLS to identity providers.
type PKI struct {
	dir    string
	CA     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAFile string // the CA certificate, PEM
	serial int64
}

// New makes a CA, its certificate in CAFile.
func New(t testing.TB) *PKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &PKI{dir: t.TempDir(), CA: ca, caKey: key, serial: 1}
	p.CAFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *PKI) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Issue signs a certificate for cn; a server one is for 127.0.0.1.
func (p *PKI) Issue(t testing.TB, cn string, server bool) tls.Certificate {
	t.Helper()
	return p.issue(t, cn, server, nil)
}

// IssueFor signs a server certificate for the host name dns only (not for
// 127.0.0.1): for tests of a name verified other than the address dialled.
func (p *PKI) IssueFor(t testing.TB, dns string) tls.Certificate {
	t.Helper()
	return p.issue(t, dns, true, []string{dns})
}

// IssueValid is Issue for a server certificate valid from notBefore to
// notAfter only: for tests of certificates expired or not yet valid.
func (p *PKI) IssueValid(t testing.TB, cn string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	return p.issueValid(t, cn, true, nil, notBefore, notAfter)
}

func (p *PKI) issue(t testing.TB, cn string, server bool, dns []string) tls.Certificate {
	t.Helper()
	return p.issueValid(t, cn, server, dns, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func (p *PKI) issueValid(t testing.TB, cn string, server bool, dns []string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		if tmpl.DNSNames = dns; dns == nil {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Files writes c as name.pem and name-key.pem in the PKI's folder (again
// for the same name: a rotation in place) and returns their paths.
func (p *PKI) Files(t testing.TB, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", c.Certificate[0]), p.write(t, name+"-key.pem", "PRIVATE KEY", kder)
}
