package proxy

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/remote"
)

// Transports are the transports of routes whose upstream_protocol or tls
// is not the default, one per distinct policy.Transport, kept across
// reloads as the shared default transport is (gateway.New makes one of
// each for the gateway's life): a reload that keeps a route's settings
// keeps its idle connections, and routes with the same settings share
// them. A transport is made again when a file it was built from changed
// (its ca_file, read at each Routes; the client certificate is read at
// each handshake anyway), so that a reload picks up a rotated CA.
//
// A transport no route uses any more stays in the cache: its idle
// connections close after the idle timeout (NewTransport's), and what is
// left is a few hundred bytes per distinct setting ever configured.
type Transports struct {
	mu sync.Mutex
	m  map[transportKey]http.RoundTripper
}

// transportKey is a route's transport settings and the digest of its
// ca_file, since the same path may hold other CAs after a reload.
type transportKey struct {
	t  policy.Transport
	ca string // remote.CADigest
}

// NewTransports returns an empty cache.
func NewTransports() *Transports { return &Transports{m: map[transportKey]http.RoundTripper{}} }

// Routes returns the transports of table's routes, by policy.Route.Index:
// nil for a route on the default (shared) transport. Its errors name the
// route and the file, for a reload to refuse.
func (ts *Transports) Routes(table *policy.Table) ([]http.RoundTripper, error) {
	var out []http.RoundTripper
	// Routes alike share one look-up: a ca_file is read once per reload,
	// not once per route that names it.
	seen := map[policy.Transport]http.RoundTripper{}
	for _, r := range table.Routes() {
		if r.Transport == (policy.Transport{}) {
			continue
		}
		t, ok := seen[r.Transport]
		if !ok {
			var err error
			if t, err = ts.get(r.Transport); err != nil {
				return nil, fmt.Errorf("routes[%d] (%s): %w", r.Index, r.Name, err)
			}
			seen[r.Transport] = t
		}
		if r.Index >= len(out) {
			out = append(out, make([]http.RoundTripper, r.Index+1-len(out))...)
		}
		out[r.Index] = t
	}
	return out, nil
}

func (ts *Transports) get(t policy.Transport) (http.RoundTripper, error) {
	k := transportKey{t: t}
	if t.TLS.CAFile != "" {
		digest, err := remote.CADigest(t.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.%w", err)
		}
		k.ca = digest
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if rt, ok := ts.m[k]; ok {
		return rt, nil
	}
	rt, err := newRouteTransport(t)
	if err != nil {
		return nil, err
	}
	ts.m[k] = rt
	return rt, nil
}

// newRouteTransport is NewTransport with a route's protocol and TLS. The
// TLS files are read by remote.TLSConfig, the one recipe of client TLS
// files (the issuers' clients use it too).
func newRouteTransport(t policy.Transport) (*http.Transport, error) {
	tr := NewTransport()
	tc, err := remote.TLSConfig(t.TLS.CAFile, t.TLS.CertFile, t.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.%w", err)
	}
	tc.ServerName = t.TLS.ServerName
	// Allowed by config only with insecure_skip_verify_acknowledged, and
	// warned at every load.
	tc.InsecureSkipVerify = t.TLS.InsecureSkipVerify // #nosec G402
	tr.TLSClientConfig = tc
	var p http.Protocols
	switch t.Protocol {
	case policy.HTTP1:
		p.SetHTTP1(true)
	case policy.H2C:
		// Prior knowledge: an http:// upstream is spoken to in HTTP/2
		// from the first byte, with no Upgrade (which would need a
		// request that has no body).
		p.SetUnencryptedHTTP2(true)
	default:
		p.SetHTTP1(true)
		p.SetHTTP2(true)
	}
	tr.Protocols = &p
	return tr, nil
}
