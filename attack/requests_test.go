package attack_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// spellings of a header name that some component between client and
// upstream may take for the canonical one: case (HTTP/2 is lower case,
// HTTP/1 is case-insensitive) and '_' for '-' (CGI, WSGI, PHP and nginx
// with underscores_in_headers merge them, RFC 3875 §4.1.18).
func spellings(name string) []string {
	lower := strings.ToLower(name)
	return []string{
		name,
		lower,
		strings.ToUpper(name),
		strings.ReplaceAll(name, "-", "_"),
		strings.ReplaceAll(lower, "-", "_"),
		strings.Replace(strings.ToUpper(name), "-", "_", 1),
	}
}

// spoof adds every spelling of every claim header to req, each twice, with
// values that say where they came from. The map is written directly so
// that the spellings survive as they are, as they would from an HTTP/2
// client or a lenient intermediary.
func spoof(req *http.Request) {
	for _, h := range []string{"X-User-Id", "X-User-Scopes", "X-Tenant", "X-User-Email", "X-Public-Sub"} {
		for _, s := range spellings(h) {
			req.Header[s] = append(req.Header[s], "spoofed", "spoofed-again")
		}
	}
}

// claimHeadersOf returns what the upstream got under any spelling of a
// claim header, by folded name.
func claimHeadersOf(h http.Header) map[string][]string {
	out := map[string][]string{}
	for name, vals := range h {
		folded := strings.ReplaceAll(strings.ToLower(name), "_", "-")
		for _, c := range claimHeaders {
			if folded == c {
				out[c] = append(out[c], vals...)
			}
		}
	}
	return out
}

// TestClaimHeaderSpoofing: on all three auth modes, whatever claim headers
// a client sends, in any spelling and repeated, the upstream receives only
// the ones the gateway set from a verified token (CWE-290: authentication
// bypass by spoofing; RFC 3875 §4.1.18 for '_' read as '-'; RFC 9113
// §8.2.1 for lower-case names).
func TestClaimHeaderSpoofing(t *testing.T) {
	tg := newTarget(t)
	tok := tg.rsa.Sign(tg.claims("orders:read").With("email", "alice@example.com", "org", map[string]any{"tenant_id": "t-1"}))
	cases := []struct {
		name string
		path string
		auth []string
		want map[string][]string // folded claim header -> the only values allowed
	}{
		{name: "required route with a valid token: only the gateway's values", path: "/private/x", auth: bearer(tok),
			want: map[string][]string{"x-user-id": {"alice"}, "x-user-email": {"alice@example.com"}}},
		{name: "required route for orders: only the gateway's values", path: "/orders/1", auth: bearer(tok),
			want: map[string][]string{"x-user-id": {"alice"}, "x-user-scopes": {"orders:read"}, "x-tenant": {"t-1"}}},
		{name: "optional route with a valid token: only the gateway's values", path: "/profile", auth: bearer(tok),
			want: map[string][]string{"x-user-id": {"alice"}, "x-user-email": {"alice@example.com"}}},
		{name: "optional route without a token: no claim header at all", path: "/profile",
			want: map[string][]string{}},
		{name: "public route: no claim header at all", path: "/anything",
			want: map[string][]string{}},
		{name: "public route with a valid token: no claim header (public reads no token)", path: "/anything", auth: bearer(tok),
			want: map[string][]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request(tc.path, tc.auth)
			spoof(req)
			up := tg.allowed(t, req)
			got := claimHeadersOf(up.Header)
			for name, vals := range got {
				want, ok := tc.want[name]
				if !ok || len(vals) != len(want) || strings.Join(vals, "\x00") != strings.Join(want, "\x00") {
					t.Errorf("upstream got %s: %q, want %q", name, vals, want)
				}
			}
			for name, want := range tc.want {
				if _, ok := got[name]; !ok {
					t.Errorf("upstream lacks %s, want %q", name, want)
				}
			}
		})
	}
}

// TestConnectionHeaderTricks: a client may name headers in Connection to
// have hop-by-hop processing remove them (RFC 9110 §7.6.1). The gateway
// removes those before it sets its own, and reads the token before either,
// so naming a claim header, Authorization or X-Forwarded-For in Connection
// neither strips what the gateway sets nor skips verification.
func TestConnectionHeaderTricks(t *testing.T) {
	tg := newTarget(t)
	good := tg.rsa.Sign(tg.claims("orders:read"))
	bad := good[:len(good)-4] + "AAAA"

	t.Run("Connection naming a claim header does not strip the gateway's", func(t *testing.T) {
		up := tg.allowed(t, request("/orders/1", bearer(good), "Connection", "X-User-Id, X-User-Scopes", "X-User-Id", "mallory"))
		if got := up.Header.Values("X-User-Id"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("X-User-Id = %q, want [alice]", got)
		}
		if got := up.Header.Get("X-User-Scopes"); got != "orders:read" {
			t.Errorf("X-User-Scopes = %q", got)
		}
	})
	t.Run("Connection naming Authorization does not skip verification of a bad token", func(t *testing.T) {
		tg.refused(t, request("/orders/1", bearer(bad), "Connection", "Authorization"), http.StatusUnauthorized, "corp", "bad_signature")
	})
	t.Run("Connection naming Authorization without a token is still 401", func(t *testing.T) {
		tg.refused(t, request("/orders/1", nil, "Connection", "Authorization"), http.StatusUnauthorized, "unknown", "missing")
	})
	t.Run("Connection naming X-Forwarded-For does not let the client's value through", func(t *testing.T) {
		up := tg.allowed(t, request("/anything", nil, "Connection", "X-Forwarded-For, X-Forwarded-Host", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil.example"))
		if xff := up.Header.Get("X-Forwarded-For"); xff == "" || strings.Contains(xff, "6.6.6.6") {
			t.Errorf("X-Forwarded-For = %q", xff)
		}
		if xfh := up.Header.Get("X-Forwarded-Host"); xfh != apiHost {
			t.Errorf("X-Forwarded-Host = %q, want %s", xfh, apiHost)
		}
	})
	t.Run("Connection naming a claim header on a public route: still no claim header", func(t *testing.T) {
		up := tg.allowed(t, request("/anything", nil, "Connection", "close, X-Public-Sub", "X-Public-Sub", "root"))
		if got := claimHeadersOf(up.Header); len(got) != 0 {
			t.Errorf("upstream got %q", got)
		}
	})
}

// TestAuthorizationHeaderTricks: where a token is read from, how many, and
// in which scheme spelling (RFC 6750 §2.1; RFC 9110 §11.1).
func TestAuthorizationHeaderTricks(t *testing.T) {
	tg := newTarget(t)
	good := tg.rsa.Sign(tg.claims("orders:read"))
	other := tg.ec.Sign(tg.claims("orders:read"))

	refusals := []struct {
		name   string
		ref    string
		path   string
		auth   []string
		reason string
	}{
		{"two Authorization headers with valid tokens are malformed", "RFC 6750 §2.1; RFC 9110 §5.3", "/orders/1",
			[]string{"Bearer " + good, "Bearer " + other}, "malformed"},
		{"a valid token after an empty Authorization header is malformed", "RFC 9110 §5.3", "/orders/1",
			[]string{"", "Bearer " + good}, "malformed"},
		{"two tokens in one header, comma-separated, are malformed", "RFC 6750 §2.1", "/orders/1",
			[]string{"Bearer " + good + ", Bearer " + other}, "malformed"},
		{"a token followed by another word is malformed", "RFC 6750 §2.1 (b64token)", "/orders/1",
			[]string{"Bearer " + good + " extra"}, "malformed"},
		{"Bearer without a token is malformed", "RFC 6750 §2.1", "/orders/1",
			[]string{"Bearer"}, "malformed"},
		{"Bearer and a tab is a malformed bearer credential", "RFC 6750 §2.1 (1*SP)", "/orders/1",
			[]string{"Bearer\t" + good}, "malformed"},
		{"Basic credentials are no bearer token", "RFC 6750 §2.1", "/orders/1",
			[]string{"Basic YWxpY2U6c2VjcmV0"}, "missing"},
		{"a DPoP scheme is no bearer token", "RFC 9449 §7.1", "/orders/1",
			[]string{"DPoP " + good}, "missing"},
		{"Bearer:token without a space is no bearer token", "RFC 9110 §11.4", "/orders/1",
			[]string{"Bearer:" + good}, "missing"},
		{"a token in the query string is never read", "RFC 6750 §2.3, §5.3", "/orders/1?access_token=" + good,
			nil, "missing"},
		{"a token as a bare Authorization value is no bearer token", "RFC 6750 §2.1", "/orders/1",
			[]string{good}, "missing"},
		{"a present but invalid token on an optional route is 401", "README: optional", "/profile",
			[]string{"Bearer " + good[:len(good)-4] + "AAAA"}, "bad_signature"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			issuer := "unknown"
			if tc.reason == "bad_signature" {
				issuer = "corp"
			}
			res := tg.refused(t, request(tc.path, tc.auth), http.StatusUnauthorized, issuer, tc.reason)
			if tc.reason == "missing" && res.header.Get("WWW-Authenticate") != `Bearer realm="portcullis"` {
				t.Errorf("WWW-Authenticate = %q, want the bare challenge (RFC 6750 §3.1)", res.header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("a token in a form body is never read", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "http://"+apiHost+"/private", strings.NewReader(url.Values{"access_token": {good}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tg.refused(t, req, http.StatusUnauthorized, "unknown", "missing")
	})

	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		t.Run("the scheme "+scheme+" is accepted in any case", func(t *testing.T) {
			tg.allowed(t, request("/orders/1", []string{scheme + " " + good}))
		})
	}
	t.Run("two spaces after Bearer are accepted", func(t *testing.T) {
		tg.allowed(t, request("/orders/1", []string{"Bearer  " + good}))
	})
	t.Run("Basic credentials on an optional route are anonymous, with no claim header", func(t *testing.T) {
		up := tg.allowed(t, request("/profile", []string{"Basic YWxpY2U6c2VjcmV0"}))
		if got := claimHeadersOf(up.Header); len(got) != 0 {
			t.Errorf("claim headers %q on an anonymous request", got)
		}
	})
	t.Run("a token in the query string on a public route is forwarded untouched but never logged", func(t *testing.T) {
		up := tg.allowed(t, request("/anything?access_token="+good, nil))
		if up.URL.RawQuery != "access_token="+good {
			t.Errorf("upstream query %q", up.URL.RawQuery)
		}
		gatewaytest.CheckLogsHoldNoToken(t, tg.logs, good)
	})
}

// TestPathTricks: a protected prefix (/private, required) beside a public
// one (/public) and a public catch-all (/). The gateway matches the decoded,
// cleaned path and forwards exactly that path, so a spelling either reaches
// the protected route, or reaches the upstream as the path the public route
// matched, or is refused; it never reaches /private through a public route.
func TestPathTricks(t *testing.T) {
	tg := newTarget(t)
	const (
		private = "private" // 401 without a token: the protected route took it
		refused = "400"     // refused as a bad path
	)
	cases := []struct {
		name string
		ref  string
		path string
		want string // private, refused, or the path the public route forwards
	}{
		{"the protected prefix itself", "baseline", "/private/x", private},
		{"dot-dot out of the public prefix", "RFC 3986 §5.2.4", "/public/../private/x", private},
		{"dot-dot that climbs past the root", "RFC 3986 §5.2.4", "/../../private/x", private},
		{"a dot segment", "RFC 3986 §5.2.4", "/./private/x", private},
		{"a doubled slash before the prefix", "RFC 3986 §3.3", "//private/x", private},
		{"doubled slashes inside", "RFC 3986 §3.3", "/public//..//private//x", private},
		{"percent-encoded dot-dot", "CVE-2021-41773; RFC 3986 §2.1", "/public/%2e%2e/private/x", private},
		{"percent-encoded dot-dot in upper case", "CVE-2021-41773", "/public/%2E%2E/private/x", private},
		{"half-encoded dot-dot", "CVE-2021-41773", "/public/.%2e/private/x", private},
		{"percent-encoded letters of the prefix", "RFC 3986 §2.1", "/priv%61te/x", private},
		{"an encoded slash", "RFC 3986 §2.2; CWE-22", "/public/..%2Fprivate/x", refused},
		{"an encoded slash in lower case", "RFC 3986 §2.2", "/public/..%2fprivate/x", refused},
		{"an encoded backslash", "CWE-22", "/public/..%5Cprivate/x", refused},
		{"a NUL", "CWE-158", "/private%00/x", refused},
		{"a CR LF", "CWE-93", "/public/%0d%0aX-Injected:%201", refused},
		{"dot-dot with a path parameter", "Breaking Parser Logic (Tsai, 2018)", "/public/..;/private/x", refused},
		{"encoded dot-dot with a path parameter", "Breaking Parser Logic (Tsai, 2018)", "/public/%2e%2e;x=1/private/x", refused},
		{"a trailing dot is another segment", "RFC 3986 §3.3 (no trimming)", "/private./x", "/private./x"},
		{"upper case is another path", "RFC 3986 §6.2.2.1 (paths are case-sensitive)", "/PRIVATE/x", "/PRIVATE/x"},
		{"a longer name is another segment", "segment-aware prefix", "/privateX", "/privateX"},
		// A framework behind the gateway that decodes once more (or a
		// lenient UTF-8 decoder) would read these as a way out of /public
		// or into /private; the gateway refuses them rather than forward
		// a path that means one thing to it and another to the upstream.
		{"double-encoded dot-dot", "CVE-2021-42013", "/public/%252e%252e/private/x", refused},
		{"double-encoded dot-dot in upper case", "CVE-2021-42013", "/public/%252E%252E/private/x", refused},
		{"double-encoded slash", "CWE-174", "/public/..%252fprivate/x", refused},
		{"double-encoded slash in upper case", "CWE-174", "/public/..%252Fprivate/x", refused},
		{"double-encoded backslash", "CWE-174", "/public/..%255cprivate/x", refused},
		{"double-encoded percent", "CWE-174", "/public/%25252e%25252e/private/x", refused},
		{"double-encoded letters of the prefix", "CWE-174", "/priv%2561te/x", refused},
		{"double-encoded overlong slash", "CWE-174; CWE-176", "/public/..%25c0%25afprivate/x", refused},
		{"an overlong slash", "CVE-2000-0884; CWE-176", "/private%C0%AF", refused},
		{"an overlong slash in lower case", "CVE-2000-0884", "/%c0%afprivate/x", refused},
		{"an overlong dot-dot", "CVE-2000-0884", "/public/%c0%ae%c0%ae/private/x", refused},
		{"a three-byte overlong slash", "RFC 3629 §3", "/public/%e0%80%af../private/x", refused},
		{"a lone continuation byte", "RFC 3629 §3", "/public/%80/x", refused},
		{"a truncated sequence", "RFC 3629 §3", "/public/%e2%82/x", refused},
		{"an encoded UTF-16 surrogate", "RFC 3629 §3", "/public/%ed%a0%80/x", refused},
		{"a literal percent that encodes nothing is kept", "RFC 3986 §2.4", "/100%25", "/100%"},
		{"a literal percent before a non-hex letter is kept", "RFC 3986 §2.4", "/100%25off", "/100%off"},
		{"valid UTF-8 is decoded and forwarded", "RFC 3987", "/caf%C3%A9", "/café"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" "+tc.path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://"+apiHost+tc.path, nil)
			switch tc.want {
			case private:
				tg.refused(t, req, http.StatusUnauthorized, "unknown", "missing")
			case refused:
				res := tg.refused(t, req, http.StatusBadRequest, "", "")
				if res.json["error"] != "invalid_request" {
					t.Errorf("error = %v", res.json["error"])
				}
			default:
				up := tg.allowed(t, req)
				if up.URL.Path != tc.want {
					t.Errorf("upstream path %q, want %q", up.URL.Path, tc.want)
				}
			}
		})
	}
	t.Run("with a token, the cleaned path is what the protected upstream sees", func(t *testing.T) {
		req := request("/public/%2e%2e//private/./x/", bearer(tg.rsa.Sign(tg.claims(""))))
		if up := tg.allowed(t, req); up.URL.Path != "/private/x/" {
			t.Errorf("upstream path %q, want /private/x/", up.URL.Path)
		}
	})
}

// TestPathParameters: servlet containers (Tomcat, Jetty, Spring) read
// ";..." in a segment as a path parameter and route "/private;x/data" as
// "/private/data". The gateway matches the segment "private;x", which is
// under no protected prefix, so beside a public catch-all the request
// reaches a servlet upstream's /private handler without a token
// (CVE-2020-1957 and CVE-2020-11989 in Apache Shiro are this bypass).
func TestPathParameters(t *testing.T) {
	tg := newTarget(t)
	for _, p := range []string{"/private;x/data", "/private;/data", "/private%3bx/data", "/private%3B/data"} {
		t.Run(p, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://"+apiHost+p, nil)
			tg.refused(t, req, http.StatusBadRequest, "", "")
		})
	}
}
