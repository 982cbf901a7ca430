package proxy

import (
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/cors"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
)

// preflight answers a CORS preflight whose route has a cors policy: the
// route that the method it asks about (Access-Control-Request-Method)
// would match, or, when none would, defaults.cors. An allowed one gets 204
// with the policy's Access-Control-Allow-* headers; a refused one 403 with
// none, which makes the browser fail the call it asked about (the Fetch
// standard's CORS check). Neither is authenticated nor forwarded: a
// preflight carries no token and asks only whether the real request may
// be sent, and that request still passes every check of its route.
//
// host is the host the request is routed on (routedHost).
//
// It returns false, having written nothing, when no policy applies: the
// request is then routed as the OPTIONS it is, as without CORS.
func (rt *Runtime) preflight(w http.ResponseWriter, r *http.Request, host, asked string, ex *exchange) bool {
	route := rt.table.Match(host, ex.path, asked)
	pol := rt.table.UnmatchedCORS()
	if route != nil {
		pol = route.CORS
	}
	if pol == nil {
		return false
	}
	ex.route = route
	ex.cors = pol.Check(r.Method, r.Header)
	pol.SetHeaders(w.Header(), r.Header, ex.cors)
	if !ex.cors.Allowed() {
		ex.reason = outcome.CORSRefused
		refuse(w, outcome.CORSRefused, "", "")
		return true
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

// allowOrigin checks an actual request against pol (nil: none) and sets
// the CORS headers of its answer, whoever writes that answer. Without an
// Origin header that is only Vary: Origin.
func (rt *Runtime) allowOrigin(w http.ResponseWriter, r *http.Request, pol *cors.Policy, ex *exchange) {
	if pol == nil {
		return
	}
	ex.cors = pol.Check(r.Method, r.Header)
	pol.SetHeaders(w.Header(), r.Header, ex.cors)
}

// removeUpstreamCORS drops an upstream's Access-Control-* headers from
// its response on a route with a cors policy: the gateway's policy, set
// before forwarding, is the one the browser sees, and a second one that
// nobody reviewed (an upstream that echoes every Origin) must not widen it.
func removeUpstreamCORS(route *policy.Route, h http.Header) {
	if route.CORS != nil {
		cors.RemoveFrom(h)
	}
}

// corsLogValue is the access log's cors field.
func corsLogValue(res cors.Result) string {
	switch {
	case res.Kind == cors.Preflight && res.Allowed():
		return "preflight"
	case res.Kind == cors.Preflight:
		return "preflight_refused"
	case res.Allowed():
		return "allowed"
	}
	return "origin_refused"
}

// crossSiteWebSocket reports whether r, on a route whose cors policy
// checked it as res, comes from a page that policy does not allow: it has
// an Origin, the policy refused it, and it is not the gateway's own origin
// (host, the routed host, after the scheme). CORS does not cover WebSocket:
// a browser opens one from any page, with the user's cookies, and lets that
// page read the tunnel whatever Access-Control-* headers the 101 carries;
// the server is to check Origin itself (RFC 6455 §10.2). Such a handshake
// is served as the plain GET it then is, whose answer the page cannot read.
// A request without Origin (no browser), or on a route without a policy
// (res is then NotCORS), is not one.
func crossSiteWebSocket(r *http.Request, host string, res cors.Result) bool {
	if res.Kind == cors.NotCORS || res.Allowed() {
		return false
	}
	origin := r.Header[cors.HeaderOrigin]
	if len(origin) != 1 {
		return true
	}
	o := origin[0]
	for _, scheme := range []string{"https://", "http://"} {
		if len(o) > len(scheme) && strings.EqualFold(o[:len(scheme)], scheme) {
			return !strings.EqualFold(o[len(scheme):], host)
		}
	}
	return true
}
