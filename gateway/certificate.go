package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// certificate is the proxy listener's certificate and key (server.tls). The
// listener asks for it at every handshake (tls.Config.GetCertificate), so
// that a reload swaps it under open connections without closing the
// listener: a handshake in progress finishes with the pair it was given,
// the next one gets the new pair. The files are the ones the listener was
// opened with; a configuration reload that names other files needs a
// restart (needsRestart), like every other listener setting.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the pair for the first time.
func loadCertificate(certFile, keyFile string) (*certificate, error) {
	pair, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c := &certificate{certFile: certFile, keyFile: keyFile}
	c.current.Store(pair)
	return c, nil
}

// loadKeyPair reads a PEM chain and its key and checks that they belong
// together. tls.LoadX509KeyPair fills in Leaf, which the log lines and the
// expiry gauge read.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if pair.Leaf == nil {
		return nil, errors.New("the certificate chain has no leaf")
	}
	return &pair, nil
}

// get is the listener's tls.Config.GetCertificate.
func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// tlsConfig is the proxy listener's TLS configuration: TLS 1.2 at least,
// and Go's default cipher suites and key exchanges otherwise (README,
// Production/TLS). NextProtos is left to http.Server.ServeTLS, which offers
// what the server's Protocols allow (h2, http/1.1).
func (c *certificate) tlsConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.get, MinVersion: tls.VersionTLS12}
}

// ReloadCertificate reads the proxy listener's certificate and key again,
// from the files it was opened with, and serves the new pair from the next
// handshake on; connections already open keep theirs. A pair that does not
// load (a file missing or half-written, a key that is not the
// certificate's), or whose certificate has expired, changes nothing: the
// error is logged and returned, and the pair being served stays. Both
// outcomes are counted in portcullis_tls_certificate_reloads_total, apart
// from configuration reloads. Without server.tls, or before Serve has
// opened the listener, it does nothing.
func (g *Gateway) ReloadCertificate() error {
	c := g.cert.Load()
	if c == nil {
		return nil
	}
	old := c.current.Load()
	pair, err := loadKeyPair(c.certFile, c.keyFile)
	if err == nil && time.Now().After(pair.Leaf.NotAfter) {
		// A pair that expired (a Secret restored from a backup, a
		// renewal that wrote the old certificate back) would fail every
		// client's handshake from the next one on: keep the one served.
		err = fmt.Errorf("the certificate (serial %s) expired at %s", pair.Leaf.SerialNumber, pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if err != nil {
		err = fmt.Errorf("server.tls: %w", err)
		g.log.Error("TLS certificate reload refused; the certificate being served stays",
			zap.String("cert_file", c.certFile), zap.String("key_file", c.keyFile),
			zap.String("serial", old.Leaf.SerialNumber.String()), zap.Error(err))
		g.metrics.TLS.Reloaded(err, old.Leaf.NotAfter)
		return err
	}
	c.current.Store(pair)
	g.metrics.TLS.Reloaded(nil, pair.Leaf.NotAfter)
	g.log.Info("TLS certificate reloaded",
		zap.String("cert_file", c.certFile),
		zap.String("subject", pair.Leaf.Subject.String()),
		zap.String("serial", pair.Leaf.SerialNumber.String()),
		zap.String("previous_serial", old.Leaf.SerialNumber.String()),
		zap.Time("not_after", pair.Leaf.NotAfter))
	return nil
}
