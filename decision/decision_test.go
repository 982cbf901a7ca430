package decision_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/proxy"
	"github.com/portcullis/portcullis/token/tokentest"
)

// The three wire shapes describe the same request and get the same
// decision: 200 with the claim headers and the list of headers to remove,
// 401 with a challenge, 403 with the required scope.
func TestShapesDecideAlike(t *testing.T) {
	f := newFixture(t, "127.0.0.1/32")
	good, weak := f.token("orders:read"), f.token("profile")
	shapes := map[string]func(auth string) (string, map[string]string){
		"nginx auth_request": func(auth string) (string, map[string]string) {
			return "/nginx", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/orders/7?x=1", "X-Original-Host": "api.example.com", "Authorization": auth}
		},
		"Traefik ForwardAuth": func(auth string) (string, map[string]string) {
			return "/traefik", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/7?x=1", "X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "https", "Authorization": auth}
		},
		"Envoy ext_authz HTTP": func(auth string) (string, map[string]string) {
			return "/envoy/orders/7?x=1", map[string]string{"Host": "api.example.com", "Authorization": auth}
		},
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			path, h := shape(tokentest.Bearer(good))
			checkAllowed(t, f.call(path, "127.0.0.1:5000", h))

			path, h = shape("")
			delete(h, "Authorization")
			w := f.call(path, "127.0.0.1:5000", h)
			if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != `Bearer realm="portcullis"` {
				t.Errorf("no token: %d %q, want 401 with the bare challenge", w.Code, w.Header().Get("WWW-Authenticate"))
			}
			path, h = shape(tokentest.Bearer(weak))
			w = f.call(path, "127.0.0.1:5000", h)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Header().Get("WWW-Authenticate"), `scope="orders:read"`) {
				t.Errorf("no scope: %d %q, want 403 naming orders:read", w.Code, w.Header().Get("WWW-Authenticate"))
			}
			if w.Header().Get("X-User-Id") != "" {
				t.Errorf("a refused decision carries a claim header")
			}
		})
	}
}

func checkAllowed(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("allowed request: %d %s", w.Code, w.Body)
	}
	if got := w.Header().Get("X-User-Id"); got != "alice" {
		t.Errorf("X-User-Id = %q, want alice", got)
	}
	if _, ok := w.Header()["X-Tenant"]; ok {
		t.Errorf("a claim the token lacks produced a header")
	}
	// The headers the decision sets replace the client's; the others are
	// to be removed (a removal of a set header would remove its claim),
	// and so are the URL and method overrides.
	if got, want := w.Header().Get(proxy.HeadersToRemoveHeader), strings.Join(append([]string{"x-tenant"}, overrideHeaders...), ", "); got != want {
		t.Errorf("%s = %q, want the claim headers not set and the overrides: %s", proxy.HeadersToRemoveHeader, got, want)
	}
	if w.Body.Len() != 0 {
		t.Errorf("an allowed decision has a body: %q", w.Body)
	}
}

// A description is believed only from a trusted proxy, must be one
// request, and goes through the same path rules as a proxied request: a
// spoofed or doubled X-Forwarded-Uri, an absolute URI, %2F or double
// encoding never turn a protected request into a public one.
func TestDescriptionsAreNotGuessed(t *testing.T) {
	f := newFixture(t, "127.0.0.1/32")
	tests := []struct {
		name   string
		path   string
		remote string
		h      map[string]string
		multi  [][2]string
		want   int
	}{
		{"a caller outside trusted_proxies is refused", "/traefik", "192.0.2.7:4000",
			map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x", "X-Forwarded-Host": "api.example.com"}, nil, http.StatusForbidden},
		{"two X-Forwarded-Uri values (the client's and the proxy's) are refused", "/traefik", "127.0.0.1:4000",
			map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Host": "api.example.com"},
			[][2]string{{"X-Forwarded-Uri", "/public/x"}, {"X-Forwarded-Uri", "/orders/7"}}, http.StatusBadRequest},
		{"a missing method is refused", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-URI": "/public/x"}, nil, http.StatusBadRequest},
		{"an absolute URI is refused", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "http://evil/public/x"}, nil, http.StatusBadRequest},
		{"a scheme-relative URI is refused", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "//evil/public/x"}, nil, http.StatusBadRequest},
		{"an encoded slash is refused as when proxied", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/public%2F..%2Forders/7", "X-Original-Host": "api.example.com"}, nil, http.StatusBadRequest},
		{"double encoding is refused as when proxied", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/public/%252e%252e/orders/7", "X-Original-Host": "api.example.com"}, nil, http.StatusBadRequest},
		{"dot segments are refused: the ingress forwards them as sent", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/public/../orders/7", "X-Original-Host": "api.example.com"}, nil, http.StatusBadRequest},
		{"a path that resolves into a public route is refused", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/orders//../public/x", "X-Original-Host": "api.example.com"}, nil, http.StatusBadRequest},
		{"an encoded dot segment is refused", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/orders/%2e%2e/public/x", "X-Original-Host": "api.example.com"}, nil, http.StatusBadRequest},
		{"a fragment is refused", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/orders/7#/../../public/x", "X-Original-Host": "api.example.com"}, nil, http.StatusBadRequest},
		{"a plain path with escapes is decided", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/public/a%20b", "X-Original-Host": "api.example.com"}, nil, http.StatusOK},
		{"CONNECT is refused as when proxied", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "CONNECT", "X-Original-URI": "/public/x"}, nil, http.StatusMethodNotAllowed},
		{"an unknown path of the endpoint is 404", "/forward-auth", "127.0.0.1:4000", nil, nil, http.StatusNotFound},
		{"a public route is allowed without a token", "/nginx", "127.0.0.1:4000",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/public/x"}, nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.call(tt.path, tt.remote, tt.h, tt.multi...)
			if w.Code != tt.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.want)
			}
			if w.Code != http.StatusOK && w.Header().Get(proxy.HeadersToRemoveHeader) != "" {
				t.Errorf("a refusal lists headers to remove")
			}
		})
	}
}
