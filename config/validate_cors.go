package config

import (
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// cors checks a cors block at p: defaults.cors, or a route's own block
// (routeMethods are then its match.methods). A route that took
// defaults.cors is not checked again: its block is defaults.cors's, and its
// allowed_methods, when left out, are its match.methods, already checked.
func (v *validator) cors(p string, c *CORS, routeMethods []string) {
	if !c.On() {
		const why = "enabled is false, so this would be silently ignored: remove it, or remove enabled: false"
		for _, k := range []struct {
			key string
			set bool
		}{
			{"allowed_origins", c.AllowedOrigins != nil}, {"allowed_methods", c.AllowedMethods != nil},
			{"allowed_headers", c.AllowedHeaders != nil}, {"exposed_headers", c.ExposedHeaders != nil},
			{"allow_credentials", c.AllowCredentials}, {"max_age", c.MaxAge != nil},
		} {
			if k.set && v.present(p+"."+k.key) {
				v.errorf(p+"."+k.key, CodeIgnored, why)
			}
		}
		return
	}
	v.corsOrigins(p, c)

	seen := map[string]bool{}
	for j, meth := range c.AllowedMethods {
		mp := fmt.Sprintf("%s.allowed_methods[%d]", p, j)
		switch {
		case meth == "*":
			v.errorf(mp, CodeBadMethod, `"*" is not accepted: browsers ignore it on credentialed requests; list the methods`)
		case !IsToken(meth):
			v.errorf(mp, CodeBadMethod, "%q is not an HTTP method", meth)
		case meth == "CONNECT":
			v.errorf(mp, CodeRefusedMethod, "CONNECT is never served: every CONNECT is refused with 405 before routing")
		case seen[meth]:
			v.errorf(mp, CodeDuplicate, "%q is listed twice", meth)
		case len(routeMethods) > 0 && !TakesMethod(routeMethods, meth):
			v.warnf(mp, CodeIgnored, "%s is not one of this route's match.methods: a preflight for %s is answered by the route that matches %s, never by this one", meth, meth, meth)
		}
		seen[meth] = true
	}

	for _, l := range []struct {
		key  string
		list []string
		why  string
	}{
		{"allowed_headers", c.AllowedHeaders, "a wildcard never covers Authorization and browsers ignore it on credentialed requests; list the headers"},
		{"exposed_headers", c.ExposedHeaders, "browsers ignore a wildcard on credentialed requests; list the headers"},
	} {
		seen := map[string]string{}
		for j, h := range l.list {
			hp := fmt.Sprintf("%s.%s[%d]", p, l.key, j)
			folded := strings.ToLower(h)
			first, dup := seen[folded]
			switch {
			case h == "*":
				v.errorf(hp, CodeBadHeader, `"*" is not accepted: %s`, l.why)
			case !IsToken(h):
				v.errorf(hp, CodeBadHeader, "%q is not a header name", h)
			case dup:
				v.errorf(hp, CodeDuplicate, "%q is the same header as %q (names are case-insensitive)", h, first)
			}
			if !dup {
				seen[folded] = h
			}
		}
	}

	if c.MaxAge != nil && *c.MaxAge > MaxCORSMaxAge {
		v.errorf(p+".max_age", CodeOutOfRange, "%s is over %s: browsers cap it anyway (Chromium at 2h), and a policy changed here must reach them in bounded time", *c.MaxAge, MaxCORSMaxAge)
	}
}

// wildcardTLD reports whether origin, a valid one, is a wildcard over a
// whole top-level domain ("https://*.com") or another public suffix, one
// under which anyone registers or creates names ("https://*.co.uk",
// "https://*.github.io", from the Public Suffix List): every site under it
// would be allowed. localhost is not one: nobody else registers names under
// it.
func wildcardTLD(origin string) (string, bool) {
	_, rest, ok := strings.Cut(origin, "://*.")
	if !ok {
		return "", false
	}
	host, _, _ := strings.Cut(rest, ":")
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return host, false
	}
	suffix, _ := publicsuffix.PublicSuffix(host)
	return host, !strings.Contains(host, ".") || suffix == host
}

// corsOrigins checks allowed_origins: present, each an origin or a
// wildcard of one, "*" alone and never with credentials (the Fetch
// standard refuses a credentialed response to "*", and echoing any origin
// instead would let every site read this route with its visitors'
// cookies).
func (v *validator) corsOrigins(p string, c *CORS) {
	op := p + ".allowed_origins"
	if len(c.AllowedOrigins) == 0 {
		v.errorf(op, CodeRequired, "list the origins whose pages may call this route (\"https://app.example.com\", \"https://*.example.com\"); to turn CORS off here, write enabled: false")
		return
	}
	seen := map[string]bool{}
	for j, o := range c.AllowedOrigins {
		ep := fmt.Sprintf("%s[%d]", op, j)
		switch {
		case o == "*" && len(c.AllowedOrigins) > 1:
			v.errorf(ep, CodeConflict, `"*" already allows every origin: write it alone, or list origins`)
		case o == "*" && c.AllowCredentials:
			v.errorf(ep, CodeConflict, `"*" cannot go with allow_credentials: true: browsers refuse a credentialed answer to "*" (Fetch standard), and echoing every origin instead would let any site read this route with its visitors' cookies; list the origins`)
		case o == "*":
		case seen[o]:
			v.errorf(ep, CodeDuplicate, "%q is listed twice", o)
		default:
			if err := CheckOrigin(o); err != nil {
				v.errorf(ep, CodeBadOrigin, "%v", err)
			} else if tld, ok := wildcardTLD(o); ok {
				v.warnf(ep, CodeBadOrigin, "%q allows a site under every name in .%s, a public suffix under which anyone can register or create one: list your own domain (\"https://*.example.com\")", o, tld)
			}
		}
		seen[o] = true
	}
}
