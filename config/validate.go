package config

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/portcullis/portcullis/jwks"
)

// validator checks a decoded Config and normalizes the few values that have
// a canonical form (host names to lower case, methods to upper case).
// Every message names the field and, through lines, the line where the
// operator wrote it; a field that is absent is reported at the line of the
// nearest enclosing entry that is present.
type validator struct {
	file     string
	lines    map[string]int
	failed   map[string]bool
	problems Problems
	warnings Problems
}

// line returns the line of path, or of its nearest ancestor in the file.
func (v *validator) line(p string) int {
	for {
		if l, ok := v.lines[p]; ok {
			return l
		}
		if p == "" {
			return 0
		}
		p = parentPath(p)
	}
}

// broken reports whether path, or a value that contains it, failed to
// decode: its Go value is a placeholder, and checking it would only add
// noise to the message that the decoder already gave.
func (v *validator) broken(p string) bool {
	for {
		if v.failed[p] {
			return true
		}
		if p == "" {
			return false
		}
		p = parentPath(p)
	}
}

func (v *validator) errorf(p, format string, args ...any) {
	if v.broken(p) {
		return
	}
	v.problems = append(v.problems, Problem{File: v.file, Line: v.line(p), Field: p, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) warnf(p, format string, args ...any) {
	if v.broken(p) {
		return
	}
	v.warnings = append(v.warnings, Problem{File: v.file, Line: v.line(p), Field: p, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) present(p string) bool {
	_, ok := v.lines[p]
	return ok
}

func (v *validator) config(c *Config) {
	v.server(&c.Server)
	v.log(&c.Log)
	names := v.issuers(c.Issuers)
	v.routes(c.Routes, names)

	for i, r := range c.Routes {
		if r.Timeout >= c.Server.WriteTimeout && c.Server.WriteTimeout > 0 {
			v.warnf(fmt.Sprintf("routes[%d].timeout", i), "%s is not shorter than server.write_timeout %s: the connection is cut before this route's 504 can be written", r.Timeout, c.Server.WriteTimeout)
		}
	}

	if len(c.Issuers) == 0 && !v.broken("issuers") {
		for i, r := range c.Routes {
			if r.Auth.Mode == ModeRequired || r.Auth.Mode == ModeOptional {
				p := fmt.Sprintf("routes[%d].auth.mode", i)
				if v.present("issuers") {
					p = "issuers"
				}
				v.errorf(p, "route %q has auth mode %s, which verifies tokens, but no issuers are configured: add an issuers entry, or make the route public", r.Name, r.Auth.Mode)
				break
			}
		}
	}
}

// server

func (v *validator) server(s *Server) {
	listenOK := v.hostPort("server.listen", s.Listen)
	adminOK := v.hostPort("server.admin_listen", s.AdminListen)
	if listenOK && adminOK && listenersOverlap(s.Listen, s.AdminListen) {
		v.errorf("server.admin_listen", "%q overlaps listen %q: /metrics, /healthz and /readyz must never be reachable on the proxy's port", s.AdminListen, s.Listen)
	}

	for _, t := range []struct {
		key string
		d   Duration
	}{
		{"read_header_timeout", s.ReadHeaderTimeout},
		{"read_timeout", s.ReadTimeout},
		{"write_timeout", s.WriteTimeout},
		{"idle_timeout", s.IdleTimeout},
	} {
		if t.d <= 0 {
			v.errorf("server."+t.key, "must be greater than 0: net/http reads 0 as \"no timeout\", which lets a slow client hold a connection forever")
		}
	}
	if s.DrainDelay < 0 || s.DrainDelay > Duration(5*time.Minute) {
		v.errorf("server.drain_delay", "%s is out of range: must be between 0 and 5m", s.DrainDelay)
	}
	if s.ShutdownGrace <= 0 {
		v.errorf("server.shutdown_grace", "must be greater than 0, or every in-flight request is cut off on shutdown")
	}

	if s.MaxInFlight < 1 || s.MaxInFlight > 1<<20 {
		v.errorf("server.max_in_flight", "%d is out of range: must be between 1 and 1048576", s.MaxInFlight)
	}
	if s.MaxHeaderBytes < 1024 || s.MaxHeaderBytes > 1<<20 {
		v.errorf("server.max_header_bytes", "%d is out of range: must be between 1024 and 1048576 (1 MiB)", s.MaxHeaderBytes)
	}

	for i, tp := range s.TrustedProxies {
		if _, err := netip.ParsePrefix(tp); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(tp); err == nil {
			continue
		}
		v.errorf(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is neither a CIDR (\"10.0.0.0/8\") nor an IP address", tp)
	}

	switch {
	case s.TLS.CertFile != "" && s.TLS.KeyFile == "":
		v.errorf("server.tls.key_file", "cert_file is set but key_file is not: set both to terminate TLS, or neither")
	case s.TLS.CertFile == "" && s.TLS.KeyFile != "":
		v.errorf("server.tls.cert_file", "key_file is set but cert_file is not: set both to terminate TLS, or neither")
	}
}

// hostPort checks a listen address the way net.Listen will read it, but
// insists on a numeric port: a service name depends on /etc/services.
func (v *validator) hostPort(p, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(p, "%q is not host:port (for example \":8080\" or \"127.0.0.1:9090\")", addr)
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.errorf(p, "%q: the port must be a number from 0 to 65535", addr)
		return false
	}
	if host != "" && !validListenHost(host) {
		v.errorf(p, "%q: the host must be an IP address or a host name (or empty, for every interface)", addr)
		return false
	}
	return true
}

func validListenHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return !strings.Contains(h, "*") && CheckHost(strings.ToLower(h)) == nil
}

// validPort reports whether a URL's port, if any, is a number from 1 to
// 65535; url.Parse checks only that it is made of digits.
func validPort(u *url.URL) bool {
	port := u.Port()
	if port == "" {
		return true
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n > 0
}

// listenersOverlap reports whether two valid listen addresses would bind
// the same socket, or one would take the other's port on every interface.
func listenersOverlap(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	unspecified := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || unspecified(ha) || unspecified(hb)
}

// log

func (v *validator) log(l *Log) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		v.errorf("log.level", "%q is not a level: use debug, info, warn or error", l.Level)
	}
	if !slices.Contains([]string{"json", "console"}, l.Format) {
		v.errorf("log.format", "%q is not a format: use json or console", l.Format)
	}
}

// issuers

var issuerName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// issuers checks the issuers and returns the names that routes may use.
func (v *validator) issuers(iss []Issuer) map[string]bool {
	names := map[string]bool{}
	byName := map[string]int{}
	byIssuer := map[string]int{}
	for i := range iss {
		is := &iss[i]
		p := fmt.Sprintf("issuers[%d]", i)

		switch {
		case is.Name == "":
			v.errorf(p+".name", "is required: routes and metrics refer to the issuer by it")
		case !issuerName.MatchString(is.Name):
			v.errorf(p+".name", "%q must be 1 to 64 letters, digits, '_' or '-' (it becomes a metric label)", is.Name)
		default:
			if j, dup := byName[is.Name]; dup {
				v.errorf(p+".name", "%q is already the name of issuers[%d] (line %d)", is.Name, j, iss[j].Line)
			} else {
				byName[is.Name] = i
			}
		}
		if is.Name != "" {
			names[is.Name] = true // even when invalid: that is reported once, above
		}

		if is.Issuer == "" {
			v.errorf(p+".issuer", "is required: it must equal the iss claim of the tokens, byte for byte")
		} else if j, dup := byIssuer[is.Issuer]; dup {
			v.errorf(p+".issuer", "%q is already the issuer of %q (line %d): a token is sent to an issuer by its iss claim, so each may be configured once", is.Issuer, iss[j].Name, iss[j].Line)
		} else {
			byIssuer[is.Issuer] = i
		}

		v.keySource(p, is)
		v.algorithms(p, is.Algorithms)

		if is.RefreshInterval < Duration(time.Second) {
			v.errorf(p+".refresh_interval", "%s is too short: must be at least 1s", is.RefreshInterval)
		}
		switch {
		case is.MinRefreshInterval < Duration(time.Second):
			v.errorf(p+".min_refresh_interval", "%s is too short: must be at least 1s, or every token with an unknown kid would cost a fetch", is.MinRefreshInterval)
		case is.MinRefreshInterval > is.RefreshInterval && is.RefreshInterval >= Duration(time.Second):
			v.errorf(p+".min_refresh_interval", "%s is longer than refresh_interval %s", is.MinRefreshInterval, is.RefreshInterval)
		}
		if c := is.TokenCache; c.MaxEntries < 0 || c.MaxEntries > 1_000_000 {
			v.errorf(p+".token_cache.max_entries", "%d is out of range: must be between 0 (off) and 1000000", c.MaxEntries)
		}
		if c := is.TokenCache; c.MaxTTL <= 0 || c.MaxTTL > Duration(time.Hour) {
			v.errorf(p+".token_cache.max_ttl", "%s is out of range: must be greater than 0 and at most 1h", c.MaxTTL)
		}
		if is.ClockSkew > Duration(5*time.Minute) {
			v.errorf(p+".clock_skew", "%s is too long: must be at most 5m (skew extends the life of every expired token)", is.ClockSkew)
		}

		for j, c := range is.RequiredClaims {
			if c == "" {
				v.errorf(fmt.Sprintf("%s.required_claims[%d]", p, j), "must not be empty")
			}
		}
		if !slices.Contains(is.RequiredClaims, "exp") && !v.broken(p+".required_claims") {
			v.warnf(p+".required_claims", "does not include exp: a token without an exp claim is accepted and never expires")
		}
		for j, t := range is.TokenTypes {
			if strings.TrimSpace(t) == "" {
				v.errorf(fmt.Sprintf("%s.token_types[%d]", p, j), "must not be empty")
			}
		}
		for j, c := range is.ScopeClaims {
			if err := ValidClaimPath(c); err != nil {
				v.errorf(fmt.Sprintf("%s.scope_claims[%d]", p, j), "%v", err)
			}
		}
		for j, a := range is.Audiences {
			if a == "" {
				v.errorf(fmt.Sprintf("%s.audiences[%d]", p, j), "must not be empty")
			}
		}
		if len(is.Audiences) == 0 {
			v.warnf(p+".audiences", "aud is not checked: tokens minted for any audience of this issuer are accepted")
		}
		if !validClaimName(is.AudienceClaim) {
			v.errorf(p+".audience_claim", "%q is not a claim name: write one top-level claim, such as aud or client_id", is.AudienceClaim)
		}
	}
	return names
}

// validClaimName reports whether s can name a top-level claim: not empty,
// and free of spaces and control characters, which no provider puts in a
// claim name and which would only hide a typo.
func validClaimName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// keySource checks where the issuer's keys come from: jwks_uri, or the
// issuer's discovery document.
func (v *validator) keySource(p string, is *Issuer) {
	if is.JWKSURI != "" {
		u, err := url.Parse(is.JWKSURI)
		if err != nil {
			v.errorf(p+".jwks_uri", "%q is not a URL: %v", is.JWKSURI, unwrapURLErr(err))
			return
		}
		switch u.Scheme {
		case "http", "https":
			switch {
			case u.Host == "":
				v.errorf(p+".jwks_uri", "%q has no host", is.JWKSURI)
			case !validPort(u):
				v.errorf(p+".jwks_uri", "%q: the port must be a number from 1 to 65535", is.JWKSURI)
			case u.User != nil:
				v.errorf(p+".jwks_uri", "%q must not carry user info (credentials in a URL end up in logs)", is.JWKSURI)
			case u.Scheme == "http" && !isLoopback(u.Hostname()):
				v.warnf(p+".jwks_uri", "keys are fetched over plain http: anyone on the network path can substitute their own keys and mint accepted tokens; use https")
			}
		case "file":
			if u.Path == "" || (u.Host != "" && u.Host != "localhost") {
				v.errorf(p+".jwks_uri", "%q: a file URL needs an absolute path, with three slashes: file:///etc/portcullis/jwks.json", is.JWKSURI)
			}
		default:
			v.errorf(p+".jwks_uri", "%q: the scheme must be https, http or file", is.JWKSURI)
		}
		return
	}

	if !is.Discovery {
		v.errorf(p+".discovery", "is false and jwks_uri is empty, so there is no way to find this issuer's keys: set jwks_uri, or set discovery: true")
		return
	}
	if is.Issuer == "" {
		return // already reported
	}
	u, err := url.Parse(is.Issuer)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !validPort(u):
		v.errorf(p+".issuer", "%q is not an http(s) URL, so its keys cannot be discovered: set jwks_uri", is.Issuer)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(is.Issuer, "#"):
		v.errorf(p+".issuer", "%q: an issuer used for discovery has no user info, query or fragment (OpenID Connect Discovery §3); set jwks_uri instead", is.Issuer)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		v.warnf(p+".issuer", "discovery and keys are fetched over plain http: anyone on the network path can substitute their own keys; use https")
	}
}

func unwrapURLErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (v *validator) algorithms(p string, algs []string) {
	if len(algs) == 0 {
		v.errorf(p+".algorithms", "is required: list the algorithms this issuer signs with, e.g. [RS256]; an explicit allow-list is what stops a token from choosing how it is verified (RFC 8725 §3.1)")
		return
	}
	seen := map[string]int{}
	for j, a := range algs {
		ap := fmt.Sprintf("%s.algorithms[%d]", p, j)
		switch up := strings.ToUpper(a); {
		case up == "NONE":
			v.errorf(ap, "%q is refused: it means an unsigned token, which anyone can forge", a)
		case up == "HS256" || up == "HS384" || up == "HS512":
			v.errorf(ap, "%q is refused: HMAC algorithms use a shared secret, so whoever can verify a token can also mint one, and allowing them beside public keys invites algorithm confusion (a token signed with the public key as the HMAC secret); use an asymmetric algorithm such as RS256 or ES256", a)
		case jwks.Supported(a):
			if line, dup := seen[a]; dup {
				v.errorf(ap, "%q is listed twice (first on line %d)", a, line)
			}
			seen[a] = v.line(ap)
		default:
			if k := slices.IndexFunc(jwks.Algorithms, func(s string) bool { return strings.EqualFold(s, a) }); k >= 0 {
				v.errorf(ap, "%q: algorithm names are case-sensitive, write %q", a, jwks.Algorithms[k])
			} else {
				v.errorf(ap, "unknown algorithm %q: use one of %s", a, strings.Join(jwks.Algorithms, ", "))
			}
		}
	}
}

// routes

// reservedRouteName is the route label of requests that match no route.
const reservedRouteName = "unmatched"

func (v *validator) routes(rs []Route, issuers map[string]bool) {
	if len(rs) == 0 {
		v.errorf("routes", "at least one route is required: without routes every request is answered 404")
		return
	}
	byName := map[string]int{}
	for i := range rs {
		r := &rs[i]
		p := fmt.Sprintf("routes[%d]", i)

		switch {
		case r.Name == "":
			v.errorf(p+".name", "is required: it is the route label of every metric")
		case r.Name == reservedRouteName:
			v.errorf(p+".name", "%q is reserved: it is the route label of requests that match no route", r.Name)
		default:
			if j, dup := byName[r.Name]; dup {
				v.errorf(p+".name", "%q is already the name of routes[%d] (line %d)", r.Name, j, rs[j].Line)
			} else {
				byName[r.Name] = i
			}
		}

		v.match(p+".match", &r.Match)
		v.upstream(p+".upstream", r.Upstream)
		if r.StripPrefix && r.Match.PathPrefix == "" && r.Match.Path != "" {
			v.errorf(p+".strip_prefix", "needs match.path_prefix: with an exact path there is no prefix to strip")
		}
		if r.Timeout <= 0 {
			v.errorf(p+".timeout", "must be greater than 0")
		}
		if r.StreamIdleTimeout <= 0 {
			v.errorf(p+".stream_idle_timeout", "must be greater than 0: it bounds each pause of a streaming response, and a stream that may pause forever holds its connection forever")
		}
		v.auth(p+".auth", &r.Auth, issuers)
		v.forward(p+".forward", r)
	}
	v.shadowed(rs)
}

func (v *validator) match(p string, m *Match) {
	switch {
	case m.Path != "" && m.PathPrefix != "":
		v.errorf(p+".path", "set path or path_prefix, not both: path matches one exact path, path_prefix a whole subtree")
	case m.Path == "" && m.PathPrefix == "":
		if !v.broken(p+".path") && !v.broken(p+".path_prefix") {
			v.errorf(p, "needs path (one exact path) or path_prefix (a subtree); to match every request write path_prefix: \"/\"")
		}
	case m.Path != "":
		if err := checkPath(m.Path, false); err != nil {
			v.errorf(p+".path", "%v", err)
		}
	default:
		if err := checkPath(m.PathPrefix, true); err != nil {
			v.errorf(p+".path_prefix", "%v", err)
		}
	}

	seen := map[string]bool{}
	for j, h := range m.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", p, j)
		h = strings.ToLower(h)
		m.Hosts[j] = h
		if err := CheckHost(h); err != nil {
			v.errorf(hp, "%v", err)
		} else if seen[h] {
			v.errorf(hp, "%q is listed twice", h)
		}
		seen[h] = true
	}

	seen = map[string]bool{}
	for j, meth := range m.Methods {
		mp := fmt.Sprintf("%s.methods[%d]", p, j)
		meth = strings.ToUpper(meth)
		m.Methods[j] = meth
		if !IsToken(meth) {
			v.errorf(mp, "%q is not an HTTP method", meth)
		} else if meth == "CONNECT" {
			v.errorf(mp, "CONNECT is never served: every CONNECT is refused with 405 before routing, because a 2xx to it opens a tunnel that no route's checks could see into (RFC 9110 §9.3.6)")
		} else if seen[meth] {
			v.errorf(mp, "%q is listed twice", meth)
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
		v.errorf(p, "is required: the base URL requests are forwarded to, e.g. \"http://127.0.0.1:9001\"")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case !strings.Contains(raw, "://"):
		v.errorf(p, "%q must be an absolute http:// or https:// URL", raw)
	case err != nil:
		v.errorf(p, "%q is not a URL: %v", raw, unwrapURLErr(err))
	case u.Scheme != "http" && u.Scheme != "https":
		v.errorf(p, "%q must be an absolute http:// or https:// URL", raw)
	case u.Host == "" || u.Opaque != "":
		v.errorf(p, "%q has no host", raw)
	case u.User != nil:
		v.errorf(p, "%q must not carry user info (credentials in a URL end up in logs)", raw)
	case u.RawQuery != "" || u.ForceQuery:
		v.errorf(p, "%q must not have a query", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		v.errorf(p, "%q must not have a fragment", raw)
	case !validPort(u):
		v.errorf(p, "%q: the port must be a number from 1 to 65535", raw)
	}
}

func (v *validator) auth(p string, a *Auth, issuers map[string]bool) {
	switch a.Mode {
	case ModeRequired, ModeOptional:
	case ModePublic:
		const why = "auth mode is public, so no token is read and this would be silently ignored: remove it, or use mode optional"
		if len(a.Issuers) > 0 {
			v.errorf(p+".issuers", why)
		}
		if len(a.Scopes.AllOf) > 0 || len(a.Scopes.AnyOf) > 0 {
			v.errorf(p+".scopes", why)
		}
		if len(a.Claims) > 0 {
			v.errorf(p+".claims", why)
		}
	default:
		v.errorf(p+".mode", "%q is not a mode: use required, optional or public", a.Mode)
	}

	if !v.broken("issuers") {
		for j, name := range a.Issuers {
			if !issuers[name] {
				known := slices.Sorted(maps.Keys(issuers))
				v.errorf(fmt.Sprintf("%s.issuers[%d]", p, j), "no issuer is named %q (configured: %s)", name, strings.Join(known, ", "))
			}
		}
	}

	for _, l := range []struct {
		key  string
		list []string
	}{{"all_of", a.Scopes.AllOf}, {"any_of", a.Scopes.AnyOf}} {
		for j, s := range l.list {
			if err := CheckScope(s); err != nil {
				v.errorf(fmt.Sprintf("%s.scopes.%s[%d]", p, l.key, j), "%v", err)
			}
		}
	}

	for _, key := range slices.Sorted(maps.Keys(a.Claims)) {
		cp := joinPath(p+".claims", key)
		if err := ValidClaimPath(key); err != nil {
			v.errorf(cp, "%v", err)
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
			v.errorf(joinPath(cp, r.Op), "an empty list %s", why)
		}
	}
}

func (v *validator) forward(p string, r *Route) {
	hp := p + ".claims_to_headers"
	seen := map[string]string{}
	for _, h := range slices.Sorted(maps.Keys(r.Forward.ClaimsToHeaders)) {
		fp := joinPath(hp, h)
		norm := FoldHeader(h)
		first, dup := seen[norm]
		switch {
		case !IsToken(h):
			v.errorf(fp, "%q is not a valid header name", h)
		case ReservedHeader(h):
			v.errorf(fp, "%q is reserved: it carries the request's framing, credentials or provenance and is never set from a claim", h)
		case dup:
			v.errorf(fp, "%q is the same header as %q (names are case-insensitive, and some upstreams read _ as -)", h, first)
		}
		if !dup {
			seen[norm] = h
		}
		if err := ValidClaimPath(r.Forward.ClaimsToHeaders[h]); err != nil {
			v.errorf(fp, "%v", err)
		}
	}
	if len(r.Forward.ClaimsToHeaders) > 0 && r.Auth.Mode == ModePublic {
		v.warnf(hp, "auth mode is public, so no token is read: these headers are removed from requests but never set")
	}
}

// shadowed warns about a route that can never match because an earlier one
// takes every request it would: first match wins, and a catch-all placed
// too early is an easy mistake to make and a hard one to see. This is a
// best-effort check (it compares hosts and methods as written, without
// expanding wildcards), so it only warns.
func (v *validator) shadowed(rs []Route) {
	// Earlier routes by exact path and by prefix; each request path is
	// covered by the prefixes along its ancestors, so a route is compared
	// with a few buckets instead of with every earlier route.
	const bucketMax = 64
	exact := map[string][]int{}
	prefix := map[string][]int{}
	for i, r := range rs {
		p, isPrefix := r.Match.Path, false
		if p == "" {
			p, isPrefix = r.Match.PathPrefix, true
		}
		if p == "" || checkPath(p, isPrefix) != nil {
			continue // reported already; only clean paths have ancestors
		}
		var cands []int
		if r.Match.Path != "" {
			cands = append(cands, exact[p]...)
		}
		for q := p; ; q = path.Dir(q) {
			cands = append(cands, prefix[q]...)
			if q == "/" || q == "." {
				break
			}
		}
		for _, j := range cands {
			if covers(rs[j].Match, r.Match) {
				v.warnf(fmt.Sprintf("routes[%d]", i), "route %q can never match: route %q (line %d) comes first and takes every request it would", r.Name, rs[j].Name, rs[j].Line)
				break
			}
		}
		if r.Match.Path != "" {
			if len(exact[p]) < bucketMax {
				exact[p] = append(exact[p], i)
			}
		} else if len(prefix[p]) < bucketMax {
			prefix[p] = append(prefix[p], i)
		}
	}
}

// covers reports whether every request that b matches (by host and method)
// is also matched by a; the path was compared by the caller.
func covers(a, b Match) bool {
	subset := func(x, y []string) bool { // y ⊆ x, where empty means "any"
		if len(x) == 0 {
			return true
		}
		if len(y) == 0 {
			return false
		}
		for _, s := range y {
			if !slices.Contains(x, s) {
				return false
			}
		}
		return true
	}
	return subset(a.Hosts, b.Hosts) && subset(a.Methods, b.Methods)
}
