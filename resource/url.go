package resource

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// WellKnownPrefix is the path every metadata document is served under: the
// registered well-known URI suffix oauth-protected-resource (RFC 9728 §3).
const WellKnownPrefix = "/.well-known/oauth-protected-resource"

// MetadataURL derives the URL of resource's metadata document (RFC 9728
// §3.1): WellKnownPrefix goes between the authority and the path, so
// https://api.example.com/orders is described at
// https://api.example.com/.well-known/oauth-protected-resource/orders. A
// resource with no path, or the path "/" alone, is described at the prefix
// itself: the slash that only ends the host is dropped. Any other trailing
// slash is part of the path and stays (…/orders/ is not …/orders).
//
// The derivation is textual, on the identifier as written: it is what a
// client does, and the document served there must carry that same text as
// its resource (§3.3). resource must be a valid identifier (see
// Metadata.Resource); otherwise the error is a *MemberError.
func MetadataURL(resource string) (string, error) {
	id, err := parseIdentifier(resource)
	if err != nil {
		return "", &MemberError{Resource: resource, Member: "resource", Problem: err.Error()}
	}
	return id.origin + id.metadataPath(), nil
}

// identifier is a valid resource identifier, split the way §3.1 and the
// host comparison of Set.Lookup need it.
type identifier struct {
	scheme   string // https, or http for a loopback host
	origin   string // scheme://authority, as written
	path     string // "" for no path or "/", else the path as written
	hostname string // lowercase, without the brackets of an IPv6 literal
	port     string // the explicit port, or the scheme's default
}

func (id identifier) metadataPath() string { return WellKnownPrefix + id.path }

// queryRule says whether a URL member may carry a query: an identifier or
// an issuer may not, a page or a key set URL may.
type queryRule bool

const (
	noQuery      queryRule = false
	queryAllowed queryRule = true
)

// parseIdentifier checks a resource identifier. Beyond checkURL it must be
// canonical, because clients compare it as a string (§3.3) and the gateway
// matches request paths against it: lowercase scheme and host, and a path
// with no percent-encoding, no empty segment and no dot segment, so that
// it reads the same escaped and decoded and no path cleaning changes it.
func parseIdentifier(raw string) (identifier, error) {
	if raw == "" {
		return identifier{}, errors.New("required")
	}
	u, err := checkURL(raw, noQuery)
	if err != nil {
		return identifier{}, err
	}
	rest, ok := strings.CutPrefix(raw, u.Scheme+"://")
	if !ok {
		return identifier{}, errors.New("scheme must be written in lowercase")
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if authority != strings.ToLower(authority) {
		return identifier{}, errors.New("host must be written in lowercase")
	}
	if err := checkPath(path); err != nil {
		return identifier{}, err
	}
	if path == "/" {
		path = ""
	}
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return identifier{
		scheme:   u.Scheme,
		origin:   raw[:len(u.Scheme)+len("://")+len(authority)],
		path:     path,
		hostname: u.Hostname(),
		port:     port,
	}, nil
}

func defaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}

// checkPath refuses a resource path that is not canonical (see
// parseIdentifier). A trailing slash is allowed: it is an empty last
// segment, and part of the identifier.
func checkPath(path string) error {
	if path == "" {
		return nil
	}
	for i := 0; i < len(path); i++ {
		if !isPathChar(path[i]) {
			if path[i] == '%' {
				return errors.New("path must not be percent-encoded: it must read the same escaped and decoded")
			}
			return errors.New("path has a character that needs escaping")
		}
	}
	segments := strings.Split(path[1:], "/")
	for i, seg := range segments {
		switch {
		case seg == "." || seg == "..":
			return errors.New("path has a dot segment")
		case seg == "" && i < len(segments)-1:
			return errors.New("path has an empty segment")
		}
	}
	return nil
}

// isPathChar: RFC 3986 pchar without pct-encoded, and the slash.
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// checkURL checks a URL member: absolute, https (http for a loopback host),
// a plain DNS name or IP literal for host, no user information, no
// fragment, a query only where allowed, and only printable ASCII other than
// '"' and '\\', so that the URL can be quoted in a challenge as it is.
func checkURL(raw string, query queryRule) (*url.URL, error) {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return nil, errors.New("must be printable ASCII without space, quote or backslash")
		}
	}
	if strings.IndexByte(raw, '#') >= 0 {
		return nil, errors.New("must have no fragment")
	}
	if query == noQuery && strings.IndexByte(raw, '?') >= 0 {
		return nil, errors.New("must have no query")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return nil, errors.New("must be an absolute URL with a host")
	}
	if u.User != nil {
		return nil, errors.New("must have no user information")
	}
	if err := checkHost(u); err != nil {
		return nil, err
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return nil, errors.New("must use https (http only for a loopback host, for development)")
	default:
		return nil, errors.New("must use https")
	}
	return u, nil
}

func checkHost(u *url.URL) error {
	name := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		addr, err := netip.ParseAddr(name)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return errors.New("host is not an IPv6 address")
		}
	} else {
		if name == "" {
			return errors.New("host is empty")
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
				return errors.New("host must be a DNS name or an IP address")
			}
		}
	}
	if strings.HasSuffix(u.Host, ":") {
		return errors.New("port is empty")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("port is out of range")
		}
	}
	return nil
}

// isLoopback: localhost and the loopback addresses (127.0.0.0/8, ::1).
func isLoopback(hostname string) bool {
	if strings.EqualFold(hostname, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(hostname)
	return err == nil && addr.IsLoopback()
}
