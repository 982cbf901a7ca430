package config

import (
	"net/url"
	"strings"
)

// upstreamTransport checks how a route reaches its upstream: the protocol,
// and TLS settings only where there is TLS to set. Whether the files hold
// certificates is found when the gateway builds its transports (it reads
// them then, as it reads an issuer's ca_file): this package reads no key.
func (v *validator) upstreamTransport(p string, r *Route) {
	// A URL that upstream refused says nothing about its scheme.
	u, err := url.Parse(r.Upstream)
	known := err == nil && !v.broken(p+".upstream") && (u.Scheme == "http" || u.Scheme == "https")
	switch r.UpstreamProtocol {
	case ProtocolAuto, ProtocolHTTP1:
	case ProtocolH2C:
		if known && u.Scheme == "https" {
			v.errorf(p+".upstream_protocol", CodeConflict, "h2c is HTTP/2 without TLS, and the upstream is https: use auto, which speaks HTTP/2 over TLS to an upstream that offers it (gRPC servers do)")
		}
	default:
		v.errorf(p+".upstream_protocol", CodeUnknownValue, "%q is not a protocol: use auto, http1 or h2c", r.UpstreamProtocol)
	}

	t := r.TLS
	tp := p + ".tls"
	if known && u.Scheme == "http" && t.Enabled() {
		v.errorf(tp, CodeIgnored, "the upstream is http, so there is no TLS to configure: use an https upstream, or remove tls")
		return
	}
	v.clientTLS(tp, t, "the upstream's", "read and change every forwarded request, tokens and claim headers included")
}

// clientTLS checks a tls section with which the gateway connects to a
// server (a route's upstream, the rate-limit store): a client certificate
// comes with its key, server_name is a host name, and skipping verification
// needs its acknowledgement (and then makes ca_file meaningless). peer names
// the server in messages ("the upstream's", "Redis's"), risk says what an
// attacker on the path could do.
func (v *validator) clientTLS(tp string, t UpstreamTLS, peer, risk string) {
	v.certKeyPair(tp, t.CertFile, t.KeyFile, "for mutual TLS")
	if t.ServerName != "" {
		if err := CheckHost(t.ServerName); err != nil || strings.HasPrefix(t.ServerName, "*.") || strings.HasPrefix(t.ServerName, "[") {
			v.errorf(tp+".server_name", CodeBadHost, "%q is not a host name (no port, no wildcard): the name %s certificate is verified as", t.ServerName, peer)
		}
	}
	switch {
	case t.InsecureSkipVerify && !t.InsecureSkipVerifyAcknowledged:
		v.errorf(tp+".insecure_skip_verify", CodeInsecureTLS, "accepts any certificate, so anyone on the network path can %s; give %s CA in ca_file instead, or, if this is really meant, also set insecure_skip_verify_acknowledged: true", risk, peer)
	case t.InsecureSkipVerify:
		if t.CAFile != "" {
			v.errorf(tp+".ca_file", CodeIgnored, "insecure_skip_verify is set, so no CA is checked and this would be silently ignored: remove one of them")
		}
		v.warnf(tp+".insecure_skip_verify", CodeInsecureTLS, "%s certificate is not verified: anyone on the network path can %s", peer, risk)
	case t.InsecureSkipVerifyAcknowledged:
		v.errorf(tp+".insecure_skip_verify_acknowledged", CodeIgnored, "acknowledges insecure_skip_verify, which is not set: remove it")
	}
}

// certKeyPair checks that the tls section at tp sets cert_file and key_file
// together; purpose says what the pair is for ("for mutual TLS").
func (v *validator) certKeyPair(tp, certFile, keyFile, purpose string) {
	switch {
	case certFile != "" && keyFile == "":
		v.errorf(tp+".key_file", CodeRequired, "cert_file is set but key_file is not: set both %s, or neither", purpose)
	case certFile == "" && keyFile != "":
		v.errorf(tp+".cert_file", CodeRequired, "key_file is set but cert_file is not: set both %s, or neither", purpose)
	}
}
