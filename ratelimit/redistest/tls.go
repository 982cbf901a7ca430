package redistest

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
)

// TLSConfig is a client configuration that trusts the certificate of a
// server from StartTLS (nil for one from Start).
func (s *Server) TLSConfig() *tls.Config {
	if s.tlsCA == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.tlsCA, MinVersion: tls.VersionTLS12}
}

// writeCertificates makes a test CA (testpki) and a server certificate it
// signs for 127.0.0.1, written as PEM files, and returns the pool of the CA
// and the files of the CA, the certificate and its key.
func writeCertificates(t testing.TB) (pool *x509.CertPool, caFile, certFile, keyFile string) {
	t.Helper()
	pki := testpki.New(t)
	certFile, keyFile = pki.Files(t, "redis", pki.Issue(t, "127.0.0.1", true))
	pool = x509.NewCertPool()
	pool.AddCert(pki.CA)
	return pool, pki.CAFile, certFile, keyFile
}
