package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// This file and claimpath.go are the one home of the syntax rules that both
// validation (which reports them with lines) and policy.Compile (which
// refuses a table it could not serve) apply: host patterns, scopes, HTTP
// tokens, header folding and reserved header names. Neither side writes its
// own copy, so a rule tightened here is tightened for both.

// CheckHost checks a host pattern of match.hosts, in lower case: an exact
// name, "*." followed by one ("*.example.com": any subdomain, not the
// apex), or an IPv6 address in brackets ("[::1]"). Labels are letters,
// digits and hyphens; no port, no other wildcard.
func CheckHost(h string) error {
	if inner, ok := strings.CutPrefix(h, "["); ok {
		if a, err := netip.ParseAddr(strings.TrimSuffix(inner, "]")); err != nil || !strings.HasSuffix(inner, "]") || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("%q: an address in brackets must be an IPv6 address without a zone or port (\"[::1]\")", h)
		}
		return nil
	}
	name := h
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		name = rest
	}
	switch {
	case h == "":
		return errors.New("must not be empty")
	case strings.Contains(name, "*"):
		return fmt.Errorf("%q: the only wildcard is a leading \"*.\" (\"*.example.com\")", h)
	case strings.Contains(name, ":"):
		return fmt.Errorf("%q: write the host without a port (the port is ignored when matching)", h)
	case len(name) > 253:
		return fmt.Errorf("%q is longer than a host name can be", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return fmt.Errorf("%q has an empty label (a leading, trailing or doubled dot)", h)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q is not a host name: use letters, digits, hyphens and dots", h)
			}
		}
	}
	return nil
}

// CheckOrigin checks one cors.allowed_origins entry, in lower case, as a
// browser serializes an origin (RFC 6454 §6.2, the Fetch standard):
// "http" or "https", "://", a host (CheckHost's syntax, so that one
// leading "*." label is the wildcard) and a port only when it is not the
// scheme's default. "*" is checked by the caller (it has rules of its
// own); "null" is refused, since any sandboxed frame or file:// page
// sends it.
func CheckOrigin(o string) error {
	if o == "" {
		return errors.New("must not be empty")
	}
	if o == "null" {
		return errors.New(`"null" is refused: sandboxed iframes, file:// pages and some redirects send it, so allowing it allows any page that chooses to be sandboxed`)
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok {
		return fmt.Errorf("%q is not an origin: write scheme://host[:port], e.g. \"https://app.example.com\"", o)
	}
	if scheme != "http" && scheme != "https" {
		return fmt.Errorf("%q: only http:// and https:// origins can be listed", o)
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return fmt.Errorf("%q: an origin has no path, query or fragment (nor a trailing slash): write %q", o, scheme+"://"+rest[:i])
	}
	if strings.Contains(rest, "@") {
		return fmt.Errorf("%q: an origin has no user info", o)
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
		n, err := strconv.ParseUint(port, 10, 16)
		switch {
		case err != nil || n == 0 || port[0] == '0':
			return fmt.Errorf("%q: the port must be a number from 1 to 65535", o)
		case scheme == "http" && n == 80, scheme == "https" && n == 443:
			return fmt.Errorf("%q: browsers leave the scheme's default port out of an origin, so it would never match: write %q", o, scheme+"://"+host)
		}
	}
	if err := CheckHost(host); err != nil {
		return fmt.Errorf("%q: %w", o, err)
	}
	return nil
}

// CheckScope checks one scope a route requires. RFC 6749 §3.3: a
// scope-token is printable ASCII without '"' and '\', and tokens carry
// scopes space-separated, so a configured scope holding white space could
// never be found; it is also quoted in WWW-Authenticate.
func CheckScope(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Errorf("%q contains whitespace: scopes are space-separated in tokens, so list each scope as its own entry", s)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r == '"' || r == '\\' || r > 0x7e }):
		return fmt.Errorf("%q has a character a scope cannot have (RFC 6749 §3.3: printable ASCII except '\"' and '\\')", s)
	}
	return nil
}

// TakesMethod reports whether a list of methods (a route's match.methods,
// a cors policy's allowed_methods; not empty) takes method: one listed
// exactly (methods are case-sensitive), or HEAD where GET is listed, since
// net/http, Express, Flask and Spring answer HEAD with the GET handler (its
// side effects, status and headers): a HEAD that skipped a GET-only route
// for a public catch-all would read them without a token. Route matching,
// CORS preflights and the configuration's warnings all read the rule here.
func TakesMethod(methods []string, method string) bool {
	return slices.Contains(methods, method) ||
		method == "HEAD" && slices.Contains(methods, "GET")
}

// IsToken reports whether s is an RFC 9110 §5.6.2 token (tchar+): the
// syntax of header names and methods.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// FoldHeader is the form header names are compared in for spoofing and
// reservation: lower case, with '_' as '-', because some upstream frameworks
// (CGI, WSGI, PHP, nginx with underscores_in_headers) merge X_User_Id into
// X-User-Id and would take a client's copy for the gateway's.
func FoldHeader(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// reservedHeaders may not be set from claims: they carry the request's
// framing, its credentials or its provenance, and letting a claim (that
// is, whoever the IdP lets edit their profile) write them would let a token
// smuggle requests, impersonate a client address or replace the
// credentials the upstream sees. They are written folded.
var reservedHeaders = []string{
	"host", "authorization", "proxy-authorization", "proxy-authenticate",
	"cookie", "content-length", "content-type", "transfer-encoding",
	"connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
	"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
	"x-real-ip", "x-request-id",
}

// ReservedHeader reports whether a claim header may not have this name,
// given in any spelling: it is folded first.
func ReservedHeader(name string) bool { return slices.Contains(reservedHeaders, FoldHeader(name)) }
