package policy

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseClaimPath(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		whole   string
		parts   []string
		wantErr bool
	}{
		{"a name is one segment", "sub", "sub", []string{"sub"}, false},
		{"dots separate nested objects", "realm_access.roles", "realm_access.roles", []string{"realm_access", "roles"}, false},
		{"an escaped dot belongs to the segment", `https://example\.com/roles`, "https://example.com/roles", []string{"https://example.com/roles"}, false},
		{"an unescaped URL is still one whole key", "https://example.com/roles", "https://example.com/roles", []string{"https://example", "com/roles"}, false},
		{"escaped and plain dots mix", `a\.b.c`, "a.b.c", []string{"a.b", "c"}, false},
		{"an empty path is an error", "", "", nil, true},
		{"an empty segment is an error", "a..b", "", nil, true},
		{"a leading dot is an error", ".a", "", nil, true},
		{"a trailing dot is an error", "a.", "", nil, true},
		{"a backslash before another character is an error", `a\b`, "", nil, true},
		{"a trailing backslash is an error", `a\`, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseClaimPath(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseClaimPath(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if p.whole != tt.whole || !slices.Equal(p.parts, tt.parts) || p.String() != tt.in {
				t.Errorf("ParseClaimPath(%q) = whole %q parts %q raw %q", tt.in, p.whole, p.parts, p.String())
			}
		})
	}
}

func TestLookup(t *testing.T) {
	claims := claimsJSON(t, `{
		"sub": "alice",
		"nothing": null,
		"realm_access": {"roles": ["admin", "user"], "deep": {"x": 1}},
		"https://example.com/roles": ["editor"],
		"a.b": "whole",
		"a": {"b": "nested", "c.d": "escaped"},
		"org": "not an object"
	}`)
	tests := []struct {
		name   string
		path   string
		want   any
		wantOK bool
	}{
		{"a top-level claim", "sub", "alice", true},
		{"a nested claim", "realm_access.roles", []any{"admin", "user"}, true},
		{"a deeply nested claim", "realm_access.deep.x", json.Number("1"), true},
		{"an Auth0-style whole key without escapes", "https://example.com/roles", []any{"editor"}, true},
		{"an Auth0-style whole key with escapes", `https://example\.com/roles`, []any{"editor"}, true},
		{"the whole key wins over the nested path", "a.b", "whole", true},
		{"an escaped dot in a nested segment", `a.c\.d`, "escaped", true},
		{"null is found with a nil value", "nothing", nil, true},
		{"a missing claim is not found", "email", nil, false},
		{"a missing nested claim is not found", "realm_access.groups", nil, false},
		{"walking through a string is not found", "org.tenant_id", nil, false},
		{"walking through an array is not found", "realm_access.roles.0", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseClaimPath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.Lookup(claims)
			if ok != tt.wantOK || !jsonEqual(got, tt.want) {
				t.Errorf("Lookup(%q) = %#v, %v; want %#v, %v", tt.path, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if v, ok := (ClaimPath{}).Lookup(claims); ok || v != nil {
		t.Error("the zero ClaimPath found something")
	}
	p, _ := ParseClaimPath("sub")
	if _, ok := p.Lookup(nil); ok {
		t.Error("found a claim in nil claims")
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestHeaderValue(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	tests := []struct {
		name   string
		in     any
		want   string
		wantOK bool
	}{
		{"nil sets no header", nil, "", false},
		{"an empty string sets no header", "", "", false},
		{"a string is taken as is", "alice@example.com", "alice@example.com", true},
		{"unicode is kept", "Zoë Ångström", "Zoë Ångström", true},
		{"CR LF sets no header (removed, they would join the lines)", "alice\r\nX-Admin: true", "", false},
		{"NUL sets no header (removed, ad\\0min would be admin)", "a\x00b", "", false},
		{"tab and DEL set no header", "a\tb\x7fc", "", false},
		{"unicode line separators set no header", "a\u2028b\u2029c\u0085d", "", false},
		{"a string of control characters sets no header", "\r\n\x00", "", false},
		{"surrounding spaces set no header (trimmed, they would be another value)", "  a b  ", "", false},
		{"inner spaces are kept", "a b", "a b", true},
		{"a string of spaces sets no header", "   ", "", false},
		{"invalid UTF-8 sets no header", "a\xffb", "", false},
		{"true", true, "true", true},
		{"false is a value, not an absence", false, "false", true},
		{"a JSON integer keeps its text", json.Number("42"), "42", true},
		{"a JSON big integer keeps its text", json.Number("12345678901234567890"), "12345678901234567890", true},
		{"a JSON fraction keeps its text", json.Number("1.5"), "1.5", true},
		{"a float64 integer has no exponent", float64(1e21), "1000000000000000000000", true},
		{"a float64 fraction", 0.25, "0.25", true},
		{"NaN sets no header", math.NaN(), "", false},
		{"an int", 7, "7", true},
		{"an int64", int64(-7), "-7", true},
		{"a uint64", uint64(math.MaxUint64), "18446744073709551615", true},
		{"an array is comma-separated without spaces", []any{"admin", "user"}, "admin,user", true},
		{"an empty array sets no header", []any{}, "", false},
		{"an array of empty strings and nulls sets no header", []any{"", nil}, "", false},
		{"empty elements are skipped", []any{"a", "", nil, "b"}, "a,b", true},
		{"numbers and bools in an array are text", []any{json.Number("1"), true, 2.5}, "1,true,2.5", true},
		{"objects and arrays in an array are compact JSON", []any{map[string]any{"a": "x"}, []any{"y"}}, `{"a":"x"},["y"]`, true},
		{"an element with a comma inside sets no header", []any{map[string]any{"b": 1, "a": "x"}}, "", false},
		{"a string element with a comma sets no header", []any{"viewer,admin"}, "", false},
		{"a string element with a surrounding space sets no header", []any{"viewer", " admin"}, "", false},
		{"CR LF inside an array element sets no header", []any{"a\r\nb", "c"}, "", false},
		{"a []string is like an array", []string{"a", "b"}, "a,b", true},
		{"an object is compact JSON with sorted keys", map[string]any{"z": json.Number("1"), "a": []any{"x", nil}}, `{"a":["x",null],"z":1}`, true},
		{"an object does not escape HTML", map[string]any{"a": "<&>"}, `{"a":"<&>"}`, true},
		{"newlines in an object stay escaped", map[string]any{"a": "x\r\ny\u2028"}, `{"a":"x\r\ny\u2028"}`, true},
		{"a value over the cap sets no header (cut, it would be another value)", long, "", false},
		{"a value of exactly the cap is kept", long[:MaxHeaderValue], long[:MaxHeaderValue], true},
		{"a multi-byte value over the cap sets no header", strings.Repeat("€", 2000), "", false},
		{"an array over the cap sets no header", []any{long[:MaxHeaderValue-10], "administrators"}, "", false},
		{"a huge ASCII value sets no header", strings.Repeat("a", 10000), "", false},
		{"a value cut then trimmed sets no header", "admin" + strings.Repeat(" ", MaxHeaderValue) + "x", "", false},
		{"a value that JSON cannot encode sets no header", map[string]any{"f": func() {}}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := HeaderValue(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("HeaderValue(%#v) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestHeaderValueOfAPlainStringDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { HeaderValue("alice@example.com") }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

// FuzzHeaderValue feeds any JSON value (decoded as the verifier does) and
// any string to HeaderValue: it never panics, and what it returns is never
// empty, never longer than MaxHeaderValue, never holds a character that
// could end or corrupt a header line, and is a string claim unchanged.
func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{
		`"alice"`, `"a\r\nb"`, `["a","b",null,""]`, `{"a":{"b":[1,2.5e3,true]}}`, `12345678901234567890`,
		`"\u2028\u0085"`, `[]`, `null`, "raw\x00string\xff", "é€\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		if d.Decode(&v) == nil {
			checkHeaderValue(t, v)
			checkHeaderValue(t, []any{v, v})
			checkHeaderValue(t, map[string]any{"k": v})
		}
		checkHeaderValue(t, s)
		checkHeaderValue(t, []any{s})
		if s != "" {
			// Past the cap, so that truncation meets every kind of content.
			checkHeaderValue(t, strings.Repeat(s, MaxHeaderValue/len(s)+1))
		}
	})
}

func checkHeaderValue(t *testing.T, v any) {
	got, ok := HeaderValue(v)
	switch {
	case !ok && got != "":
		t.Fatalf("HeaderValue(%#v) = %q but false", v, got)
	case !ok:
		return
	case got == "":
		t.Fatalf("HeaderValue(%#v): an empty header", v)
	case len(got) > MaxHeaderValue:
		t.Fatalf("HeaderValue(%#v): %d bytes", v, len(got))
	case !utf8.ValidString(got):
		t.Fatalf("HeaderValue(%#v) = %q: invalid UTF-8", v, got)
	case strings.ContainsFunc(got, isControl):
		t.Fatalf("HeaderValue(%#v) = %q: control character", v, got)
	case strings.IndexFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		t.Fatalf("HeaderValue(%#v) = %q: control byte", v, got)
	}
	// Exact or nothing: a string is sent as it is, never changed into
	// another value.
	if s, isString := v.(string); isString && got != s {
		t.Fatalf("HeaderValue(%q) = %q: changed", s, got)
	}
}
