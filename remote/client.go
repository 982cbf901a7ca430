package remote

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Identity is how the gateway presents itself to one identity provider:
// the CAs it trusts there, the client certificate it shows (mutual TLS),
// and headers every call carries (some providers want an API key or a
// tenant header even for their key set). It is a comparable value, so that
// a reload can tell whether a key set's or a list's client changed.
type Identity struct {
	CAFile string // PEM bundle: trust only these CAs ("": the system's)
	// CADigest is the SHA-256 of CAFile's content, hex, as ReadCA found it.
	// A client reads CAFile once, when it is built, so a bundle rewritten
	// under the same path (a CA added, or a distrusted one removed) must
	// make a different Identity, or a reload would keep the old trust.
	CADigest string
	CertFile string // client certificate chain, PEM ("": none)
	KeyFile  string // its private key, PEM
	// Headers are "Name: value" lines, sorted, one per header, so that
	// two identities with the same headers compare equal.
	Headers string
}

// ReadCA returns id with CADigest set from CAFile as it is now (id as it
// is when there is no CAFile). The gateway calls it for every issuer at
// each load and reload, so that a file that can no longer be read fails
// the reload rather than going unnoticed. NewClient reads the file again:
// one rewritten in between gives a client newer than its digest, which the
// next reload replaces, never an older one kept. The client certificate
// needs no digest: TLSConfig reads it again at each handshake. Its errors
// name the file.
func (id Identity) ReadCA() (Identity, error) {
	if id.CAFile == "" {
		return id, nil
	}
	digest, err := CADigest(id.CAFile)
	if err != nil {
		return Identity{}, err
	}
	id.CADigest = digest
	return id, nil
}

// CADigest is the SHA-256, in hex, of the CA file at path as it is now:
// what tells a reload that a bundle rewritten under the same path is
// another one (an issuer's clients, a route's transport). Its error names
// the file.
func CADigest(path string) (string, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("ca_file: %w", err)
	}
	sum := sha256.Sum256(pem)
	return hex.EncodeToString(sum[:]), nil
}

// HeaderLines turns a map of headers into Identity.Headers.
func HeaderLines(h map[string]string) string {
	lines := make([]string, 0, len(h))
	for name, v := range h {
		lines = append(lines, http.CanonicalHeaderKey(name)+": "+v)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TLSConfig builds the client TLS configuration of caFile, certFile and
// keyFile: TLS 1.2 at least, the CAs of caFile only (or the system's), and
// the client certificate, read from its files at each handshake that asks
// for one, so that a certificate rotated in place (a cert-manager Secret)
// is used from the next connection on. A pair that cannot be read at a
// handshake (caught between the writes of the two files, say) gives way to
// the last one read: the next handshake reads the files again, as the
// proxy listener keeps its last good pair. Its errors name the file.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile == "" && keyFile == "":
	case certFile == "" || keyFile == "":
		return nil, errors.New("cert_file and key_file go together")
	default:
		// Loaded once now, so that a wrong pair is an error at load time.
		first, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		var last atomic.Pointer[tls.Certificate]
		last.Store(&first)
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return last.Load(), nil
			}
			last.Store(&c)
			return &c, nil
		}
	}
	return cfg, nil
}

// NewClient returns the client of an identity: remote.Transport's phases
// and pool of idlePerHost, id's TLS and headers, the given timeout, and
// HTTPS_PROXY, HTTP_PROXY and NO_PROXY from the environment (as every
// client of the gateway's calls to identity providers honours them).
func NewClient(id Identity, idlePerHost int, timeout time.Duration) (*http.Client, error) {
	t := Transport(idlePerHost)
	tc, err := TLSConfig(id.CAFile, id.CertFile, id.KeyFile)
	if err != nil {
		return nil, err
	}
	t.TLSClientConfig = tc
	var rt http.RoundTripper = t
	if id.Headers != "" {
		h := http.Header{}
		for _, line := range strings.Split(id.Headers, "\n") {
			name, v, _ := strings.Cut(line, ": ")
			h.Add(name, v)
		}
		rt = &withHeaders{next: t, headers: h}
	}
	return &http.Client{Transport: rt, Timeout: timeout}, nil
}

// withHeaders adds an identity's headers to every request it carries that
// does not set them itself.
type withHeaders struct {
	next    http.RoundTripper
	headers http.Header
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (w *withHeaders) CloseIdleConnections() {
	if c, ok := w.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (w *withHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context()) // a RoundTripper must not modify its request
	for name, vals := range w.headers {
		// A header the call sets itself is part of what the call is:
		// introspection's client_secret_basic Authorization, its form's
		// Content-Type. A configured header replacing it would send the
		// IdP an API key in place of the client's credentials; it is only
		// added where the call has none (an API key on a key-set GET).
		if _, set := r.Header[name]; !set {
			r.Header[name] = vals
		}
	}
	return w.next.RoundTrip(r)
}
