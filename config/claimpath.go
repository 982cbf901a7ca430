package config

import (
	"errors"
	"fmt"
	"strings"
)

// A claim path names a value inside a token's claims. It is written as the
// claim's name, or as names separated by dots to descend into nested objects
// ("realm_access.roles"); a dot that belongs to a name is escaped as "\."
// ("https://example\.com/roles" is one segment). A backslash is allowed only
// before a dot, so that the escape stays unambiguous and "\x" never has to
// mean something later.
//
// The gateway first looks the path up as one whole key, which is how
// Auth0-style namespaced claims ("https://example.com/roles") are reached
// without escapes, and only then splits it; both readings are decided by the
// policy, not here.

// ValidClaimPath reports whether s is a well-formed claim path: non-empty,
// no empty segment ("a..b", ".a", "a."), and no backslash except before a
// dot. Catching these at load time matters because a malformed path would
// otherwise silently never match, which for a claim check or a forwarded
// identity header looks exactly like a token that lacks the claim.
func ValidClaimPath(s string) error {
	_, err := SplitClaimPath(s)
	return err
}

// SplitClaimPath splits a claim path into its segments, unescaping "\.".
// It is the one definition of the syntax, shared by validation and by the
// code that reads claims, so that the two can never disagree.
func SplitClaimPath(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("claim path is empty")
	}
	var (
		segs []string
		cur  strings.Builder
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) || s[i+1] != '.' {
				return nil, fmt.Errorf("claim path %q: a backslash may only escape a dot (write \\. for a literal dot)", s)
			}
			cur.WriteByte('.')
			i++
		case '.':
			if cur.Len() == 0 {
				return nil, emptySegment(s)
			}
			segs = append(segs, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() == 0 {
		return nil, emptySegment(s)
	}
	return append(segs, cur.String()), nil
}

func emptySegment(s string) error {
	return fmt.Errorf("claim path %q has an empty segment (a leading, trailing or doubled dot)", s)
}
