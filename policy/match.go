package policy

import (
	"strings"

	"github.com/portcullis/portcullis/config"
)

// Match returns the first route, in file order, that matches the host
// (port and a trailing dot ignored, case-insensitive), the cleaned path
// (as returned by CleanPath; one trailing slash ignored, see matchesPath)
// and the method (HEAD wherever GET is listed, see allowsMethod); nil when
// none does. Every question about which route takes a request goes through
// it, the CORS preflight's "which route would take this method" included,
// so that they all get the same answer.
//
// The path must be the one CleanPath returned, and the same one that is then
// forwarded (see Route.ForwardPath): matching one spelling of a path and
// forwarding another is how "/public/../admin" reaches an admin handler
// through a public route.
//
// Match does not allocate for a lower-case host, and its cost depends on the
// number of segments in the path and of dots in the host, not on the number
// of routes.
func (t *Table) Match(host, cleanPath, method string) *Route {
	if t == nil {
		return nil
	}
	return t.index.match(hostName(host), cleanPath, method)
}

// hostName reduces a Host header or a configured host to the form hosts are
// compared in: no port ("example.com:443", "[::1]:8080"; a bare IPv6 address
// such as "::1" has none), at most one trailing dot removed ("example.com."
// is the same name, and a route must not be bypassed by spelling it so), and
// lower case (DNS names are case-insensitive). It allocates only when the
// host has upper-case letters.
func hostName(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h) // returns h itself when already lower case
}

// CarriesHTTP2 reports whether the route's upstream may be reached over
// HTTP/2 (h2c, or https with ALPN), the only way a gRPC call gets through.
func (r *Route) CarriesHTTP2() bool {
	switch r.Transport.Protocol {
	case H2C:
		return true
	case Auto:
		return r.Upstream != nil && r.Upstream.Scheme == "https"
	}
	return false
}

// matches is the definition that the index implements: the route takes the
// request when its host, path and method all match. host must already be in
// the form of hostName.
func (r *Route) matches(host, cleanPath, method string) bool {
	return r.matchesHost(host) && r.matchesPath(cleanPath) && r.allowsMethod(method)
}

func (r *Route) matchesHost(host string) bool {
	if len(r.hosts) == 0 {
		return true
	}
	for _, p := range r.hosts {
		if suffix, ok := strings.CutPrefix(p, "*"); ok {
			// "*.example.com" is any subdomain at any depth, never the apex.
			if len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// matchesPath: an exact route matches its path with or without one
// trailing slash; a prefix route matches whole segments, so that "/orders"
// takes "/orders", "/orders/" and "/orders/1" but never "/ordersX", which
// may be another service altogether. A trailing slash written in the route
// ("/admin/", "/docs/") counts for nothing either: "/docs/" is "/docs".
//
// The slash does not count because most upstream frameworks ignore it:
// Express (non-strict routing, its default), Spring MVC before 6, Rails and
// Laravel route "/admin/" to the "/admin" handler. Beside a public
// catch-all, an exact route that took only its own spelling was skipped by
// adding the slash, and the admin handler was reached without a token. The
// path forwarded is still the one matched, slash and all.
func (r *Route) matchesPath(p string) bool {
	if r.Prefix == "" {
		return slashless(p) == slashless(r.Path)
	}
	pre := slashless(r.Prefix) // "/" stays "/" and matches every path
	return strings.HasPrefix(p, pre) &&
		(len(p) == len(pre) || pre[len(pre)-1] == '/' || p[len(pre)] == '/')
}

// slashless is p without one trailing slash; the root "/" is kept whole.
func slashless(p string) string {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}

// allowsMethod: a route without methods takes any; one with them, what
// config.TakesMethod says (HEAD where GET is listed, the rest exactly).
func (r *Route) allowsMethod(method string) bool {
	return r.methods == nil || config.TakesMethod(r.methods, method)
}

// index finds the lowest-index route for which Route.matches holds, without
// looking at every route. Routes are bucketed by host pattern: one bucket per
// exact host, one per wildcard suffix, one for routes without hosts. A request
// looks at its exact bucket, the wildcard buckets of each of its parent
// domains, and the any-host bucket, and keeps the lowest index found. Within
// a bucket, exact paths are a map keyed by their slashless form (as
// matchesPath compares them) and prefixes a trie of path segments whose
// nodes hold their routes in file order, so the first route at a node whose
// method matches is that node's answer.
type index struct {
	exact   strMap[*bucket] // host -> routes naming it
	wild    strMap[*bucket] // ".example.com" -> routes naming "*.example.com"
	anyHost *bucket         // routes without hosts

	// wildLen[n] is set when some wildcard suffix is n bytes long (suffixes
	// of 256 bytes or more are always looked up), so that a host is looked up
	// only under the parent domains that could be in wild.
	wildLen [256]bool
}

type bucket struct {
	paths strMap[[]*Route] // slashless exact path -> routes, in file order
	root  *node            // prefix routes
}

type node struct {
	children strMap[*node]
	// here are the prefix routes ending at this node, with or without a
	// trailing slash: they match at and below it. The root stands for
	// "/", which only paths starting with "/" reach.
	here []*Route
}

// strMap is a string-keyed map that scans a slice while it is small: most
// trie nodes and most tables have a handful of keys, and comparing a few
// strings (most differ in length) costs less than hashing one.
type strMap[V any] struct {
	keys []string
	vals []V
	m    map[string]V // set instead of keys and vals past smallMap entries
}

const smallMap = 8

func (s *strMap[V]) get(k string) (V, bool) {
	if s.m != nil {
		v, ok := s.m[k]
		return v, ok
	}
	for i, key := range s.keys {
		if key == k {
			return s.vals[i], true
		}
	}
	var zero V
	return zero, false
}

func (s *strMap[V]) set(k string, v V) {
	if s.m != nil {
		s.m[k] = v
		return
	}
	for i, key := range s.keys {
		if key == k {
			s.vals[i] = v
			return
		}
	}
	if len(s.keys) < smallMap {
		s.keys = append(s.keys, k)
		s.vals = append(s.vals, v)
		return
	}
	s.m = make(map[string]V, 2*smallMap)
	for i, key := range s.keys {
		s.m[key] = s.vals[i]
	}
	s.m[k] = v
	s.keys, s.vals = nil, nil
}

func (s *strMap[V]) len() int {
	if s.m != nil {
		return len(s.m)
	}
	return len(s.keys)
}

func buildIndex(routes []*Route) index {
	var x index
	get := func(m *strMap[*bucket], k string) *bucket {
		b, _ := m.get(k)
		if b == nil {
			b = &bucket{}
			m.set(k, b)
		}
		return b
	}
	for _, r := range routes {
		if len(r.hosts) == 0 {
			if x.anyHost == nil {
				x.anyHost = &bucket{}
			}
			x.anyHost.add(r)
			continue
		}
		for _, h := range r.hosts {
			if suffix, ok := strings.CutPrefix(h, "*"); ok {
				get(&x.wild, suffix).add(r)
				if len(suffix) < len(x.wildLen) {
					x.wildLen[len(suffix)] = true
				}
			} else {
				get(&x.exact, h).add(r)
			}
		}
	}
	return x
}

// add appends r; routes are added in file order, so every list stays sorted
// by Index.
func (b *bucket) add(r *Route) {
	if r.Prefix == "" {
		k := slashless(r.Path)
		rs, _ := b.paths.get(k)
		b.paths.set(k, append(rs, r))
		return
	}
	if b.root == nil {
		b.root = &node{}
	}
	n := b.root
	pre := strings.TrimSuffix(r.Prefix, "/") // "/docs/" is "/docs"; "/" is the root
	if pre != "" {
		for seg := range strings.SplitSeq(pre[1:], "/") {
			c, _ := n.children.get(seg)
			if c == nil {
				c = &node{}
				n.children.set(seg, c)
			}
			n = c
		}
	}
	n.here = append(n.here, r)
}

func (x *index) match(host, p, method string) *Route {
	var best *Route
	if b, _ := x.exact.get(host); b != nil {
		best = b.match(p, method, best)
	}
	if x.wild.len() > 0 {
		// Every parent domain: "a.b.example.com" looks up ".b.example.com",
		// ".example.com" and ".com"; never the whole name, so that
		// "*.example.com" does not match "example.com".
		for i := 1; i < len(host); i++ {
			if n := len(host) - i; host[i] == '.' && (n >= len(x.wildLen) || x.wildLen[n]) {
				if b, _ := x.wild.get(host[i:]); b != nil {
					best = b.match(p, method, best)
				}
			}
		}
	}
	if x.anyHost != nil {
		best = x.anyHost.match(p, method, best)
	}
	return best
}

// match returns the lowest-index route of b that matches p and method, or
// best if none has a lower index than best.
func (b *bucket) match(p, method string, best *Route) *Route {
	if rs, _ := b.paths.get(slashless(p)); rs != nil {
		best = first(rs, method, best)
	}
	n := b.root
	if n == nil {
		return best
	}
	// j is where the part of p that n stands for ends: n matched p[:j]
	// segment by segment, and p[j] is '/' or the end.
	for j := 0; ; {
		more := j < len(p) && p[j] == '/'
		if j > 0 || more { // the root stands for "/", which only "/..." reaches
			best = first(n.here, method, best)
		}
		if !more {
			return best
		}
		k := strings.IndexByte(p[j+1:], '/')
		if k < 0 {
			k = len(p)
		} else {
			k += j + 1
		}
		if n, _ = n.children.get(p[j+1 : k]); n == nil {
			return best
		}
		j = k
	}
}

// first returns the first route of rs (sorted by Index) that allows method,
// if it comes before best.
func first(rs []*Route, method string, best *Route) *Route {
	for _, r := range rs {
		if best != nil && r.Index >= best.Index {
			break
		}
		if r.allowsMethod(method) {
			return r
		}
	}
	return best
}

// Mismatch says why r does not take a request: "" when it does, else the
// first of "host", "path" and "method" that does not match. It explains a
// 404 (portcullis explain); Match is what routes requests.
func (r *Route) Mismatch(host, cleanPath, method string) string {
	switch h := hostName(host); {
	case !r.matchesHost(h):
		return "host"
	case !r.matchesPath(cleanPath):
		return "path"
	case !r.allowsMethod(method):
		return "method"
	}
	return ""
}
