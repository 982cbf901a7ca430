package policy

import (
	"net/url"
	"path"
	"strings"
	"unicode/utf8"
)

// CleanPath returns the path to match and forward: percent-decoded, with ".",
// ".." and repeated slashes resolved, and a trailing slash kept when the
// request had one. It refuses %2F and %5C (encoded slash and backslash),
// NUL and other control characters, and ';' path parameters.
//
// The gateway matches routes on this path and forwards this same path, so an
// upstream never sees a spelling the route table did not: "/public/../admin"
// is matched, and forwarded, as "/admin", and "%2e%2e" is resolved like "..".
// What cannot be normalized without guessing is refused instead:
//
//   - An encoded slash or backslash (ErrEncodedSlash): "/public/..%2fadmin"
//     is one segment to the gateway but "/admin" to an upstream that decodes
//     before it splits, and many servers treat '\' as '/'.
//   - A control character, NUL included (ErrBadPath): C and file-system
//     upstreams truncate at NUL, and CR or LF could end up in a log line or a
//     header.
//   - A ';', raw or as %3B (ErrBadPath). Servlet containers (Tomcat, Jetty,
//     Spring) read ";..." as a path parameter and drop it before routing, so
//     "/admin;x/users" is "/admin/users" to them but a path under no route
//     for "/admin" here: beside a public catch-all it would reach the admin
//     handler unauthenticated (CVE-2020-1957, CVE-2020-11989), and
//     "/public/..;/admin" would climb out of a public prefix. Matching on the
//     parameter-free spelling instead would forward a path that differs from
//     the one matched, so the request is refused, as Spring Security's
//     StrictHttpFirewall does by default.
//   - Double encoding (ErrDoubleEncoding): a path that, once decoded, still
//     holds a percent-escape ("%25" followed by two hex digits in the
//     request). "/public/%252e%252e/admin" is "/public/%2e%2e/admin" here,
//     under /public, but "/admin" to a framework that decodes twice
//     (CVE-2021-42013), and "/priv%2561te" is "/private" to it. Refusing
//     every such escape, not only those of '%', '.', '/' and '\', closes
//     the class: whatever is accepted reads the same decoded any number of
//     times. A percent sign that escapes nothing ("/100%25" is "/100%") is
//     kept.
//   - A decoded path that is not valid UTF-8 (ErrNotUTF8): overlong forms
//     such as "%C0%AF" for '/' and "%C0%AE" for '.', surrogates, lone
//     continuation bytes and truncated sequences. A lenient decoder reads
//     "/admin%C0%AF" as "/admin/" (CVE-2000-0884); RFC 3629 §3 forbids
//     decoding them at all.
//   - A path that is not absolute or not valid percent-encoding (ErrBadPath).
//
// It does not allocate for a path that is already clean and has no escapes.
func CleanPath(u *url.URL) (string, error) {
	if u == nil || u.Opaque != "" {
		return "", ErrBadPath
	}
	esc := u.EscapedPath()
	if hasEncodedSlash(esc) {
		return "", ErrEncodedSlash
	}
	p := esc
	if strings.IndexByte(esc, '%') >= 0 {
		var err error
		if p, err = url.PathUnescape(esc); err != nil {
			return "", ErrBadPath
		}
	}
	if p == "" {
		return "/", nil
	}
	if p[0] != '/' {
		return "", ErrBadPath
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f {
			return "", ErrBadPath
		}
	}
	if strings.IndexByte(p, ';') >= 0 {
		return "", ErrBadPath
	}
	if holdsEscape(p) {
		return "", ErrDoubleEncoding
	}
	if !utf8.ValidString(p) {
		return "", ErrNotUTF8
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		if len(p) == len(c)+1 && p[:len(c)] == c {
			return p, nil // already clean: keep p and do not allocate
		}
		c += "/"
	}
	return c, nil
}

// holdsEscape reports whether a decoded path still holds a percent-escape:
// a '%' followed by two hex digits. Decoded once more, by an upstream that
// decodes twice, such a path would change.
func holdsEscape(p string) bool {
	for i := strings.IndexByte(p, '%'); i >= 0 && i+2 < len(p); {
		if ishex(p[i+1]) && ishex(p[i+2]) {
			return true
		}
		j := strings.IndexByte(p[i+1:], '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// hasEncodedSlash reports whether an escaped path holds %2F or %5C in any
// case, or a raw backslash.
func hasEncodedSlash(esc string) bool {
	if strings.IndexByte(esc, '\\') >= 0 {
		return true
	}
	for i := 0; i+2 < len(esc); i++ {
		if esc[i] != '%' {
			continue
		}
		a, b := esc[i+1], esc[i+2]|0x20 // lower-case a hex letter
		if (a == '2' && b == 'f') || (a == '5' && b == 'c') {
			return true
		}
	}
	return false
}

// ForwardPath is the path the upstream receives for a cleaned request path:
// the prefix removed when strip_prefix is set (never leaving an empty path),
// joined under the upstream URL's own path.
//
// Stripping is segment-aware like matching: with prefix "/orders",
// "/orders/1" becomes "/1" and "/orders" becomes "/". A trailing slash is
// kept, as are the upstream's base path ("http://h/base" receives "/base/1")
// and no doubled slash at the join. The result is a decoded path, for
// url.URL.Path.
func (r *Route) ForwardPath(cleanPath string) string {
	p := cleanPath
	if r.StripPrefix && r.Prefix != "" && r.Prefix != "/" {
		pre := strings.TrimSuffix(r.Prefix, "/")
		if rest, ok := strings.CutPrefix(p, pre); ok && (rest == "" || rest[0] == '/') {
			p = rest
		}
	}
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	if r.Upstream == nil {
		return p
	}
	base := strings.TrimSuffix(r.Upstream.Path, "/")
	if base == "" {
		return p
	}
	if base[0] != '/' {
		base = "/" + base
	}
	return base + p
}
