package config

import (
	"regexp"
	"strconv"
	"strings"
)

// Field paths name a value of the file in messages and in the decoder's
// line table: "routes[2].auth.issuers[0]", `routes[0].auth.claims["a.b"]`.
// joinPath builds them and parentPath takes them apart; the two must stay
// each other's inverse, since the validator finds the line of an absent
// field by walking up to its nearest present ancestor.

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinPath appends a key to a field path. Keys that are not plain names
// (claim paths with dots, URLs) are quoted, `claims["https://x.com/roles"]`,
// so that the path stays unambiguous.
func joinPath(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// parentPath is the inverse of joinPath and of "[i]": it drops the last
// segment. A quoted segment never contains `["` (strconv.Quote escapes the
// quote), and a plain one never contains "." or "[".
func parentPath(p string) string {
	switch {
	case strings.HasSuffix(p, `"]`):
		return p[:strings.LastIndex(p, `["`)]
	case strings.HasSuffix(p, "]"):
		return p[:strings.LastIndex(p, "[")]
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}
