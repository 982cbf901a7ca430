// Package challenge parses WWW-Authenticate challenges strictly, for the
// tests that hold the gateway's refusals to RFC 6750 and RFC 9728: the
// binary's (cmd/portcullis) and the resource_metadata parameter's
// (resource). It is a package of its own, without the gateway's
// dependencies, so that the tests of a package below the gateway can use it.
package challenge

import (
	"fmt"
	"strings"
)

// Challenge is one WWW-Authenticate challenge, parsed.
type Challenge struct {
	Scheme string
	Params map[string]string // lower-cased names; quoted values unquoted
}

// Parse parses a header value holding exactly one challenge with
// auth-params (RFC 9110 §11.3, formerly RFC 7235 §2.1):
//
//	challenge  = auth-scheme [ 1*SP #auth-param ]
//	auth-param = token BWS "=" BWS ( token / quoted-string )
//
// It is strict: anything else (a stray quote, an unescaped quote inside a
// quoted string, a missing comma, an empty element, a parameter named
// twice, which §11.2 forbids) is an error.
func Parse(v string) (Challenge, error) {
	c := Challenge{Params: map[string]string{}}
	i := 0
	token := func() string {
		start := i
		for i < len(v) && isTchar(v[i]) {
			i++
		}
		return v[start:i]
	}
	ows := func() {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
	}
	c.Scheme = token()
	if c.Scheme == "" {
		return c, fmt.Errorf("no auth-scheme at byte 0")
	}
	if i == len(v) {
		return c, nil
	}
	if v[i] != ' ' {
		return c, fmt.Errorf("byte %d: want SP after the auth-scheme, got %q", i, v[i])
	}
	for i < len(v) && v[i] == ' ' {
		i++
	}
	for {
		name := token()
		if name == "" {
			return c, fmt.Errorf("byte %d: want an auth-param name", i)
		}
		ows()
		if i == len(v) || v[i] != '=' {
			return c, fmt.Errorf("byte %d: want '=' after %q", i, name)
		}
		i++
		ows()
		var value string
		if i < len(v) && v[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for !closed {
				switch {
				case i == len(v):
					return c, fmt.Errorf("unterminated quoted-string for %q", name)
				case v[i] == '"':
					closed = true
					i++
				case v[i] == '\\':
					if i+1 == len(v) || !isQuotedPairChar(v[i+1]) {
						return c, fmt.Errorf("byte %d: bad quoted-pair", i)
					}
					b.WriteByte(v[i+1])
					i += 2
				case isQdtext(v[i]):
					b.WriteByte(v[i])
					i++
				default:
					return c, fmt.Errorf("byte %d: %q is not allowed in a quoted-string", i, v[i])
				}
			}
			value = b.String()
		} else {
			value = token()
			if value == "" {
				return c, fmt.Errorf("byte %d: want a token or a quoted-string as the value of %q", i, name)
			}
		}
		key := strings.ToLower(name)
		if _, dup := c.Params[key]; dup {
			return c, fmt.Errorf("auth-param %q appears twice", name)
		}
		c.Params[key] = value
		ows()
		if i == len(v) {
			return c, nil
		}
		if v[i] != ',' {
			return c, fmt.Errorf("byte %d: want ',' between auth-params, got %q", i, v[i])
		}
		i++
		ows()
	}
}

// isTchar: RFC 9110 §5.6.2 tchar.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isQdtext: RFC 9110 §5.6.4 qdtext (HTAB, SP, %x21, %x23-5B, %x5D-7E,
// obs-text).
func isQdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || (0x23 <= c && c <= 0x5b) || (0x5d <= c && c <= 0x7e) || c >= 0x80
}

// isQuotedPairChar: what may follow a backslash (HTAB, SP, VCHAR,
// obs-text).
func isQuotedPairChar(c byte) bool {
	return c == '\t' || c == ' ' || (0x21 <= c && c <= 0x7e) || c >= 0x80
}
