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

// routeLines holds the lines of the paths inside routes ("routes[9]",
// "routes[9].match.path") for the decoder's line table, whose plain map
// holds the others. A 10,000-route file has some 170,000 of them, and as
// map[string]int keys, a path string each, they were 12.6 MB live: more
// than half of the heap once the YAML nodes are gone. Keyed by the route's
// index and the number of the path within a route, which all routes share,
// they are 4.7 MB (measured on the bench harness's file after decoding).
type routeLines struct {
	lines  map[uint64]int32  // route index << 32 | field number -> line
	fields map[string]uint32 // path within a route (".match.path") -> field number
}

// routeField splits "routes[9].match.path" into 9 and ".match.path".
func routeField(p string) (int, string, bool) {
	rest, ok := strings.CutPrefix(p, "routes[")
	if !ok {
		return 0, "", false
	}
	digits, rest, ok := strings.Cut(rest, "]")
	// Exactly the paths "%d" writes, so that each has one key.
	if !ok || digits == "" || len(digits) > 9 || len(digits) > 1 && digits[0] == '0' ||
		strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) ||
		rest != "" && rest[0] != '.' && rest[0] != '[' {
		return 0, "", false
	}
	i, _ := strconv.Atoi(digits)
	return i, rest, true
}

// setLine records the line of path p in other or in r.
func (r *routeLines) setLine(other map[string]int, p string, line int) {
	i, field, ok := routeField(p)
	if !ok {
		other[p] = line
		return
	}
	if r.lines == nil {
		r.lines, r.fields = map[uint64]int32{}, map[string]uint32{}
	}
	n, ok := r.fields[field]
	if !ok {
		n = uint32(len(r.fields))
		r.fields[strings.Clone(field)] = n // not the whole path's memory
	}
	r.lines[uint64(i)<<32|uint64(n)] = int32(line)
}

// lineOf returns the line recorded for path p in other or in r.
func (r *routeLines) lineOf(other map[string]int, p string) (int, bool) {
	i, field, ok := routeField(p)
	if !ok {
		line, ok := other[p]
		return line, ok
	}
	n, ok := r.fields[field]
	if !ok {
		return 0, false
	}
	line, ok := r.lines[uint64(i)<<32|uint64(n)]
	return int(line), ok
}
