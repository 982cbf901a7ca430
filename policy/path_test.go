package policy

import (
	"errors"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		name    string
		target  string // a request target, parsed as net/http does
		want    string
		wantErr error
	}{
		{"root stays root", "/", "/", nil},
		{"a clean path is unchanged", "/orders/1", "/orders/1", nil},
		{"a trailing slash is kept", "/orders/", "/orders/", nil},
		{"the query is not part of the path", "/a?next=/../admin", "/a", nil},
		{"dot-dot is resolved", "/public/../admin", "/admin", nil},
		{"dot-dot at the end is resolved", "/a/b/..", "/a", nil},
		{"dot-dot with a trailing slash keeps it", "/a/b/../", "/a/", nil},
		{"dot-dot above the root stays at the root", "/../../etc/passwd", "/etc/passwd", nil},
		{"dot-dot alone is the root", "/..", "/", nil},
		{"dot is resolved and the trailing slash kept", "/a/./b/", "/a/b/", nil},
		{"a leading double slash is one slash", "//admin", "/admin", nil},
		{"inner double slashes are one slash", "/a//b///c", "/a/b/c", nil},
		{"trailing double slash is one slash", "/a/b//", "/a/b/", nil},
		{"only slashes is the root", "///", "/", nil},
		{"encoded dot-dot is decoded then resolved", "/public/%2e%2e/admin", "/admin", nil},
		{"encoded dot-dot in upper case too", "/public/%2E%2E/admin", "/admin", nil},
		{"half-encoded dot-dot too", "/public/.%2e/admin", "/admin", nil},
		{"encoded dot is resolved", "/a/%2e/b", "/a/b", nil},
		{"percent-encoded letters are decoded", "/caf%C3%A9/%41", "/café/A", nil},
		{"an encoded space is decoded", "/a%20b", "/a b", nil},
		{"plus is not a space in a path", "/a+b", "/a+b", nil},
		{"a literal percent that encodes nothing is kept", "/100%25", "/100%", nil},
		{"a literal percent before a non-hex character is kept", "/100%25off/%25", "/100%off/%", nil},
		{"a literal percent before one hex digit is kept", "/a%25f", "/a%f", nil},
		{"a double-encoded slash is refused", "/a%252Fb", "", ErrDoubleEncoding},
		{"a double-encoded dot is refused", "/public/%252e%252e/admin", "", ErrDoubleEncoding},
		{"a double-encoded dot in upper case is refused", "/public/%252E%252E/admin", "", ErrDoubleEncoding},
		{"a double-encoded backslash is refused", "/a%255cb", "", ErrDoubleEncoding},
		{"a double-encoded percent is refused", "/a%2525", "", ErrDoubleEncoding},
		{"a double-encoded letter is refused", "/priv%2561te", "", ErrDoubleEncoding},
		{"a double-encoded overlong byte is refused", "/a%25c0%25af", "", ErrDoubleEncoding},
		{"valid two-, three- and four-byte UTF-8 is decoded", "/caf%C3%A9/%E2%82%AC/%F0%9F%98%80", "/café/€/😀", nil},
		{"an overlong slash is refused", "/admin%C0%AF", "", ErrNotUTF8},
		{"an overlong slash in lower case is refused", "/%c0%afadmin", "", ErrNotUTF8},
		{"an overlong dot is refused", "/%c0%ae%c0%ae/admin", "", ErrNotUTF8},
		{"a three-byte overlong slash is refused", "/%e0%80%afadmin", "", ErrNotUTF8},
		{"a lone continuation byte is refused", "/a%80", "", ErrNotUTF8},
		{"a truncated sequence is refused", "/a%e2%82", "", ErrNotUTF8},
		{"an encoded UTF-16 surrogate is refused", "/a%ed%a0%80", "", ErrNotUTF8},
		{"a code point above U+10FFFF is refused", "/a%f4%90%80%80", "", ErrNotUTF8},
		{"0xFF is never UTF-8", "/a%ff", "", ErrNotUTF8},
		{"a path parameter on a name segment is refused (servlet containers drop it before routing)", "/a;v=1/b", "", ErrBadPath},
		{"an encoded semicolon is refused like a raw one", "/a%3Bv=1/b", "", ErrBadPath},
		{"%2F is refused", "/a%2Fb", "", ErrEncodedSlash},
		{"%2f is refused", "/a%2fb", "", ErrEncodedSlash},
		{"an encoded slash after dot-dot is refused", "/public/..%2fadmin", "", ErrEncodedSlash},
		{"%5C is refused", "/a%5Cb", "", ErrEncodedSlash},
		{"%5c is refused", "/public/..%5cadmin", "", ErrEncodedSlash},
		{"%00 is refused", "/a%00b", "", ErrBadPath},
		{"encoded CR LF is refused", "/a%0d%0aSet-Cookie:%20x=1", "", ErrBadPath},
		{"an encoded tab is refused", "/a%09b", "", ErrBadPath},
		{"%7F is refused", "/a%7F", "", ErrBadPath},
		{"dot-dot with a path parameter is refused", "/public/..;/admin", "", ErrBadPath},
		{"encoded dot-dot with a path parameter is refused", "/public/%2e%2e;x=1/admin", "", ErrBadPath},
		{"dot with a path parameter is refused", "/a/.;x/b", "", ErrBadPath},
		{"the asterisk form is not a path", "*", "", ErrBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.ParseRequestURI(tt.target)
			if err != nil {
				t.Fatalf("ParseRequestURI(%q): %v", tt.target, err)
			}
			got, err := CleanPath(u)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("CleanPath(%q) = %q, %v; want %q, %v", tt.target, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCleanPathOnBuiltURLs(t *testing.T) {
	tests := []struct {
		name    string
		u       *url.URL
		want    string
		wantErr error
	}{
		{"an empty path is the root", &url.URL{}, "/", nil},
		{"a raw backslash is refused", &url.URL{Path: `/a\b`}, "", ErrEncodedSlash},
		{"a raw backslash after dot-dot is refused", &url.URL{Path: `/public/..\admin`}, "", ErrEncodedSlash},
		{"a raw NUL is refused", &url.URL{Path: "/a\x00b"}, "", ErrBadPath},
		{"a raw LF is refused", &url.URL{Path: "/a\nb"}, "", ErrBadPath},
		{"a relative path is refused", &url.URL{Path: "a/b"}, "", ErrBadPath},
		{"an opaque URL is refused", &url.URL{Scheme: "http", Opaque: "example.com"}, "", ErrBadPath},
		{"nil is refused", nil, "", ErrBadPath},
		{"RawPath is what is checked", &url.URL{Path: "/a/b", RawPath: "/a%2Fb"}, "", ErrEncodedSlash},
		{"a decoded Path with a percent is taken literally", &url.URL{Path: "/100%"}, "/100%", nil},
		{"a decoded Path holding an escape is double encoding", &url.URL{Path: "/a%2e%2e"}, "", ErrDoubleEncoding},
		{"a raw invalid byte is refused", &url.URL{Path: "/a\xc0\xafb"}, "", ErrNotUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CleanPath(tt.u)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("CleanPath = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCleanPathDoesNotAllocateForACleanPath(t *testing.T) {
	for _, p := range []string{"/", "/orders/1", "/orders/1/"} {
		u := &url.URL{Path: p}
		if n := testing.AllocsPerRun(100, func() { _, _ = CleanPath(u) }); n != 0 {
			t.Errorf("CleanPath(%q): %v allocations, want 0", p, n)
		}
	}
}

func TestForwardPath(t *testing.T) {
	tests := []struct {
		name             string
		prefix, upstream string
		strip            bool
		clean, want      string
	}{
		{"without strip_prefix the path is forwarded as matched", "/orders", "http://h", false, "/orders/1", "/orders/1"},
		{"strip_prefix removes the prefix", "/orders", "http://h", true, "/orders/1", "/1"},
		{"strip_prefix of the prefix itself leaves the root", "/orders", "http://h", true, "/orders", "/"},
		{"strip_prefix keeps the trailing slash", "/orders", "http://h", true, "/orders/1/", "/1/"},
		{"strip_prefix of prefix with slash leaves the root", "/orders", "http://h", true, "/orders/", "/"},
		{"strip_prefix of a prefix written with a trailing slash", "/orders/", "http://h", true, "/orders/1", "/1"},
		{"strip_prefix of a deep prefix", "/api/v1", "http://h", true, "/api/v1/x/y", "/x/y"},
		{"strip_prefix with prefix / changes nothing", "/", "http://h", true, "/x", "/x"},
		{"an upstream base path is prepended", "/orders", "http://h/base", false, "/orders/1", "/base/orders/1"},
		{"an upstream base path with a slash does not double it", "/orders", "http://h/base/", false, "/orders/1", "/base/orders/1"},
		{"strip_prefix under a base path", "/orders", "http://h/base", true, "/orders/1", "/base/1"},
		{"the root under a base path keeps the slash", "/orders", "http://h/base", true, "/orders", "/base/"},
		{"an upstream path of / changes nothing", "/orders", "http://h/", true, "/orders/1", "/1"},
		{"a trailing slash survives the base path", "/orders", "http://h/base", false, "/orders/1/", "/base/orders/1/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rt("r", tt.prefix)
			r.Upstream, r.StripPrefix = tt.upstream, tt.strip
			route := compile(t, testConfig(r)).Routes()[0]
			if got := route.ForwardPath(tt.clean); got != tt.want {
				t.Errorf("ForwardPath(%q) = %q, want %q", tt.clean, got, tt.want)
			}
		})
	}
}

func TestForwardPathOfExactRouteIgnoresStripPrefix(t *testing.T) {
	r := rt("r", "")
	r.Match.Path, r.StripPrefix, r.Upstream = "/health", true, "http://h/base"
	if got := compile(t, testConfig(r)).Routes()[0].ForwardPath("/health"); got != "/base/health" {
		t.Errorf("got %q", got)
	}
}

// FuzzCleanPath checks that whatever a client sends, CleanPath either
// refuses it or returns a path that cannot be read two ways: absolute, no
// empty, "." or ".." segment, no control character, no backslash, already
// clean, and, decoded any number of times by the most lenient decoder an
// upstream might run, still under every prefix it is under.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b/", "/public/../admin", "//admin", "/a/./b/", "/%2e%2e/%2E%2e/x",
		"/a%2Fb", "/a%5cb", "/a%00b", "/public/..%2fadmin", "/..;/x", "/a%252F", "*", "",
		"/a/b/..", "/caf%C3%A9", "/%E2%80%A8", "\\..\\", "/a?b#c",
		"/public/%252e%252e/admin", "/public/..%252fadmin", "/admin%C0%AF", "/%c0%afadmin",
		"/priv%2561te", "/100%25", "/100%25off", "/a%25%32%65", "/%25%25%32%66", "/a%e0%80%ae%e0%80%ae",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := url.Parse(s); err == nil {
			checkCleanPath(t, u)
		}
		checkCleanPath(t, &url.URL{Path: s})
	})
}

func checkCleanPath(t *testing.T, u *url.URL) {
	p, err := CleanPath(u)
	if err != nil {
		if p != "" {
			t.Fatalf("CleanPath(%q) returned %q with error %v", u, p, err)
		}
		return
	}
	switch {
	case !strings.HasPrefix(p, "/"):
		t.Fatalf("CleanPath(%q) = %q: not absolute", u, p)
	case strings.Contains(p, "//"):
		t.Fatalf("CleanPath(%q) = %q: double slash", u, p)
	case strings.Contains(p+"/", "/../") || strings.Contains(p+"/", "/./"):
		t.Fatalf("CleanPath(%q) = %q: dot segment", u, p)
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		t.Fatalf("CleanPath(%q) = %q: control character", u, p)
	case strings.Contains(p, `\`):
		t.Fatalf("CleanPath(%q) = %q: backslash", u, p)
	}
	again, err := CleanPath(&url.URL{Path: p})
	if err != nil || again != p {
		t.Fatalf("CleanPath(%q) = %q, which cleans again to %q, %v", u, p, again, err)
	}
	// Decode until stable: an upstream that decodes again, reads overlong
	// UTF-8 and takes '\' for '/' must not find a way out of any prefix
	// that the route table saw the path under.
	d := p
	for range 4 {
		next := lenientDecode(d)
		if next == d {
			break
		}
		d = next
		c := path.Clean("/" + strings.ReplaceAll(d, `\`, "/"))
		for i := 1; i <= len(p); i++ {
			if i < len(p) && p[i] != '/' {
				continue
			}
			if pre := p[:i]; c != pre && !strings.HasPrefix(c, pre+"/") {
				t.Fatalf("CleanPath(%q) = %q, which a lenient upstream decodes to %q, outside %q", u, p, c, pre)
			}
		}
	}
}

// lenientDecode decodes as the most forgiving server would: every %XX
// (leaving a '%' that escapes nothing as it is), then overlong two- and
// three-byte UTF-8 forms as the character they spell ("\xc0\xaf" is '/').
func lenientDecode(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b = append(b, byte(v))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	var out []byte
	for i := 0; i < len(b); i++ {
		switch {
		case (b[i] == 0xc0 || b[i] == 0xc1) && i+1 < len(b) && b[i+1]&0xc0 == 0x80:
			out = append(out, (b[i]&0x1f)<<6|b[i+1]&0x3f)
			i++
		case b[i] == 0xe0 && i+2 < len(b) && b[i+1] < 0x82 && b[i+1]&0xc0 == 0x80 && b[i+2]&0xc0 == 0x80:
			out = append(out, (b[i+1]&0x3f)<<6|b[i+2]&0x3f)
			i += 2
		default:
			out = append(out, b[i])
		}
	}
	return string(out)
}

// TestLenientDecodeFindsTheBypasses keeps FuzzCleanPath's oracle honest: the
// decoder it relies on does read the known bypasses as an upstream would.
func TestLenientDecodeFindsTheBypasses(t *testing.T) {
	for in, want := range map[string]string{
		"/public/%2e%2e/admin": "/public/../admin",
		"/admin\xc0\xaf":       "/admin/",
		"/\xc0\xae\xc0\xae/x":  "/../x",
		"/a\xe0\x80\xafb":      "/a/b",
		"/100%":                "/100%",
		"/priv%61te":           "/private",
	} {
		if got := lenientDecode(in); got != want {
			t.Errorf("lenientDecode(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkCleanPath: the path check every request pays, for a path without
// escapes (the common case: no allocation) and one with escapes and UTF-8.
func BenchmarkCleanPath(b *testing.B) {
	for _, target := range []string{"/orders/12345/items", "/caf%C3%A9/orders/%2e%2e/items%20x"} {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(target, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = CleanPath(u)
			}
		})
	}
}
