package proxy

import (
	"net/http"
	"strings"
	"time"

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
// copies, so listing them would remove the claims themselves.
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
// answer h does not set for route: what a proxy must remove from the
// request it forwards.
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
	return joinNames(out)
}

// ClaimHeaderNames are the folded names (lower case, '-' for '_') of every
// header any route sets from claims: the headers a client must never
// bring to an upstream.
func (rt *Runtime) ClaimHeaderNames() []string { return rt.strip }

func joinNames(names []string) string { return strings.Join(names, ", ") }
