package policy

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/portcullis/portcullis/config"
)

// ClaimPath addresses a claim: first tried as one whole key, then split on
// dots into nested objects; a literal dot in a segment is written "\.".
type ClaimPath struct {
	raw   string
	whole string   // the key as one name (escapes removed)
	parts []string // the segments, for the nested lookup
}

// ParseClaimPath compiles a claim path. "realm_access.roles" is the roles
// member of the realm_access object; "https://example\.com/roles" and
// "https://example.com/roles" both name the top-level key
// "https://example.com/roles" (see Lookup). An empty path, an empty segment
// ("a..b", ".a") or a backslash that does not escape a dot is an error, so
// that a typo is found at load time rather than silently matching nothing.
func ParseClaimPath(s string) (ClaimPath, error) {
	parts, err := config.SplitClaimPath(s)
	if err != nil {
		return ClaimPath{}, err
	}
	return ClaimPath{raw: s, whole: strings.Join(parts, "."), parts: parts}, nil
}

func (p ClaimPath) String() string { return p.raw }

// topLevel are the top-level claims Lookup may read: the whole path as one
// key, and the first segment of the nested walk.
func (p ClaimPath) topLevel() []string {
	if len(p.parts) == 0 {
		return nil
	}
	if len(p.parts) == 1 {
		return []string{p.whole}
	}
	return []string{p.whole, p.parts[0]}
}

// Lookup finds the claim's value. The whole path is tried first as one
// top-level key, because identity providers such as Auth0 require namespaced
// custom claims whose names are URLs full of dots; only then is the path
// walked through nested objects. A claim that is present with a JSON null
// value is found, with a nil value.
func (p ClaimPath) Lookup(claims map[string]any) (any, bool) {
	if len(p.parts) == 0 || claims == nil {
		return nil, false
	}
	if v, ok := claims[p.whole]; ok {
		return v, true
	}
	if len(p.parts) == 1 {
		return nil, false // the whole key was the only key
	}
	cur := claims
	last := len(p.parts) - 1
	for _, k := range p.parts[:last] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	v, ok := cur[p.parts[last]]
	return v, ok
}

// MaxHeaderValue is the longest header value HeaderValue returns, in bytes: a
// token is signed, not small, and an upstream's header limit should not
// decide whether a request with a large claim gets through.
const MaxHeaderValue = 4096

// HeaderValue renders a claim value for a header. It returns false when no
// header must be set: the value is nil, "" or an empty array, or it cannot
// be carried exactly. Arrays are comma-separated, objects compact JSON,
// numbers as written in the token.
//
// Claims are signed by the identity provider but often typed by users (a
// display name, an e-mail address, a group name), so they are treated as
// untrusted text, and a value is forwarded exactly as the token holds it or
// not at all. Changing it to make it fit a header would make it another
// value, and another user's: with control characters removed "ad\u0000min"
// would be "admin", with spaces trimmed " admin" would be too, and cut at
// the cap a list ending "...,administrators" could end "...,admin". So no
// header is set for a value that holds a control character (C0, among
// them CR and LF, which would add headers, and NUL, which truncates C
// parsers; DEL; C1, U+0085 among them), U+2028 or U+2029 (line breaks to
// some decoders) or invalid UTF-8, that starts or ends with a space, or
// that is longer than MaxHeaderValue bytes: to the upstream the token then
// lacks the claim, as it would if the identity provider had not sent it.
//
// Inside an array, null and empty-string elements are skipped, numbers and
// booleans are written as text and nested arrays and objects as compact
// JSON with sorted keys. An element that holds a comma or starts or ends
// with a space sets no header either: an upstream that splits the list on
// commas (and trims, as RFC 9110 §5.6.1 lists are read) would find other
// elements in it, ["x,admin"] would be "x" and "admin".
func HeaderValue(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		s = x
	case []string:
		return HeaderValue(stringsToAny(x))
	case []any:
		var b strings.Builder
		for _, e := range x {
			es, ok := scalarText(e)
			if !ok {
				continue
			}
			if strings.IndexByte(es, ',') >= 0 || es[0] == ' ' || es[len(es)-1] == ' ' {
				return "", false // the list could not be split back into its elements
			}
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(es)
			if b.Len() > MaxHeaderValue {
				return "", false
			}
		}
		s = b.String()
	default:
		var ok bool
		if s, ok = scalarText(v); !ok {
			return "", false
		}
	}
	if !exactHeader(s) {
		return "", false
	}
	return s, true
}

// scalarText renders one value: strings as they are, numbers and booleans as
// text, arrays and objects as compact JSON. It reports false for nil, "",
// non-finite floats and values JSON cannot encode.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, x != ""
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return string(x), x != ""
	case float64:
		return formatFloat(x, 64)
	case float32:
		return formatFloat(float64(x), 32)
	case int:
		return strconv.FormatInt(int64(x), 10), true
	case int8:
		return strconv.FormatInt(int64(x), 10), true
	case int16:
		return strconv.FormatInt(int64(x), 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case uint8:
		return strconv.FormatUint(uint64(x), 10), true
	case uint16:
		return strconv.FormatUint(uint64(x), 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", false
	}
	return strings.TrimSuffix(b.String(), "\n"), true
}

func formatFloat(f float64, bits int) (string, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", false
	}
	return strconv.FormatFloat(f, 'f', -1, bits), true
}

// exactHeader reports whether s can be a header value as it is: not empty,
// at most MaxHeaderValue bytes, valid UTF-8 without control characters, and
// no space at either end (which a header parser would drop). It does not
// allocate.
func exactHeader(s string) bool {
	if s == "" || len(s) > MaxHeaderValue || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || isControl(r) {
			return false
		}
		i += n
	}
	return true
}

// isControl: C0, DEL, C1 (U+0085 among them), and the Unicode line and
// paragraph separators.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\u2028' || r == '\u2029'
}

func stringsToAny(ss []string) []any {
	a := make([]any, len(ss))
	for i, s := range ss {
		a[i] = s
	}
	return a
}
