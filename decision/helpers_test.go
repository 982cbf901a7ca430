package decision_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// fixture is a gateway whose decision service is called the way each
// ingress calls it, over HTTP (decisions) or gRPC (see newGRPCFixture),
// from the proxies in trusted, describing requests to a public route and
// to orders on api.example.com, which needs orders:read and sets X-User-Id
// and X-Tenant from claims.
type fixture struct {
	g         *gatewaytest.Gateway
	decisions http.Handler
	key       *tokentest.Key
	iss       *tokentest.Issuer
}

func newFixture(t *testing.T, trusted string) *fixture {
	t.Helper()
	key := tokentest.RSA("k1", 2048)
	iss := tokentest.NewIssuer(key)
	t.Cleanup(iss.Close)
	g := gatewaytest.StartYAML(t, `
server:
  trusted_proxies: ["`+trusted+`"]
decision:
  listen: "127.0.0.1:0"
  grpc_listen: "127.0.0.1:0"
issuers:
  - name: corp
    issuer: "`+iss.URL()+`"
    jwks_uri: "`+iss.JWKSURL()+`"
    audiences: [api]
    algorithms: [RS256]
routes:
  - name: public
    match: {path_prefix: /public}
    upstream: "http://127.0.0.1:1"
    auth: {mode: public}
  - name: orders
    match: {hosts: [api.example.com], path_prefix: /orders}
    upstream: "http://127.0.0.1:1"
    auth:
      scopes: {all_of: ["orders:read"]}
    forward:
      claims_to_headers: {X-User-Id: sub, X-Tenant: tenant}
`)
	return &fixture{g: g, decisions: g.Decisions(), key: key, iss: iss}
}

// token is alice's token with scope, from the fixture's issuer.
func (f *fixture) token(scope string) string {
	return f.key.Sign(tokentest.Standard(f.iss.URL(), "api", "alice", scope, time.Hour))
}

// call sends a GET for path to the HTTP decision endpoint from remote.
// headers["Host"] is the call's Host (Envoy keeps the original one);
// without it the call is addressed to the decision service itself.
func (f *fixture) call(path, remote string, headers map[string]string, multi ...[2]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.RemoteAddr = remote
	r.Host = "portcullis-auth:8181"
	for k, v := range headers {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	for _, kv := range multi {
		r.Header.Add(kv[0], kv[1])
	}
	w := httptest.NewRecorder()
	f.decisions.ServeHTTP(w, r)
	return w
}
