package ingress

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Traefik and Envoy are not installed by .ci/run, so these tests play
// their part: each sends the built portcullis exactly the call that the
// proxy's documentation (and source) describes, and checks that the answer
// holds what that proxy copies from it. examples_test.go checks that the
// example configurations copy those headers.

// call is one decision call as a proxy makes it, and its answer.
type call struct {
	method, path string // the request line's method and target
	host         string // the Host header
	header       http.Header
}

type answer struct {
	status int
	header http.Header
	body   string
}

// call sends c to the decision endpoint over a connection of its own,
// written byte for byte (Go's client would add or drop headers such as
// Content-Length: 0 on a GET), and reads the answer.
func (p *portcullis) call(t *testing.T, c call) answer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", p.Decision, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", c.method, c.path, c.host)
	for name, vals := range c.header {
		for _, v := range vals {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return answer{res.StatusCode, res.Header, string(body)}
}

// checkRefusal checks what a proxy that returns the decision's answer to
// the client (Traefik, Envoy) shows it: the status, one challenge holding
// want, and portcullis's JSON error body.
func checkRefusal(t *testing.T, a answer, status int, want string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if ch := a.header.Values("WWW-Authenticate"); len(ch) != 1 || !strings.Contains(ch[0], want) {
		t.Errorf("WWW-Authenticate = %q, want one challenge holding %s", ch, want)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(a.body), &body); err != nil || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Errorf("body %q (%s), want portcullis's JSON error: %v", a.body, a.header.Get("Content-Type"), err)
	}
	for _, name := range claimHeaders(t) {
		if v, ok := a.header[name]; ok {
			t.Errorf("a refusal carries the claim header %s: %q", name, v)
		}
	}
}

// TestTraefikForwardAuth sends the calls of Traefik's ForwardAuth
// middleware (examples/forward-auth/traefik.yaml). Traefik's documentation,
// https://doc.traefik.io/traefik/v3.3/reference/routing-configuration/http/middlewares/forwardauth/
// ("Forward-Request Headers"), and its source (pkg/middlewares/auth/forward.go):
// a GET to the address, whatever the original method, carrying every header
// of the original request except the hop-by-hop ones, and X-Forwarded-Method,
// X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Uri and X-Forwarded-For
// set by Traefik (trustForwardHeader: false replaces a client's own). A 2xx
// answer lets the request through: for each name in authResponseHeaders,
// Traefik deletes the request's header and sets the answer's, if any.
// Anything else is returned to the client as it is: status, headers, body.
func TestTraefikForwardAuth(t *testing.T) {
	pc := startPortcullis(t)
	traefik := func(method, uri, tok string, extra ...string) call {
		h := http.Header{
			"Accept":             {"application/json"},
			"User-Agent":         {"curl/8.5.0"},
			"X-Forwarded-Method": {method},
			"X-Forwarded-Proto":  {"https"},
			"X-Forwarded-Host":   {"api.example.com"},
			"X-Forwarded-Uri":    {uri},
			"X-Forwarded-For":    {"203.0.113.9"},
		}
		if tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return call{method: http.MethodGet, path: "/traefik", host: "portcullis:8181", header: h}
	}
	reader := pc.token("alice", "orders:read")

	t.Run("allowed: 200 with each claim header the token sets, for authResponseHeaders to copy", func(t *testing.T) {
		a := pc.call(t, traefik(http.MethodGet, "/orders/7?x=1", reader, "X-User-Id", "mallory", "X-Tenant", "evil-corp"))
		if a.status != http.StatusOK {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		if got := a.header.Values("X-User-Id"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("X-User-Id = %q, want [alice]", got)
		}
		// Absent, so that Traefik, having deleted the client's X-Tenant,
		// sets none.
		if got, ok := a.header["X-Tenant"]; ok {
			t.Errorf("X-Tenant = %q, want none: the token has no tenant claim", got)
		}
	})

	t.Run("the original method is read from X-Forwarded-Method, not from the call's GET", func(t *testing.T) {
		checkRefusal(t, pc.call(t, traefik(http.MethodPost, "/orders", reader)), http.StatusForbidden, `scope="orders:write"`)
		writer := pc.token("alice", "orders:write")
		if a := pc.call(t, traefik(http.MethodPost, "/orders", writer)); a.status != http.StatusOK {
			t.Errorf("POST with orders:write: status %d: %s", a.status, a.body)
		}
	})

	t.Run("no token: 401 with the bare challenge and a JSON body, returned to the client as they are", func(t *testing.T) {
		a := pc.call(t, traefik(http.MethodGet, "/orders/7", ""))
		checkRefusal(t, a, http.StatusUnauthorized, `Bearer realm="portcullis"`)
	})

	t.Run("a public route: 200 and no claim header", func(t *testing.T) {
		a := pc.call(t, traefik(http.MethodGet, "/docs/intro", "", "X-User-Id", "mallory"))
		if a.status != http.StatusOK || a.header.Get("X-User-Id") != "" {
			t.Errorf("status %d, X-User-Id %q: want 200 and none", a.status, a.header.Get("X-User-Id"))
		}
	})
}

// TestEnvoyExtAuthzHTTP sends the calls of Envoy's ext_authz filter with
// an HTTP service (examples/forward-auth/envoy-http.yaml). Envoy's
// documentation,
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_authz/v3/ext_authz.proto
// (HttpService, AuthorizationRequest, AuthorizationResponse) and
// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/ext_authz_filter:
// the original method; the original path and query appended to
// path_prefix; the original :authority as Host; Content-Length: 0 (no
// with_request_body); and of the other headers only those that
// allowed_headers matches (Authorization always). Only a 200 lets the
// request through: Envoy sets the headers allowed_upstream_headers matches
// on the upstream request and removes those that x-envoy-auth-headers-to-remove
// names (comma-separated, whitespace trimmed). Any other status but 5xx is
// returned to the client with its body and the headers that
// allowed_client_headers matches (WWW-Authenticate always); a 5xx is an
// error (403, or status_on_error).
func TestEnvoyExtAuthzHTTP(t *testing.T) {
	pc := startPortcullis(t)
	envoy := func(method, path, tok string) call {
		h := http.Header{"Content-Length": {"0"}}
		if tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
		return call{method: method, path: "/envoy" + path, host: "api.example.com", header: h}
	}
	reader := pc.token("alice", "orders:read")

	t.Run("allowed: 200 with the claim headers for allowed_upstream_headers and the others in x-envoy-auth-headers-to-remove", func(t *testing.T) {
		a := pc.call(t, envoy(http.MethodGet, "/orders/7?x=1", reader))
		if a.status != http.StatusOK {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		if got := a.header.Values("X-User-Id"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("X-User-Id = %q, want [alice]", got)
		}
		if got, ok := a.header["X-Tenant"]; ok {
			t.Errorf("X-Tenant = %q, want none: the token has no tenant claim", got)
		}
		// Envoy removes these after it set the allowed_upstream_headers
		// (ext_authz.cc, onComplete): every claim header the answer does
		// not set is listed, so a client's X-Tenant is gone, and none it
		// sets, or the claim would go with it.
		removed := map[string]bool{}
		for _, v := range a.header.Values("X-Envoy-Auth-Headers-To-Remove") {
			for _, name := range strings.Split(v, ",") {
				removed[strings.TrimSpace(name)] = true
			}
		}
		for _, name := range claimHeaders(t) {
			_, set := a.header[http.CanonicalHeaderKey(name)]
			if removed[strings.ToLower(name)] == set {
				t.Errorf("x-envoy-auth-headers-to-remove %q: %s set %v, listed %v; want exactly the claim headers not set",
					a.header.Values("X-Envoy-Auth-Headers-To-Remove"), name, set, removed[strings.ToLower(name)])
			}
		}
	})

	t.Run("the original method and path decide: POST /orders needs orders:write", func(t *testing.T) {
		checkRefusal(t, pc.call(t, envoy(http.MethodPost, "/orders", reader)), http.StatusForbidden, `scope="orders:write"`)
	})

	t.Run("no token: 401 with the bare challenge and a JSON body for allowed_client_headers", func(t *testing.T) {
		checkRefusal(t, pc.call(t, envoy(http.MethodGet, "/orders/7", "")), http.StatusUnauthorized, `Bearer realm="portcullis"`)
	})

	t.Run("the path prefix alone describes /", func(t *testing.T) {
		// Envoy appends the path as the client sent it; a request for "/"
		// calls "/envoy/". No route of the example matches "/": 404, which
		// Envoy returns to the client as a denial.
		if a := pc.call(t, envoy(http.MethodGet, "/", reader)); a.status != http.StatusNotFound {
			t.Errorf("status %d, want 404: %s", a.status, a.body)
		}
	})
}
