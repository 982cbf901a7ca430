package cors_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/cors"
)

func compile(t *testing.T, c config.CORS, routeMethods ...string) *cors.Policy {
	t.Helper()
	p, err := cors.Compile(&c, routeMethods)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func request(method string, kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// The origin rules of the Fetch standard as the gateway applies them: an
// origin is allowed only when it is listed, exactly or under one leading
// wildcard label, and never because it resembles one.
func TestOriginMatching(t *testing.T) {
	p := compile(t, config.CORS{AllowedOrigins: []string{
		"https://app.example.com", "http://127.0.0.1:3000", "https://*.example.org", "https://*.example.net:8443",
	}})
	cases := []struct {
		name   string
		origin string
		want   bool
	}{
		{"a listed origin is allowed", "https://app.example.com", true},
		{"a listed origin with a port is allowed", "http://127.0.0.1:3000", true},
		{"the same host on another port is refused", "http://127.0.0.1:3001", false},
		{"the same host on another scheme is refused", "http://app.example.com", false},
		{"an origin in another case is refused (browsers send lower case)", "https://APP.example.com", false},
		{"a trailing slash is no origin", "https://app.example.com/", false},
		{"a suffix of a listed origin is refused", "https://evilapp.example.com", false},
		{"a listed origin as a prefix is refused", "https://app.example.com.evil.com", false},
		{"a subdomain is allowed under a wildcard", "https://a.example.org", true},
		{"a deeper subdomain is allowed under a wildcard", "https://a.b.example.org", true},
		{"the apex is never under its wildcard", "https://example.org", false},
		{"an empty label is refused", "https://.example.org", false},
		{"a doubled dot is refused", "https://a..example.org", false},
		{"a path that ends like the wildcard is refused", "https://evil.com/.example.org", false},
		{"user info that ends like the wildcard is refused", "https://evil.com@a.example.org", false},
		{"another scheme under a wildcard is refused", "http://a.example.org", false},
		{"a port not in the wildcard is refused", "https://a.example.org:8443", false},
		{"the wildcard's port is required", "https://a.example.net", false},
		{"the wildcard's port matches", "https://a.example.net:8443", true},
		{"null is never allowed unless listed (and it cannot be)", "null", false},
		{"an empty origin is refused", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := p.Check(http.MethodGet, request("GET", "Origin", c.origin))
			if res.Kind != cors.Actual || res.Allowed() != c.want {
				t.Fatalf("Check(Origin %q) = %+v, want allowed %v", c.origin, res, c.want)
			}
			dst := http.Header{}
			p.SetHeaders(dst, request("GET", "Origin", c.origin), res)
			if got := dst.Get(cors.HeaderAllowOrigin); c.want && got != c.origin || !c.want && got != "" {
				t.Errorf("Access-Control-Allow-Origin %q for origin %q (allowed %v)", got, c.origin, c.want)
			}
			if got := dst.Get("Vary"); got != "Origin" {
				t.Errorf("Vary %q, want Origin: the answer depends on the origin", got)
			}
		})
	}
}

func TestTwoOriginHeadersAreRefused(t *testing.T) {
	p := compile(t, config.CORS{AllowedOrigins: []string{"https://app.example.com"}})
	h := request("GET", "Origin", "https://app.example.com", "Origin", "https://app.example.com")
	if res := p.Check("GET", h); res.Allowed() {
		t.Fatalf("two Origin headers were allowed: %+v", res)
	}
}

func TestNoOriginIsNotCORS(t *testing.T) {
	p := compile(t, config.CORS{AllowedOrigins: []string{"*"}})
	res := p.Check("GET", http.Header{})
	if res.Kind != cors.NotCORS || res.Allowed() {
		t.Fatalf("a request without Origin is %+v", res)
	}
	// Only Vary: the answer differs from an allowed origin's, and a
	// shared cache must keep the two apart.
	dst := http.Header{}
	p.SetHeaders(dst, http.Header{}, res)
	if len(dst) != 1 || len(dst["Vary"]) != 1 || dst.Get("Vary") != "Origin" {
		t.Fatalf("a request without Origin got headers %v, want only Vary: Origin", dst)
	}
	if allocs := testing.AllocsPerRun(100, func() { p.Check("GET", http.Header{}) }); allocs != 0 {
		t.Errorf("Check without Origin allocates %v times", allocs)
	}
}

// The preflight rules: the method and every requested header must be
// listed (headers case-insensitively), and only then do the Allow headers
// come.
func TestPreflight(t *testing.T) {
	p := compile(t, config.CORS{
		AllowedOrigins: []string{"https://app.example.com"},
		AllowedMethods: []string{"GET", "DELETE"},
		AllowedHeaders: []string{"Authorization", "X-Trace"},
		MaxAge:         new(config.Duration(90 * time.Second)),
	})
	pre := func(kv ...string) http.Header {
		return request("OPTIONS", append([]string{"Origin", "https://app.example.com"}, kv...)...)
	}
	cases := []struct {
		name    string
		h       http.Header
		refusal cors.Refusal
	}{
		{"a listed method with no headers is allowed", pre("Access-Control-Request-Method", "DELETE"), cors.None},
		{"listed headers in any case are allowed", pre("Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization,x-TRACE"), cors.None},
		{"headers over several lines, with spaces, are allowed", pre("Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", " authorization , ", "Access-Control-Request-Headers", "x-trace"), cors.None},
		{"HEAD is allowed where GET is (a GET route takes HEAD)", pre("Access-Control-Request-Method", "HEAD"), cors.None},
		{"a method not listed is refused", pre("Access-Control-Request-Method", "PUT"), cors.MethodNotAllowed},
		{"methods are case-sensitive", pre("Access-Control-Request-Method", "delete"), cors.MethodNotAllowed},
		{"a header not listed is refused", pre("Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization,x-other"), cors.HeaderNotAllowed},
		{"an origin not listed is refused first", request("OPTIONS", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET"), cors.OriginNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := cors.PreflightMethod("OPTIONS", c.h); !ok {
				t.Fatal("not recognized as a preflight")
			}
			res := p.Check("OPTIONS", c.h)
			if res.Kind != cors.Preflight || res.Refusal != c.refusal {
				t.Fatalf("Check = %+v, want a preflight with refusal %v", res, c.refusal)
			}
			dst := http.Header{}
			p.SetHeaders(dst, c.h, res)
			if c.refusal != cors.None {
				for k := range dst {
					if k != "Vary" {
						t.Errorf("a refused preflight got %s: %v", k, dst)
					}
				}
				return
			}
			want := map[string]string{
				cors.HeaderAllowOrigin:  "https://app.example.com",
				cors.HeaderAllowMethods: "GET, DELETE",
				cors.HeaderAllowHeaders: "Authorization, X-Trace",
				cors.HeaderMaxAge:       "90",
				"Vary":                  "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
			}
			for k, v := range want {
				if got := dst.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if dst.Get(cors.HeaderAllowCredentials) != "" || dst.Get(cors.HeaderExposeHeaders) != "" {
				t.Errorf("unexpected headers: %v", dst)
			}
		})
	}
}

func TestPreflightMethod(t *testing.T) {
	cases := []struct {
		name   string
		method string
		h      http.Header
		want   bool
	}{
		{"OPTIONS with Origin and a requested method is a preflight", "OPTIONS", request("", "Origin", "https://a.example", "Access-Control-Request-Method", "GET"), true},
		{"OPTIONS without a requested method is an actual OPTIONS", "OPTIONS", request("", "Origin", "https://a.example"), false},
		{"OPTIONS without Origin is no preflight", "OPTIONS", request("", "Access-Control-Request-Method", "GET"), false},
		{"GET with the headers is no preflight", "GET", request("", "Origin", "https://a.example", "Access-Control-Request-Method", "GET"), false},
		{"two requested methods are no preflight", "OPTIONS", request("", "Origin", "https://a.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Method", "PUT"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, got := cors.PreflightMethod(c.method, c.h); got != c.want {
				t.Fatalf("PreflightMethod = %v, want %v", got, c.want)
			}
		})
	}
}

func TestActualRequestHeaders(t *testing.T) {
	t.Run("credentials and exposed headers (the defaults)", func(t *testing.T) {
		p := compile(t, config.CORS{AllowedOrigins: []string{"https://app.example.com"}, AllowCredentials: true})
		h := request("GET", "Origin", "https://app.example.com")
		dst := http.Header{}
		p.SetHeaders(dst, h, p.Check("GET", h))
		if dst.Get(cors.HeaderAllowCredentials) != "true" || dst.Get(cors.HeaderExposeHeaders) != "WWW-Authenticate, X-Request-Id, Retry-After" || dst.Get(cors.HeaderAllowMethods) != "" {
			t.Fatalf("headers %v", dst)
		}
	})
	t.Run("* answers * and varies by nothing", func(t *testing.T) {
		p := compile(t, config.CORS{AllowedOrigins: []string{"*"}})
		h := request("GET", "Origin", "https://anyone.example")
		dst := http.Header{}
		p.SetHeaders(dst, h, p.Check("GET", h))
		if dst.Get(cors.HeaderAllowOrigin) != "*" || dst.Get("Vary") != "" || dst.Get(cors.HeaderAllowCredentials) != "" {
			t.Fatalf("headers %v", dst)
		}
	})
	t.Run("allowed methods default to the route's, else GET, HEAD and POST", func(t *testing.T) {
		if got := compile(t, config.CORS{AllowedOrigins: []string{"*"}}, "PUT").Methods(); len(got) != 1 || got[0] != "PUT" {
			t.Errorf("with route methods [PUT]: %v", got)
		}
		if got := compile(t, config.CORS{AllowedOrigins: []string{"*"}}).Methods(); len(got) != 3 {
			t.Errorf("with no route methods: %v", got)
		}
	})
	t.Run("an upstream's Access-Control-* headers are removed", func(t *testing.T) {
		h := http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Credentials": {"true"},
			"Access-Control-Allow-Private-Network": {"true"}, "access-control-max-age": {"1"}, "Content-Type": {"text/plain"}}
		cors.RemoveFrom(h)
		if len(h) != 1 {
			t.Fatalf("left %v", h)
		}
	})
}

// What Compile refuses even from a Config that skipped validation.
func TestCompileRefuses(t *testing.T) {
	cases := []struct {
		name string
		c    config.CORS
	}{
		{"* with credentials (Fetch refuses it; reflecting instead opens every origin)", config.CORS{AllowedOrigins: []string{"*"}, AllowCredentials: true}},
		{"* with other origins", config.CORS{AllowedOrigins: []string{"*", "https://a.example"}}},
		{"no origins", config.CORS{AllowedOrigins: []string{}}},
		{"null", config.CORS{AllowedOrigins: []string{"null"}}},
		{"an origin with a path", config.CORS{AllowedOrigins: []string{"https://a.example/app"}}},
		{"a wildcard in the middle", config.CORS{AllowedOrigins: []string{"https://a.*.example"}}},
		{"a wildcard header", config.CORS{AllowedOrigins: []string{"https://a.example"}, AllowedHeaders: []string{"*"}}},
		{"a max age over 24h", config.CORS{AllowedOrigins: []string{"https://a.example"}, MaxAge: new(config.Duration(25 * time.Hour))}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if p, err := cors.Compile(&c.c, nil); err == nil {
				t.Fatalf("compiled: %+v", p)
			}
		})
	}
	off := false
	if p, err := cors.Compile(&config.CORS{Enabled: &off}, nil); p != nil || err != nil {
		t.Fatalf("enabled: false compiled to %v, %v", p, err)
	}
	if p, err := cors.Compile(nil, nil); p != nil || err != nil {
		t.Fatalf("no block compiled to %v, %v", p, err)
	}
}

func BenchmarkCheck(b *testing.B) {
	p, _ := cors.Compile(&config.CORS{AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"}}, nil)
	h := request("GET", "Origin", "https://a.example.org")
	b.ReportAllocs()
	for b.Loop() {
		dst := http.Header{}
		p.SetHeaders(dst, h, p.Check("GET", h))
	}
}
