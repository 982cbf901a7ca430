package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/token/tokentest"
)

// Explain says why a request is refused for its method or its
// X-Forwarded-Host, and names the host a request was routed on (a trusted
// proxy's X-Forwarded-Host) when no route takes it.
func TestExplainMethodAndForwardedHost(t *testing.T) {
	key := tokentest.RSA("rsa-1", 2048)
	iss := tokentest.NewIssuer(key)
	t.Cleanup(iss.Close)
	up := gatewaytest.NewUpstream(t)
	cfg := gatewaytest.ParseConfig(t, "gateway.yaml", fmt.Sprintf(`
server: {trusted_proxies: ["198.51.100.0/24"]}
issuers:
  - {name: corp, issuer: %q, jwks_uri: %q, audiences: [orders-api], algorithms: [RS256]}
routes:
  - name: www
    match: {hosts: [www.example.com], path_prefix: /}
    upstream: %q
    auth: {mode: public}
`, iss.URL(), iss.JWKSURL(), up.URL))
	g := gatewaytest.Start(t, cfg)
	req := func(method, peer string, headers ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://www.example.com/x", nil)
		r.Method, r.RemoteAddr = method, peer
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
		stage  string
		says   string
	}{
		{"a lower-case method", req("delete", "192.0.2.7:1"), http.StatusMethodNotAllowed, "method", `"delete" has lower-case letters`},
		{"CONNECT in any case", req("Connect", "192.0.2.7:1"), http.StatusMethodNotAllowed, "method", "CONNECT asks for a tunnel"},
		{"a method override", req(http.MethodPost, "192.0.2.7:1", "X-HTTP-Method-Override", "DELETE"), http.StatusBadRequest, "method", "names another method than POST"},
		{"a trusted proxy's list of hosts", req(http.MethodGet, "198.51.100.7:1", "X-Forwarded-Host", "a.example.com, www.example.com"), http.StatusBadRequest, "host", "not exactly one valid host"},
		{"a trusted proxy's other host", req(http.MethodGet, "198.51.100.7:1", "X-Forwarded-Host", "admin.example.com"), http.StatusNotFound, "route", `no route matches host "admin.example.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := g.ExplainRequest(cfg, tc.req)
			if ex.Allowed || ex.Status != tc.status {
				t.Fatalf("allowed %v, status %d; want refused with %d", ex.Allowed, ex.Status, tc.status)
			}
			var last policy.Line
			if n := len(ex.Checks); n > 0 {
				last = ex.Checks[n-1]
			}
			if last.Stage != tc.stage || last.OK || !strings.Contains(last.Detail, tc.says) {
				t.Errorf("last check %+v, want a failed %s check saying %q", last, tc.stage, tc.says)
			}
		})
	}
	t.Run("a trusted proxy's other host is the host routes missed on", func(t *testing.T) {
		ex := g.ExplainRequest(cfg, req(http.MethodGet, "198.51.100.7:1", "X-Forwarded-Host", "admin.example.com"))
		if len(ex.Misses) != 1 || ex.Misses[0].Part != "host" {
			t.Errorf("misses %+v, want www missed on host", ex.Misses)
		}
	})
}
