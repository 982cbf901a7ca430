package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
	"github.com/portcullis/portcullis/metrics"
)

// servedSerial does a verifying TLS handshake with addr, trusting roots,
// and returns the serial of the certificate it was shown.
func servedSerial(addr string, roots *x509.CertPool) (*big.Int, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// A reload that finds an expired certificate under the files (a Secret
// restored from a backup, a renewal that wrote the old pair back) keeps
// the certificate being served: the expired one would fail every client's
// handshake. Before, it was served from the next handshake on.
func TestCertificateReloadRefusesAnExpiredCertificate(t *testing.T) {
	p := testpki.New(t)
	roots := x509.NewCertPool()
	roots.AddCert(p.CA)
	good := p.Issue(t, "portcullis", true)
	certFile, keyFile := p.Files(t, "tls", good)
	c, err := loadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{log: zap.NewNop(), metrics: metrics.New()}
	g.cert.Store(c)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", c.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	goodLeaf, _ := x509.ParseCertificate(good.Certificate[0])
	if got, err := servedSerial(ln.Addr().String(), roots); err != nil || got.Cmp(goodLeaf.SerialNumber) != 0 {
		t.Fatalf("before the reload: serial %v, %v", got, err)
	}

	// The same files, rewritten in place with a pair that expired a
	// minute ago (its key is its own: it loads).
	expired := p.IssueValid(t, "portcullis", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Minute))
	p.Files(t, "tls", expired)
	err = g.ReloadCertificate()
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("ReloadCertificate of an expired pair: %v, want an error saying it expired", err)
	}
	got, err := servedSerial(ln.Addr().String(), roots)
	if err != nil {
		t.Fatalf("after the reload a verifying client's handshake fails: %v", err)
	}
	if got.Cmp(goodLeaf.SerialNumber) != 0 {
		t.Errorf("after the reload serial %v is served, want the valid %v", got, goodLeaf.SerialNumber)
	}

	// A valid pair written next is taken as before.
	next := p.Issue(t, "portcullis", true)
	p.Files(t, "tls", next)
	if err := g.ReloadCertificate(); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(next.Certificate[0])
	if got, err := servedSerial(ln.Addr().String(), roots); err != nil || got.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("after a valid pair: serial %v, %v; want %v", got, err, leaf.SerialNumber)
	}
}
