package proxy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

const appOrigin = "https://app.example.com"

// corsGateway serves three routes behind one recording upstream: one with
// a cors block, one that turns defaults.cors off, and one without any.
type corsGateway struct {
	gw   *gatewaytest.Gateway
	up   *gatewaytest.Upstream
	key  *tokentest.Key
	iss  *tokentest.Issuer
	good string // a token with orders:read
	weak string // a valid token without it
}

func newCORSGateway(t *testing.T, withDefaults bool) *corsGateway {
	t.Helper()
	c := &corsGateway{key: tokentest.RSA("rsa-1", 2048)}
	c.iss = tokentest.NewIssuer(c.key)
	t.Cleanup(c.iss.Close)
	c.up = gatewaytest.NewUpstream(t)
	defaults := ""
	if withDefaults {
		defaults = "defaults:\n  cors: {allowed_origins: [\"https://*.example.net\"]}\n"
	}
	yaml := fmt.Sprintf(`
issuers:
  - {name: corp, issuer: %q, jwks_uri: %q, audiences: [orders-api], algorithms: [RS256]}
%sroutes:
  - name: orders
    match: {path_prefix: /orders, methods: [GET, DELETE]}
    upstream: %q
    auth: {scopes: {all_of: ["orders:read"]}}
    cors:
      allowed_origins: [%q, "https://*.example.org"]
      allowed_headers: [Authorization, X-Trace]
      allow_credentials: true
      max_age: 2m
  - name: closed
    match: {path_prefix: /closed}
    upstream: %q
    auth: {mode: public}
    cors: {enabled: false}
  - name: plain
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
`, c.iss.URL(), c.iss.JWKSURL(), defaults, c.up.URL, appOrigin, c.up.URL, c.up.URL)
	c.gw = gatewaytest.StartYAML(t, yaml)
	c.good = "Bearer " + c.key.Sign(tokentest.Standard(c.iss.URL(), "orders-api", "alice", "orders:read", 5*time.Minute))
	c.weak = "Bearer " + c.key.Sign(tokentest.Standard(c.iss.URL(), "orders-api", "alice", "profile", 5*time.Minute))
	return c
}

func (c *corsGateway) do(method, path string, kv ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://gw"+path, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	w := httptest.NewRecorder()
	c.gw.Handler().ServeHTTP(w, r)
	return w
}

func noCORSHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("unexpected %s: %q", k, h.Get(k))
		}
	}
}

func TestCORSPreflight(t *testing.T) {
	c := newCORSGateway(t, false)
	cases := []struct {
		name    string
		path    string
		headers []string
		status  int
		allowed bool
	}{
		{"an allowed preflight is answered 204 without a token", "/orders/1",
			[]string{"Origin", appOrigin, "Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", "authorization,x-trace"}, 204, true},
		{"a preflight from a wildcard subdomain is answered", "/orders/1",
			[]string{"Origin", "https://a.example.org", "Access-Control-Request-Method", "GET"}, 204, true},
		{"a preflight from an origin not listed is 403 without CORS headers", "/orders/1",
			[]string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}, 403, false},
		{"a preflight for a header not listed is 403", "/orders/1",
			[]string{"Origin", appOrigin, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-other"}, 403, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := c.up.Count()
			w := c.do("OPTIONS", tc.path, tc.headers...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if c.up.Count() != before {
				t.Fatal("a preflight reached the upstream")
			}
			if !tc.allowed {
				noCORSHeaders(t, w.Header())
				return
			}
			h := w.Header()
			if h.Get("Access-Control-Allow-Origin") != tc.headers[1] || h.Get("Access-Control-Allow-Credentials") != "true" ||
				h.Get("Access-Control-Allow-Methods") != "GET, DELETE" || h.Get("Access-Control-Allow-Headers") != "Authorization, X-Trace" ||
				h.Get("Access-Control-Max-Age") != "120" || h.Get("WWW-Authenticate") != "" {
				t.Fatalf("headers %v", h)
			}
		})
	}
	t.Run("a preflight for a method its route does not take is routed as OPTIONS", func(t *testing.T) {
		// No route with cors takes PUT on /orders: the plain catch-all
		// does, and has no policy, so the OPTIONS is forwarded as today.
		before := c.up.Count()
		w := c.do("OPTIONS", "/orders/1", "Origin", appOrigin, "Access-Control-Request-Method", "PUT")
		if w.Code != 200 || c.up.Count() != before+1 {
			t.Fatalf("status %d, upstream calls %d", w.Code, c.up.Count()-before)
		}
		noCORSHeaders(t, w.Header())
	})
}

// The gateway's own refusals carry the CORS headers of an allowed origin,
// so that browser code can read a 401's challenge and a 403.
func TestCORSActualRequests(t *testing.T) {
	c := newCORSGateway(t, false)
	cases := []struct {
		name   string
		auth   string
		origin string
		status int
		want   bool
	}{
		{"a forwarded answer to an allowed origin carries ACAO", c.good, appOrigin, 200, true},
		{"a 401 to an allowed origin carries ACAO and exposes WWW-Authenticate", "", appOrigin, 401, true},
		{"a 403 to an allowed origin carries ACAO", c.weak, appOrigin, 403, true},
		{"a 200 to an origin not listed carries no CORS header", c.good, "https://evil.example", 200, false},
		{"a 401 to an origin not listed carries no CORS header", "", "https://evil.example", 401, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kv := []string{"Origin", tc.origin}
			if tc.auth != "" {
				kv = append(kv, "Authorization", tc.auth)
			}
			w := c.do("GET", "/orders/1", kv...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			h := w.Header()
			if h.Get("Vary") != "Origin" {
				t.Errorf("Vary %q", h.Values("Vary"))
			}
			if !tc.want {
				noCORSHeaders(t, h)
				return
			}
			if h.Get("Access-Control-Allow-Origin") != tc.origin || h.Get("Access-Control-Allow-Credentials") != "true" ||
				h.Get("Access-Control-Expose-Headers") != "WWW-Authenticate, X-Request-Id, Retry-After" || h.Get("Access-Control-Allow-Methods") != "" {
				t.Fatalf("headers %v", h)
			}
		})
	}
	t.Run("the upstream's own Access-Control-* headers never reach the browser", func(t *testing.T) {
		c.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			w.Header().Set("Access-Control-Allow-Methods", "PATCH")
		})
		w := c.do("GET", "/orders/1", "Origin", appOrigin, "Authorization", c.good)
		if got := w.Header().Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != appOrigin || w.Header().Get("Access-Control-Allow-Methods") != "" {
			t.Fatalf("headers %v", w.Header())
		}
		w = c.do("GET", "/orders/1", "Origin", "https://evil.example", "Authorization", c.good)
		noCORSHeaders(t, w.Header())
	})
}

// A preflight that no policy answers is the plain OPTIONS it is: the
// policy of the route that takes OPTIONS must not approve a call to a
// route that has none, and that route's upstream cannot approve it either.
func TestCORSPreflightForARouteWithoutPolicy(t *testing.T) {
	legacy := gatewaytest.NewUpstream(t)
	site := gatewaytest.NewUpstream(t)
	site.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "POST")
	})
	gw := gatewaytest.StartYAML(t, fmt.Sprintf(`
routes:
  - name: legacy
    match: {path_prefix: /legacy, methods: [POST]}
    upstream: %q
    auth: {mode: public}
  - name: site
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
    cors: {allowed_origins: [%q], allowed_methods: [GET, POST]}
`, legacy.URL, site.URL, appOrigin))
	r := httptest.NewRequest("OPTIONS", "http://gw/legacy/transfer", nil)
	r.Header.Set("Origin", appOrigin)
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "content-type")
	w := httptest.NewRecorder()
	gw.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK || site.Count() != 1 || legacy.Count() != 0 {
		t.Fatalf("status %d, upstream calls: site %d, legacy %d; want the OPTIONS routed to site", w.Code, site.Count(), legacy.Count())
	}
	noCORSHeaders(t, w.Header())
}

// An answer to a request without Origin, on a route with a policy, says
// that it varies by Origin: a shared cache must not hand it (it has no
// Access-Control-Allow-Origin) to an allowed origin's page.
func TestCORSVaryWithoutOrigin(t *testing.T) {
	c := newCORSGateway(t, false)
	for _, auth := range []string{c.good, ""} {
		kv := []string{}
		if auth != "" {
			kv = []string{"Authorization", auth}
		}
		w := c.do("GET", "/orders/1", kv...)
		if got := w.Header().Values("Vary"); len(got) != 1 || got[0] != "Origin" {
			t.Errorf("status %d: Vary %q, want [Origin]", w.Code, got)
		}
		noCORSHeaders(t, w.Header())
	}
}

// A 429 to an allowed origin is readable, Retry-After included (exposed by
// default): browser code learns when it may try again.
func TestCORSRateLimitedIsReadable(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	g := gatewaytest.StartYAML(t, fmt.Sprintf(`
routes:
  - name: app
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
    rate_limit: [{key: client_ip, rate: 1/h}]
    cors: {allowed_origins: [%q]}
`, up.URL, appOrigin))
	var w *httptest.ResponseRecorder
	for range 2 {
		r := httptest.NewRequest("GET", "http://gw/page", nil)
		r.Header.Set("Origin", appOrigin)
		w = httptest.NewRecorder()
		g.Handler().ServeHTTP(w, r)
	}
	h := w.Header()
	if w.Code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("second request: status %d, Retry-After %q; want 429 with one", w.Code, h.Get("Retry-After"))
	}
	if h.Get("Access-Control-Allow-Origin") != appOrigin || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("a 429 to an allowed origin: headers %v", h)
	}
}

// An upstream's 1xx (103 Early Hints) is relayed, and the final answer
// still carries the gateway's own headers: ReverseProxy clears the header
// map after relaying a 1xx, which took the request id and the CORS headers
// set before forwarding with it.
func TestGatewayHeadersSurviveAnUpstream1xx(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Vary", "Accept-Encoding")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_, _ = w.Write([]byte("ok"))
	})
	g := gatewaytest.Options{Server: true}.StartYAML(t, fmt.Sprintf(`
routes:
  - name: app
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
    cors: {allowed_origins: [%q], allow_credentials: true}
`, up.URL, appOrigin))
	var early []int
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { early = append(early, code); return nil },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.Server.URL+"/page", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", appOrigin)
	resp, err := g.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusOK || len(early) != 1 || early[0] != http.StatusEarlyHints {
		t.Fatalf("status %d after 1xx %v, want 200 after one 103", resp.StatusCode, early)
	}
	if got := h.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != appOrigin {
		t.Errorf("Access-Control-Allow-Origin %q, want [%s]", got, appOrigin)
	}
	if h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Expose-Headers") == "" {
		t.Errorf("CORS headers lost: %v", h)
	}
	if got := h.Values("Vary"); len(got) != 2 || got[0] != "Origin" || got[1] != "Accept-Encoding" {
		t.Errorf("Vary %q, want the gateway's Origin, then the upstream's Accept-Encoding", got)
	}
	if got := h.Values("X-Request-Id"); len(got) != 1 || got[0] == "" {
		t.Errorf("X-Request-Id %q, want one", got)
	}
}

// Without a cors block nothing changes: OPTIONS is routed and
// authenticated like any method, and no header is added.
func TestNoCORSBlockIsUnchanged(t *testing.T) {
	c := newCORSGateway(t, false)
	for _, path := range []string{"/plain", "/closed"} {
		w := c.do("OPTIONS", path, "Origin", appOrigin, "Access-Control-Request-Method", "GET")
		if w.Code != 200 || c.up.Last().Method != "OPTIONS" {
			t.Fatalf("%s: status %d, upstream saw %s", path, w.Code, c.up.Last().Method)
		}
		noCORSHeaders(t, w.Header())
		if w.Header().Get("Vary") != "" {
			t.Errorf("%s: Vary %q", path, w.Header().Get("Vary"))
		}
		w = c.do("GET", path, "Origin", appOrigin)
		noCORSHeaders(t, w.Header())
	}
}

// defaults.cors gives routes without a block their policy, never to a
// route that turned it off, and makes an unmatched request's 404 readable.
func TestDefaultsCORS(t *testing.T) {
	c := newCORSGateway(t, true)
	const origin = "https://a.example.net"
	if w := c.do("GET", "/plain", "Origin", origin); w.Header().Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("a route without a block: %v", w.Header())
	}
	if w := c.do("GET", "/closed", "Origin", origin); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a route with enabled: false: %v", w.Header())
	}
	if w := c.do("GET", "/orders/1", "Origin", origin); w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a route with its own block took the default's origins: %d %v", w.Code, w.Header())
	}
	if w := c.do("OPTIONS", "/plain", "Origin", origin, "Access-Control-Request-Method", "POST"); w.Code != 204 {
		t.Errorf("a preflight on a route without a block: %d", w.Code)
	}
}

func TestDefaultsCORSCoversUnmatched(t *testing.T) {
	k := tokentest.RSA("rsa-1", 2048)
	iss := tokentest.NewIssuer(k)
	t.Cleanup(iss.Close)
	up := gatewaytest.NewUpstream(t)
	gw := gatewaytest.StartYAML(t, fmt.Sprintf(`
issuers:
  - {name: corp, issuer: %q, jwks_uri: %q, audiences: [orders-api], algorithms: [RS256]}
defaults:
  cors: {allowed_origins: [%q]}
routes:
  - {name: orders, match: {path_prefix: /orders}, upstream: %q}
`, iss.URL(), iss.JWKSURL(), appOrigin, up.URL))
	serve := func(method string, kv ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://gw/nowhere", nil)
		for i := 0; i+1 < len(kv); i += 2 {
			r.Header.Add(kv[i], kv[i+1])
		}
		w := httptest.NewRecorder()
		gw.Handler().ServeHTTP(w, r)
		return w
	}
	if w := serve("GET", "Origin", appOrigin); w.Code != 404 || w.Header().Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("unmatched: %d %v", w.Code, w.Header())
	}
	if w := serve("OPTIONS", "Origin", appOrigin, "Access-Control-Request-Method", "GET"); w.Code != 204 {
		t.Errorf("unmatched preflight: %d %v", w.Code, w.Header())
	}
	if up.Count() != 0 {
		t.Error("the upstream was called")
	}
}

// A WebSocket handshake is no CORS request: the browser sends it from any
// page, with the user's cookies, and lets the page read the tunnel whatever
// the answer's Access-Control-* headers say. On a route with a cors policy
// a handshake from an origin the policy does not list (nor the gateway's
// own host) must not become a tunnel: it is served as the plain GET it then
// is, whose answer that page cannot read (cross-site WebSocket hijacking).
func TestCORSWebSocketHandshakeFromAnOriginNotListed(t *testing.T) {
	c := newCORSGateway(t, true) // "plain" is public and takes defaults.cors: https://*.example.net
	ws := []string{"Connection", "Upgrade", "Upgrade", "websocket",
		"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version", "13"}
	cases := []struct {
		name    string
		route   string
		origin  string
		upgrade bool
	}{
		{"an origin not listed gets no Upgrade forwarded", "/feed", "https://evil.example", false},
		{"null gets no Upgrade forwarded", "/feed", "null", false},
		{"a listed origin keeps its Upgrade", "/feed", "https://app.example.net", true},
		{"the gateway's own origin keeps its Upgrade", "/feed", "http://gw", true},
		{"a handshake without Origin (no browser) keeps its Upgrade", "/feed", "", true},
		{"a route without a policy is unchanged", "/closed/feed", "https://evil.example", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kv := append([]string(nil), ws...)
			if tc.origin != "" {
				kv = append(kv, "Origin", tc.origin)
			}
			before := c.up.Count()
			c.do("GET", tc.route, kv...)
			if c.up.Count() != before+1 {
				t.Fatalf("the upstream got %d requests, want 1", c.up.Count()-before)
			}
			if got := c.up.Last().Header.Get("Upgrade") != ""; got != tc.upgrade {
				t.Fatalf("Upgrade forwarded: %v, want %v (headers %v)", got, tc.upgrade, c.up.Last().Header)
			}
		})
	}
}
