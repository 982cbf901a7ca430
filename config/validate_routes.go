package config

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode"
)

// reservedRouteNames are the route labels of requests that match no route,
// and of requests for protected resource metadata, which the gateway
// answers itself.
var reservedRouteNames = []string{"unmatched", "resource_metadata"}

// routes checks every route, given the issuer names that auth.issuers may
// use, and then warns about routes that an earlier one shadows.
func (v *validator) routes(rs []Route, issuers map[string]bool) {
	if len(rs) == 0 {
		v.errorf("routes", CodeRequired, "at least one route is required: without routes every request is answered 404")
		return
	}
	byName := map[string]int{}
	for i := range rs {
		r := &rs[i]
		p := fmt.Sprintf("routes[%d]", i)

		switch {
		case r.Name == "":
			v.errorf(p+".name", CodeRequired, "is required: it is the route label of every metric")
		case slices.Contains(reservedRouteNames, r.Name):
			v.errorf(p+".name", CodeReserved, "%q is reserved: it is the route label of requests that match no route or ask for resource metadata", r.Name)
		default:
			if j, dup := byName[r.Name]; dup {
				v.errorf(p+".name", CodeDuplicate, "%q is already the name of routes[%d] (line %d)", r.Name, j, rs[j].Line)
			} else {
				byName[r.Name] = i
			}
		}

		v.match(p+".match", r.Match)
		v.upstream(p+".upstream", r.Upstream)
		v.upstreamTransport(p, r)
		if r.StripPrefix && r.Match.PathPrefix == "" && r.Match.Path != "" {
			v.errorf(p+".strip_prefix", CodeConflict, "needs match.path_prefix: with an exact path there is no prefix to strip")
		}
		if r.Timeout <= 0 {
			v.errorf(p+".timeout", CodeOutOfRange, "must be greater than 0")
		}
		if r.MaxBodyBytes != nil && *r.MaxBodyBytes < 0 {
			v.errorf(p+".max_body_bytes", CodeOutOfRange, "%d is out of range: 0 (no limit) or a number of bytes", *r.MaxBodyBytes)
		}
		if r.StreamIdleTimeout <= 0 {
			v.errorf(p+".stream_idle_timeout", CodeOutOfRange, "must be greater than 0: it bounds each pause of a streaming response, and a stream that may pause forever holds its connection forever")
		}
		v.auth(p+".auth", &r.Auth, issuers)
		v.forward(p+".forward", r)
		if r.CORS != nil && v.present(p+".cors") {
			v.cors(p+".cors", r.CORS, r.Match.Methods)
		}
	}
	v.shadowed(rs)
}

// match checks what a route selects: one of path and path_prefix, hosts and
// methods, which normalize has already lower- and upper-cased.
func (v *validator) match(p string, m Match) {
	switch {
	case m.Path != "" && m.PathPrefix != "":
		v.errorf(p+".path", CodeConflict, "set path or path_prefix, not both: path matches one exact path, path_prefix a whole subtree")
	case m.Path == "" && m.PathPrefix == "":
		if !v.broken(p+".path") && !v.broken(p+".path_prefix") {
			v.errorf(p, CodeRequired, "needs path (one exact path) or path_prefix (a subtree); to match every request write path_prefix: \"/\"")
		}
	case m.Path != "":
		if err := checkPath(m.Path, false); err != nil {
			v.errorf(p+".path", CodeBadPath, "%v", err)
		}
	default:
		if err := checkPath(m.PathPrefix, true); err != nil {
			v.errorf(p+".path_prefix", CodeBadPath, "%v", err)
		}
	}

	seen := map[string]bool{}
	for j, h := range m.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", p, j)
		if err := CheckHost(h); err != nil {
			v.errorf(hp, CodeBadHost, "%v", err)
		} else if seen[h] {
			v.errorf(hp, CodeDuplicate, "%q is listed twice", h)
		}
		seen[h] = true
	}

	seen = map[string]bool{}
	for j, meth := range m.Methods {
		mp := fmt.Sprintf("%s.methods[%d]", p, j)
		if !IsToken(meth) {
			v.errorf(mp, CodeBadMethod, "%q is not an HTTP method", meth)
		} else if meth == "CONNECT" {
			v.errorf(mp, CodeRefusedMethod, "CONNECT is never served: every CONNECT is refused with 405 before routing, because a 2xx to it opens a tunnel that no route's checks could see into (RFC 9110 §9.3.6)")
		} else if seen[meth] {
			v.errorf(mp, CodeDuplicate, "%q is listed twice", meth)
		}
		seen[meth] = true
	}
}

// checkPath checks a match path. Requests are matched on their decoded,
// cleaned path, so a path that is encoded, carries a query, or is not
// clean could never match; it is refused rather than left to never fire.
func checkPath(p string, prefix bool) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q must start with \"/\"", p)
	case strings.Contains(p, "%"):
		return fmt.Errorf("%q must not contain %%: requests are matched on the decoded path, so write the character itself", p)
	case strings.ContainsAny(p, "?#"):
		return fmt.Errorf("%q must not contain ? or #: a route matches the path only, never the query or fragment", p)
	case strings.ContainsFunc(p, unicode.IsControl):
		return fmt.Errorf("%q must not contain control characters", p)
	case strings.Contains(p, `\`):
		return fmt.Errorf("%q must not contain a backslash", p)
	case strings.Contains(p, ";"):
		return fmt.Errorf("%q must not contain ';': requests whose path has a ';' parameter are refused (servlet containers read /a;x as /a), so it would never match", p)
	case prefix && p != "/" && strings.HasSuffix(p, "/"):
		return fmt.Errorf("%q: prefixes match whole segments, so write %q (it matches %s and everything below it), without the trailing slash", p, path.Clean(p), path.Clean(p))
	case path.Clean(p) != p:
		return fmt.Errorf("%q is not a clean path (no //, . or .. segments, no trailing slash): requests are matched after cleaning, so it would never match; write %q", p, path.Clean(p))
	}
	return nil
}

// upstream checks the base URL requests are forwarded to. Credentials,
// queries and fragments are refused: they would be merged into every
// forwarded request in ways an operator rarely means, and credentials in a
// URL end up in logs.
func (v *validator) upstream(p, raw string) {
	if raw == "" {
		v.errorf(p, CodeRequired, "is required: the base URL requests are forwarded to, e.g. \"http://127.0.0.1:9001\"")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case !strings.Contains(raw, "://"):
		v.errorf(p, CodeBadURL, "%q must be an absolute http:// or https:// URL", showURL(raw))
	case err != nil:
		v.errorf(p, CodeBadURL, "%s", notAURL(raw, err))
	case u.Scheme != "http" && u.Scheme != "https":
		v.errorf(p, CodeBadURL, "%q must be an absolute http:// or https:// URL", showURL(raw))
	case u.Host == "" || u.Opaque != "":
		v.errorf(p, CodeBadURL, "%q has no host", showURL(raw))
	case u.User != nil:
		v.errorf(p, CodeBadURL, "%q must not carry user info (credentials in a URL end up in logs)", showURL(raw))
	case u.RawQuery != "" || u.ForceQuery:
		v.errorf(p, CodeBadURL, "%q must not have a query", showURL(raw))
	case u.Fragment != "" || strings.Contains(raw, "#"):
		v.errorf(p, CodeBadURL, "%q must not have a fragment", showURL(raw))
	case !validPort(u):
		v.errorf(p, CodeBadURL, "%q: the port must be a number from 1 to 65535", showURL(raw))
	}
}

// auth checks a route's mode, issuers, scopes and claim checks.
func (v *validator) auth(p string, a *Auth, issuers map[string]bool) {
	switch a.Mode {
	case ModeRequired, ModeOptional:
	case ModePublic:
		const why = "auth mode is public, so no token is read and this would be silently ignored: remove it, or use mode optional"
		if len(a.Issuers) > 0 {
			v.errorf(p+".issuers", CodeIgnored, why)
		}
		if len(a.Scopes.AllOf) > 0 || len(a.Scopes.AnyOf) > 0 {
			v.errorf(p+".scopes", CodeIgnored, why)
		}
		if len(a.Claims) > 0 {
			v.errorf(p+".claims", CodeIgnored, why)
		}
	default:
		v.errorf(p+".mode", CodeUnknownValue, "%q is not a mode: use required, optional or public", a.Mode)
	}

	if !v.broken("issuers") {
		for j, name := range a.Issuers {
			if !issuers[name] {
				known := slices.Sorted(maps.Keys(issuers))
				v.errorf(fmt.Sprintf("%s.issuers[%d]", p, j), CodeUnknownIssuer, "no issuer is named %q (configured: %s)", name, strings.Join(known, ", "))
			}
		}
	}

	for _, l := range []struct {
		key  string
		list []string
	}{{"all_of", a.Scopes.AllOf}, {"any_of", a.Scopes.AnyOf}} {
		for j, s := range l.list {
			if err := CheckScope(s); err != nil {
				v.errorf(fmt.Sprintf("%s.scopes.%s[%d]", p, l.key, j), CodeBadScope, "%v", err)
			}
		}
	}

	for _, key := range slices.Sorted(maps.Keys(a.Claims)) {
		cp := joinPath(p+".claims", key)
		if err := ValidClaimPath(key); err != nil {
			v.errorf(cp, CodeBadClaimPath, "%v", err)
		}
		if r := a.Claims[key]; len(r.Values) == 0 && claimOpTakesList(r.Op) {
			// Both are mistakes, not policies: a route that refuses
			// every token, or a check that checks nothing.
			why := "can never pass, so the route would refuse every token: list the values the claim may have"
			switch r.Op {
			case ClaimContainsAny:
				why = "can never pass, so the route would refuse every token: list the values the array claim may hold"
			case ClaimContainsAll:
				why = "always passes, so it checks nothing: list the values the array claim must hold"
			}
			v.errorf(joinPath(cp, r.Op), CodeEmpty, "an empty list %s", why)
		}
	}
}

// forward checks the headers a route sets from claims.
func (v *validator) forward(p string, r *Route) {
	hp := p + ".claims_to_headers"
	seen := map[string]string{}
	for _, h := range slices.Sorted(maps.Keys(r.Forward.ClaimsToHeaders)) {
		fp := joinPath(hp, h)
		norm := FoldHeader(h)
		first, dup := seen[norm]
		switch {
		case !IsToken(h):
			v.errorf(fp, CodeBadHeader, "%q is not a valid header name", h)
		case ReservedHeader(h):
			v.errorf(fp, CodeReserved, "%q is reserved: it carries the request's framing, credentials or provenance and is never set from a claim", h)
		case dup:
			v.errorf(fp, CodeDuplicate, "%q is the same header as %q (names are case-insensitive, and some upstreams read _ as -)", h, first)
		}
		if !dup {
			seen[norm] = h
		}
		if err := ValidClaimPath(r.Forward.ClaimsToHeaders[h]); err != nil {
			v.errorf(fp, CodeBadClaimPath, "%v", err)
		}
	}
	if len(r.Forward.ClaimsToHeaders) > 0 && r.Auth.Mode == ModePublic {
		v.warnf(hp, CodeIgnored, "auth mode is public, so no token is read: these headers are removed from requests but never set")
	}
}
