package policy

import (
	"fmt"

	"github.com/portcullis/portcullis/config"
)

// Protocol is how requests travel to a route's upstream.
type Protocol uint8

const (
	// Auto is HTTP/1.1, or HTTP/2 to an https upstream that offers it by
	// ALPN: the shared transport's behaviour, and the zero value.
	Auto Protocol = iota
	// HTTP1 is HTTP/1.1 only, over TLS too.
	HTTP1
	// H2C is cleartext HTTP/2 with prior knowledge (gRPC without TLS).
	H2C
)

func (p Protocol) String() string {
	switch p {
	case HTTP1:
		return config.ProtocolHTTP1
	case H2C:
		return config.ProtocolH2C
	}
	return config.ProtocolAuto
}

// Transport is how a route's upstream is reached: its protocol and TLS.
// It is a comparable value: routes with equal ones share a transport (and
// its connections), and a reload that keeps one keeps them too. The zero
// value is the gateway's shared default transport.
type Transport struct {
	Protocol Protocol
	TLS      UpstreamTLS
}

// UpstreamTLS is a route's tls section, as proxy builds a client TLS
// configuration from it (the files are read there, not here).
type UpstreamTLS struct {
	CAFile, CertFile, KeyFile string
	ServerName                string
	// InsecureSkipVerify accepts any certificate; config allows it only
	// when the route acknowledges it.
	InsecureSkipVerify bool
}

// compileTransport reads a route's upstream_protocol and tls.
func compileTransport(c *config.Route) (Transport, error) {
	t := Transport{TLS: UpstreamTLS{
		CAFile:             c.TLS.CAFile,
		CertFile:           c.TLS.CertFile,
		KeyFile:            c.TLS.KeyFile,
		ServerName:         c.TLS.ServerName,
		InsecureSkipVerify: c.TLS.InsecureSkipVerify,
	}}
	switch c.UpstreamProtocol {
	case config.ProtocolAuto, "":
	case config.ProtocolHTTP1:
		t.Protocol = HTTP1
	case config.ProtocolH2C:
		t.Protocol = H2C
	default:
		return Transport{}, fmt.Errorf("upstream_protocol: unknown protocol %q", c.UpstreamProtocol)
	}
	if t.TLS.InsecureSkipVerify && !c.TLS.InsecureSkipVerifyAcknowledged {
		return Transport{}, fmt.Errorf("tls.insecure_skip_verify: not acknowledged")
	}
	return t, nil
}
