package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// validator checks a decoded and normalized Config. It only reads it: the
// values that have a canonical form were rewritten into it by normalize.
// Every message names the field and, through lines, the line where the
// operator wrote it; a field that is absent is reported at the line of the
// nearest enclosing entry that is present.
type validator struct {
	file       string
	lines      map[string]int // with routeLines, the decoder's line table
	routeLines routeLines
	failed     map[string]bool
	problems   Problems
	warnings   Problems
}

// line returns the line of path, or of its nearest ancestor in the file.
func (v *validator) line(p string) int {
	for {
		if l, ok := v.routeLines.lineOf(v.lines, p); ok {
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

// errorf reports a problem with the setting at path p, unless a value
// that contains it failed to decode.
func (v *validator) errorf(p string, code Code, format string, args ...any) {
	if v.broken(p) {
		return
	}
	v.problems = append(v.problems, Problem{File: v.file, Line: v.line(p), Field: p, Code: code, Msg: fmt.Sprintf(format, args...)})
}

// warnf is errorf for a finding that does not stop the gateway.
func (v *validator) warnf(p string, code Code, format string, args ...any) {
	if v.broken(p) {
		return
	}
	v.warnings = append(v.warnings, Problem{File: v.file, Line: v.line(p), Field: p, Code: code, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) present(p string) bool {
	_, ok := v.routeLines.lineOf(v.lines, p)
	return ok
}

// config checks every section, then the rules that span sections: a
// route timeout that write_timeout would cut short, and routes that verify
// tokens when no issuer is configured.
func (v *validator) config(c *Config) {
	v.server(&c.Server)
	v.log(&c.Log)
	v.decision(&c.Decision, &c.Server)
	v.tracing(&c.Tracing)
	names := v.issuers(c.Issuers)
	resources := v.resources(c.Resources)
	if c.Defaults.CORS != nil {
		v.cors("defaults.cors", c.Defaults.CORS, nil)
	}
	v.routes(c.Routes, names)
	v.rateLimitsInUse(c)

	for i := range c.Routes {
		r := &c.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		v.opaqueIssuer(p+".auth", &r.Auth, c.Issuers)
		if r.Resource != "" && !resources[r.Resource] {
			field := p + ".resource"
			if !v.present(field) {
				field = "defaults.resource"
			}
			v.errorf(field, CodeUnknownValue, "no resource is named %q", r.Resource)
		}
	}

	for i, r := range c.Routes {
		if r.Timeout >= c.Server.WriteTimeout && c.Server.WriteTimeout > 0 {
			v.warnf(fmt.Sprintf("routes[%d].timeout", i), CodeConflict, "%s is not shorter than server.write_timeout %s: the connection is cut before this route's 504 can be written", r.Timeout, c.Server.WriteTimeout)
		}
	}

	if len(c.Issuers) == 0 && !v.broken("issuers") {
		for i, r := range c.Routes {
			if r.Auth.Mode == ModeRequired || r.Auth.Mode == ModeOptional {
				p := fmt.Sprintf("routes[%d].auth.mode", i)
				if v.present("issuers") {
					p = "issuers"
				}
				v.errorf(p, CodeNoIssuers, "route %q has auth mode %s, which verifies tokens, but no issuers are configured: add an issuers entry, or make the route public", r.Name, r.Auth.Mode)
				break
			}
		}
	}
}

// Helpers shared by the rules of several sections.

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

// notAURL is the message for a URL that url.Parse refused, quoting it as
// showURL does. url.Parse's reason is left out where showURL hid anything:
// it can quote a piece of what was hidden (an "invalid port" that is the
// start of a password holding a '#', an "invalid URL escape").
func notAURL(raw string, err error) string {
	shown := showURL(raw)
	if shown != raw {
		return fmt.Sprintf("%q is not a URL (the reason is not shown: it would quote the hidden part); a password holding / ? # @ %% or a space must be percent-encoded", shown)
	}
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err // its text repeats the URL the message quotes
	}
	return fmt.Sprintf("%q is not a URL: %v", shown, err)
}

// showURL is a URL, or what was meant as one, as a problem may quote it:
// its user info and its query replaced by xxxxx. Problems are printed by
// validate and serve and logged by a refused reload, so a password or a
// token written in a URL must not reach them. It reads the text, not what
// url.Parse makes of it, since a password with a '/', '?' or '#' in it
// keeps the URL from parsing (or moves the host): the user info is
// whatever stands between the scheme and the last '@'.
func showURL(raw string) string {
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = "xxxxx" + rest[at:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		end := len(rest)
		if h := strings.IndexByte(rest[q:], '#'); h >= 0 {
			end = q + h
		}
		if end > q+1 {
			rest = rest[:q+1] + "xxxxx" + rest[end:]
		}
	}
	return prefix + rest
}

// isLoopback reports whether host is a loopback address or a localhost
// name, where plain http cannot be intercepted on the network.
func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
