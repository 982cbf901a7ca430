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
// header must be set: the value is nil, "" or an empty array. Arrays are
// comma-separated, objects compact JSON, numbers without exponent where
// exact; every control character (CR, LF, NUL, ...) is removed.
//
// Claims are signed by the identity provider but often typed by users (a
// display name, an e-mail address), so they are treated as untrusted text:
// CR and LF would let a claim add headers of its own, NUL truncates C
// parsers, and U+0085, U+2028 and U+2029 are line breaks to some decoders.
// Every C0 and C1 control character, DEL, U+2028 and U+2029 and invalid UTF-8
// are removed, surrounding spaces trimmed (a header of spaces is an empty
// header), and the result capped at MaxHeaderValue bytes on a character
// boundary. A value that ends up empty gives no header rather than an empty
// one, which an upstream could not tell from "present and empty".
//
// Inside an array, null and empty-string elements are skipped and strings
// are taken as they are (a string holding a comma is not quoted); numbers and
// booleans are written as text and nested arrays and objects as compact
// JSON with sorted keys.
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
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(es)
			if b.Len() > 4*MaxHeaderValue {
				break // enough to fill the cap even after sanitizing
			}
		}
		s = b.String()
	default:
		var ok bool
		if s, ok = scalarText(v); !ok {
			return "", false
		}
	}
	s = sanitizeHeader(s)
	return s, s != ""
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

// sanitizeHeader removes control characters and invalid UTF-8, trims spaces
// and caps the length. It returns s itself when s is short printable ASCII.
func sanitizeHeader(s string) string {
	clean := len(s) <= MaxHeaderValue
	for i := 0; clean && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
		}
	}
	if !clean {
		var b strings.Builder
		b.Grow(min(len(s), MaxHeaderValue))
		for i := 0; i < len(s) && b.Len() < MaxHeaderValue; {
			r, n := utf8.DecodeRuneInString(s[i:])
			keep := !(r == utf8.RuneError && n == 1) && !isControl(r)
			if keep && b.Len()+n <= MaxHeaderValue {
				b.WriteString(s[i : i+n])
			} else if keep {
				break // the next character does not fit whole
			}
			i += n
		}
		s = b.String()
	}
	return strings.Trim(s, " ")
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
