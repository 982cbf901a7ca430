// Package decision is the decision service: it lets an ingress that already
// proxies (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz over
// HTTP or gRPC) ask portcullis about a request instead of sending it
// through portcullis. Each wire shape is read into one plain value, the
// request it describes, which proxy.Handler.Decide runs through the very
// stages a proxied request goes through (path cleaning and its refusals,
// route match, bearer token, verification, authorization): the same YAML,
// the same metrics (via="decision"), the same refusals.
//
// It is a package of its own because it owns the wire shapes and the trust
// in their callers, which proxy (the request path) and gateway (assembly)
// must not know. It must never believe a described request from a caller
// outside server.trusted_proxies (a client that reaches the decision
// endpoint directly could make a protected request look like a public
// one), never guess at a description that is missing, repeated or
// malformed, and never forward anything.
package decision

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/proxy"
)

// HTTP serves the HTTP decision endpoint: /nginx, /traefik and the Envoy
// path prefix.
type HTTP struct {
	handler     *proxy.Handler
	nginx       config.NginxHeaders
	envoyPrefix string
}

// NewHTTP returns the endpoint deciding with h. Only callers in the
// server.trusted_proxies of h's runtime are believed (a reload that changes
// them applies at once).
func NewHTTP(h *proxy.Handler, d config.Decision) *HTTP {
	return &HTTP{handler: h, nginx: d.Nginx, envoyPrefix: d.EnvoyPathPrefix}
}

func (d *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !d.handler.Runtime().Trusted(r.RemoteAddr) {
		d.handler.RefuseCall(w, r, outcome.UntrustedCaller)
		return
	}
	var described *http.Request
	var ok bool
	switch path := r.URL.Path; {
	case path == "/nginx":
		host := r.Host
		if v, present := one(r.Header, d.nginx.HostHeader); present {
			host = v
		}
		method, mok := one(r.Header, d.nginx.MethodHeader)
		uri, uok := one(r.Header, d.nginx.URIHeader)
		described, ok = describe(r, method, host, uri, mok && uok)
		if ok {
			// The description is nginx's, set on its subrequest only:
			// none of it is a header of the request it forwards (an
			// X-Original-URL as uri_header is no URL override).
			for _, name := range []string{d.nginx.MethodHeader, d.nginx.URIHeader, d.nginx.HostHeader} {
				described.Header.Del(name)
			}
		}
	case path == "/traefik":
		method, mok := one(r.Header, "X-Forwarded-Method")
		host, hok := one(r.Header, "X-Forwarded-Host")
		uri, uok := one(r.Header, "X-Forwarded-Uri")
		described, ok = describe(r, method, host, uri, mok && hok && uok)
	case path == d.envoyPrefix || strings.HasPrefix(path, d.envoyPrefix+"/"):
		// Envoy appends the original path (and query) to its
		// path_prefix, and keeps the method and the authority.
		uri := strings.TrimPrefix(r.RequestURI, d.envoyPrefix)
		if uri == "" || uri[0] == '?' {
			uri = "/" + uri
		}
		described, ok = describe(r, r.Method, r.Host, uri, true)
	default:
		d.handler.RefuseCall(w, r, outcome.NoRoute)
		return
	}
	if !ok {
		d.handler.RefuseCall(w, r, outcome.BadDescription)
		return
	}
	d.handler.Decide(w, described)
}

// one returns the value of a header that must appear at most once: a
// header sent twice (the client's and the proxy's) describes two requests,
// and the gateway does not choose. present is false when it is absent or
// repeated.
func one(h http.Header, name string) (v string, present bool) {
	vals := h.Values(name)
	if len(vals) != 1 {
		return "", false
	}
	return vals[0], true
}

// describe builds the request a call describes: the call's headers (the
// client's Authorization among them) with the described method, host and
// request target, and no body. uri must be in origin form ("/path?query"):
// an absolute or empty one is no description.
func describe(r *http.Request, method, host, uri string, present bool) (*http.Request, bool) {
	// A '#' is no part of a request target (RFC 9112 §3.2): a parser
	// that reads it as a fragment would route on less than was decided.
	if !present || !config.IsToken(method) || host == "" || !strings.HasPrefix(uri, "/") || strings.HasPrefix(uri, "//") || strings.ContainsRune(uri, '#') {
		return nil, false
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return nil, false
	}
	out := r.Clone(r.Context())
	out.Method = method
	out.Host = host
	out.URL = u
	out.RequestURI = uri
	out.Body, out.ContentLength, out.TransferEncoding = http.NoBody, 0, nil
	return out, true
}
