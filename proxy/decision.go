package proxy

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/token"
)

// Decide answers for a request that another proxy describes (an ingress's
// forward-auth or ext_authz call, translated by package decision): it runs
// the very stages ServeHTTP runs, from the path's cleaning to the route's
// authorization, and where ServeHTTP would forward, it answers instead.
// Allowed: 200 with no body, the route's claim headers as response headers
// for the calling proxy to set upstream, and HeadersToRemove naming every
// claim header any route sets, for a proxy that can remove the client's
// own. Refused: the same status, WWW-Authenticate and JSON body that
// ServeHTTP would send. Metrics and the access log count it with
// via="decision".
func (h *Handler) Decide(w http.ResponseWriter, described *http.Request) Outcome {
	return h.serve(w, described, true).outcome()
}

// RefuseCall answers a decision call that describes no request it can
// decide (reason UntrustedCaller or BadDescription, or NoRoute for a path
// of the decision endpoint that is none of its shapes), counted and
// logged as a decision that matched no route.
func (h *Handler) RefuseCall(w http.ResponseWriter, r *http.Request, reason outcome.Reason) {
	rt := h.cur.Load()
	ex := &exchange{start: time.Now(), decide: true, reason: reason, path: r.URL.Path}
	if rt.tracer != nil {
		r = rt.startSpan(r, true)
	}
	ex.rec.ResponseWriter = w
	ex.setRequestID(r)
	refuse(&ex.rec, reason, "", "")
	h.finish(rt, r, ex)
}

// HeadersToRemoveHeader is the response header of an allowed decision
// that lists, comma-separated, every claim header name (lower case, '-'
// for '_') that the decision does not set: Envoy's ext_authz HTTP service
// removes the headers it names from the request it forwards, so that a
// client's own copy of a claim header the token does not set cannot reach
// the upstream. The headers the decision sets are not listed: they replace
// the client's copies, and Envoy applies the removals after the headers it
// copies, so listing them would remove the claims themselves. It also
// lists the URL- and method-override headers (urlOverrides,
// methodOverrideHeaders), which Envoy's HTTP service does not send by
// default, so that an upstream never serves another URL or method than
// the one decided.
const HeadersToRemoveHeader = "X-Envoy-Auth-Headers-To-Remove"

// DecisionOwnHeaders are the headers of an allowed decision that are not
// claim headers: the list of those to remove, the request id and
// Cache-Control. Everything else it carries is a claim header to set.
var DecisionOwnHeaders = []string{HeadersToRemoveHeader, RequestIDHeader, "Cache-Control"}

// allow answers an allowed decision. tok is nil for an anonymous request
// (an optional route without a token, a public route, or an audit-mode
// refusal), which gets no claim headers.
func (rt *Runtime) allow(w *recorder, tok *token.Token, ex *exchange) {
	h := w.Header()
	// The claim headers go straight into the answer, as forward puts them
	// into the outgoing request: no map of their own.
	setClaimHeaders(h, ex.route, tok)
	if remove := rt.unset(h, ex.route); remove != "" {
		h[HeadersToRemoveHeader] = []string{remove}
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// setClaimHeaders sets in dst the headers route sets from tok's claims.
func setClaimHeaders(dst http.Header, route *policy.Route, tok *token.Token) {
	if tok == nil || len(route.Headers) == 0 {
		return
	}
	// One array holds every claim header's value; each header gets a
	// slice of it with no room to grow into the next.
	vals := make([]string, len(route.Headers))
	for i, h := range route.Headers {
		v, ok := h.Claim.Lookup(tok.Claims)
		if !ok {
			continue
		}
		if s, ok := policy.HeaderValue(v); ok {
			vals[i] = s
			dst[h.Name] = vals[i : i+1 : i+1]
		}
	}
}

// unset lists, comma-separated, the claim header names (folded) that the
// answer h does not set for route, and the override headers (alsoRemove):
// what a proxy must remove from the request it forwards.
func (rt *Runtime) unset(h http.Header, route *policy.Route) string {
	var out []string
	for _, name := range rt.strip {
		held := false
		for _, hr := range route.Headers {
			if _, ok := h[hr.Name]; ok && len(hr.Name) == len(name) && foldEqual(hr.Name, name) {
				held = true
				break
			}
		}
		if !held {
			out = append(out, name)
		}
	}
	if len(out) == len(rt.strip) {
		return rt.stripList // nothing set: the list built once
	}
	return joinNames(append(out, rt.alsoRemove...))
}

// errURLOverride is the refusal of a described request that carries a
// URL-override header.
var errURLOverride = errors.New("a URL-override header (X-Original-URL, X-Rewrite-URL) names a path that no route judged")

// errClaimSpelling describes the refusal of a described request that
// carries a claim header spelled with '_'.
const errClaimSpelling = "the request carries a claim header's name spelled with '_', which the upstream could read as the one the gateway sets"

// describedHeaders reads a described request's header names once for the
// two kinds the proxy removes before forwarding but an ingress forwards
// as the client sent them: a URL override (urlOverrides, any spelling),
// which IIS or Symfony would serve in place of the decided path, and a
// claim header spelled with '_' (X_User_Id, X-User_Id), which CGI-style
// upstreams read as the one the decision sets and the ingress replaces
// only in that spelling. reason is "" when it carries neither.
func (rt *Runtime) describedHeaders(r *http.Request) (reason outcome.Reason, description string) {
	for name := range r.Header {
		switch {
		case foldedIn(name, urlOverrides):
			return outcome.BadPath, errURLOverride.Error()
		case strings.IndexByte(name, '_') >= 0 && foldedIn(name, rt.strip):
			reason, description = outcome.BadDescription, errClaimSpelling
		}
	}
	return reason, description
}

// forwardedHostAgrees reports whether the hosts a described request
// carries for its upstream agree with the described host. An ingress
// forwards the client's X-Forwarded-Host (which Rails, Express and Spring
// serve as the request's host behind a proxy, and on which a proxied
// request is routed: routedHost) and the host= of its Forwarded (Spring,
// Rack), which the proxy never forwards. Each must be one valid host, as
// routedHost requires, that takes the same route as the described host:
// one that would take another (a protected host's, behind a public
// decision) is refused.
func (rt *Runtime) forwardedHostAgrees(r *http.Request, host, clean string, route *policy.Route) bool {
	xfh := r.Header["X-Forwarded-Host"]
	if len(xfh) > 1 || len(xfh) == 1 && strings.IndexByte(xfh[0], ',') >= 0 {
		return false
	}
	hosts := slices.Clone(xfh)
	for _, v := range r.Header["Forwarded"] {
		// RFC 7239 §4: elements by ',', pairs by ';'. A quoted value
		// holding either is cut here and fails as a host: refused.
		for _, pair := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ';' }) {
			k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
			if strings.EqualFold(strings.TrimSpace(k), "host") {
				if uq, err := strconv.Unquote(val); err == nil {
					val = uq
				}
				hosts = append(hosts, val)
			}
		}
	}
	for _, h := range hosts {
		switch {
		case !httpguts.ValidHostHeader(h) || !oneHost(h):
			return false
		case h == "" || h == host:
		case rt.table.Match(h, clean, r.Method) != route:
			return false
		}
	}
	return true
}

// ClaimHeaderNames are the folded names (lower case, '-' for '_') of every
// header any route sets from claims: the headers a client must never
// bring to an upstream.
func (rt *Runtime) ClaimHeaderNames() []string { return rt.strip }

func joinNames(names []string) string { return strings.Join(names, ", ") }
