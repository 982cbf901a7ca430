package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis/portcullis/cors"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/proxy"
	"github.com/portcullis/portcullis/token"
)

// render turns what the request path decided into explain's checks, stage
// by stage, in the order the stages ran. It only reads the outcome: the
// token's checks come in token.Checks' order up to the one its refusal
// names, and the route's rules as policy explains its own decision.
//
// routedHost is the host the request was routed on (proxy's RoutedHost: a
// trusted proxy's X-Forwarded-Host, else Host).
func render(o proxy.Outcome, table *policy.Table, verifier *token.Verifier, req *http.Request, routedHost string, upgradeAsked []string) (checks []policy.Line, scopes []string) {
	add := func(stage string, ok bool, format string, args ...any) {
		checks = append(checks, policy.Line{Stage: stage, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	switch {
	case o.Reason == outcome.MethodNotAllowed && strings.EqualFold(req.Method, http.MethodConnect):
		add("method", false, "CONNECT asks for a tunnel (RFC 9110 §9.3.6): refused on every route, never forwarded")
		return checks, nil
	case o.Reason == outcome.MethodNotAllowed:
		add("method", false, "%q has lower-case letters: routes match methods exactly (RFC 9110 §9.1), and an upstream that upper-cases it would serve another method than the one matched; refused on every route, never forwarded", req.Method)
		return checks, nil
	case o.Reason == outcome.MethodOverride:
		add("method", false, "a method-override header (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override) names another method than %s, which routes match: an upstream that honours it would serve a method no route authorized; refused on every route", req.Method)
		return checks, nil
	case o.Reason == outcome.BadHost:
		if routedHost == "" {
			add("host", false, "X-Forwarded-Host %q from a trusted proxy (%s) is not exactly one valid host: it is the host the request would be routed on and the upstream told, and upstreams disagree on which of several to take", req.Header.Values("X-Forwarded-Host"), req.RemoteAddr)
		} else {
			add("host", false, "host %q is not exactly one valid host: more than one ':' outside brackets reads as an IPv6 address to the route table and as a name and port to others", routedHost)
		}
		return checks, nil
	case o.PathErr != nil:
		add("path", false, "%v", o.PathErr)
		return checks, nil
	case o.Metadata:
		add("route", o.Status == http.StatusOK, "protected resource metadata (RFC 9728), answered by the gateway without a token (%d)", o.Status)
		return checks, nil
	}
	add("path", true, "%s", o.Path)
	if o.CORS.Kind == cors.Preflight {
		return renderPreflight(checks, o, table, req), nil
	}
	if o.Route == nil {
		add("route", false, "no route matches host %q, path %q, method %s", routedHost, o.Path, req.Method)
		if o.CORS.Kind == cors.Actual {
			add("cors", o.CORS.Allowed(), "origin %q under defaults.cors: %s", req.Header.Get(cors.HeaderOrigin), corsVerdict(o.CORS))
		}
		return checks, nil
	}
	mode := "enforced"
	if o.Route.Audit {
		mode = "AUDIT: a refusal is recorded, and the request forwarded anyway without claim headers"
	}
	add("route", true, "%s (auth mode %s; %s)", o.Route.Name, o.Route.Mode, mode)
	if o.CORS.Kind == cors.Actual {
		add("cors", o.CORS.Allowed(), "origin %q: %s", req.Header.Get(cors.HeaderOrigin), corsVerdict(o.CORS))
	}
	// In audit mode a refusal does not end the request: it is forwarded.
	refused := func() ([]policy.Line, []string) {
		if o.Route.Audit {
			add("audit", true, "would be refused (%s); forwarded because the route is in audit mode", o.Decision)
		}
		return checks, scopes
	}

	switch o.Bearer {
	case proxy.BearerNotRead:
		add("bearer", true, "not looked at: the route is public")
	case proxy.BearerNone:
		if o.Reason == outcome.Missing {
			add("bearer", false, "none: the route requires a token")
			return refused()
		}
		add("bearer", true, "none: forwarded anonymously (optional route)")
	case proxy.BearerMalformed:
		add("bearer", false, "%s", o.TokenErr.Detail)
		return refused()
	case proxy.BearerPresent:
		opaque := (o.Token != nil && o.Token.Opaque) || (o.TokenErr != nil && o.TokenErr.Opaque)
		list, kind := token.Checks(), "present: a JWT"
		if opaque {
			list, kind = token.OpaqueChecks(), "present: not a JWT, so the issuer is asked (RFC 7662 introspection)"
		}
		add("bearer", true, "%s", kind)
		issuer := ""
		if o.Token != nil {
			issuer = o.Token.Issuer
		} else if o.TokenErr != nil {
			issuer = o.TokenErr.Issuer
		}
		for _, c := range list {
			if issuer != "" && !verifier.Runs(issuer, opaque, c) {
				add(c.String(), true, "not configured for issuer %s", issuer)
				continue
			}
			if err := o.TokenErr; err != nil {
				if c == err.Check {
					add(c.String(), false, "%s: %s", err.Reason, err.Description())
					return refused()
				}
				add(c.String(), true, "passed")
				continue
			}
			add(c.String(), true, "%s", passed(c, o.Token))
		}
		scopes = table.Scopes(o.Token.Issuer, o.Token.Claims)
		checks = append(checks, table.Explain(o.Route, o.Token.Issuer, o.Token.Claims, o.Authz)...)
		if !o.Authz.Allowed {
			return refused()
		}
	}
	// A dry run spends no quota (explain counts in a store of its own,
	// never in Redis), so the limits are shown, not checked.
	for i := range o.Route.RateLimits {
		add("rate_limit", true, "%s (not spent by explain)", &o.Route.RateLimits[i])
	}
	switch o.Upgrade {
	case "websocket", "websocket_tunnel":
		add("upgrade", true, "websocket: forwarded; the upstream's 101 must carry the Sec-WebSocket-Accept of this handshake")
	case "stripped":
		add("upgrade", true, "Upgrade %q and HTTP2-Settings removed (%s): forwarded as a plain request", upgradeAsked, o.UpgradeWhy)
	}
	return checks, scopes
}

// passed is the detail of a check that tok passed.
func passed(c token.Check, tok *token.Token) string {
	switch c {
	case token.CheckIssuer:
		return tok.Issuer
	case token.CheckAlgorithm:
		return tok.Algorithm
	case token.CheckKey:
		if tok.KeyID == "" {
			return "a key without kid"
		}
		return "kid " + tok.KeyID
	case token.CheckIntrospection:
		return "active"
	case token.CheckSignature:
		if tok.Unverified {
			return "NOT CHECKED (-no-verify)"
		}
		return "verified"
	case token.CheckTime:
		if tok.Expiry.IsZero() {
			return "no exp"
		}
		return fmt.Sprintf("expires %s (in %s)", tok.Expiry.UTC().Format(time.RFC3339), time.Until(tok.Expiry).Round(time.Second))
	}
	return "passed"
}

// renderPreflight is explain's view of a CORS preflight that the gateway
// answered itself: which policy answered it, and what it said.
func renderPreflight(checks []policy.Line, o proxy.Outcome, table *policy.Table, req *http.Request) []policy.Line {
	asked := req.Header.Get(cors.HeaderRequestMethod)
	pol, whose := table.UnmatchedCORS(), fmt.Sprintf("no route takes %s here: defaults.cors", asked)
	if o.Route != nil {
		pol, whose = o.Route.CORS, fmt.Sprintf("route %s (the one that takes %s)", o.Route.Name, asked)
	}
	detail := fmt.Sprintf("preflight from %q for %s, answered by the gateway without a token and never forwarded, under %s: %s (%d)",
		req.Header.Get(cors.HeaderOrigin), asked, whose, corsVerdict(o.CORS), o.Status)
	if o.CORS.Refusal == cors.HeaderNotAllowed && pol != nil {
		detail += fmt.Sprintf("; header %q is not in allowed_headers", pol.RefusedHeader(req.Header))
	}
	if o.CORS.Refusal == cors.MethodNotAllowed && pol != nil {
		detail += fmt.Sprintf("; allowed_methods are %v", pol.Methods())
	}
	return append(checks, policy.Line{Stage: "cors", OK: o.CORS.Allowed(), Detail: detail})
}

// corsVerdict says in words what a cors policy made of a request.
func corsVerdict(res cors.Result) string {
	if res.Allowed() {
		if res.Kind == cors.Preflight {
			return "allowed: 204 with the policy's Access-Control-Allow-* headers"
		}
		return "allowed: the answer carries Access-Control-Allow-Origin, whatever its status"
	}
	return res.Refusal.String() + ": no Access-Control-* header, so the browser keeps the answer from the page"
}
