package attack_test

import (
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// catchAllYAML is a route table as real ones are: method-restricted and
// exact protected routes, and a host of its own, beside a public catch-all
// that takes whatever they do not. A request that slips past a protected
// route lands there, forwarded without a token.
const catchAllYAML = `
server:
  listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:0"
  trusted_proxies: ["198.51.100.0/24"]
log: {level: debug, access_log: true}
issuers:
  - name: corp
    issuer: "{{.Corp}}"
    jwks_uri: "{{.Corp}}/jwks"
    audiences: ["orders-api"]
    algorithms: ["RS256"]
    required_claims: ["sub", "exp"]
    scope_claims: ["scope"]
routes:
  - name: admin-host
    match: {hosts: ["admin.example.com"], path_prefix: /}
    upstream: "{{.Upstream}}"
    auth: {mode: required, scopes: {all_of: ["admin"]}}
  - name: reports-read
    match: {path_prefix: /reports, methods: [GET]}
    upstream: "{{.Upstream}}"
    auth: {mode: required, scopes: {all_of: ["reports:read"]}}
  - name: orders-delete
    match: {path_prefix: /orders, methods: [DELETE]}
    upstream: "{{.Upstream}}"
    auth: {mode: required, scopes: {all_of: ["orders:admin"]}}
  - name: orders-create
    match: {path_prefix: /orders, methods: [POST]}
    upstream: "{{.Upstream}}"
    auth: {mode: required, scopes: {all_of: ["orders:create"]}}
  - name: admin-exact
    match: {path: /admin}
    upstream: "{{.Upstream}}"
    auth: {mode: required, scopes: {all_of: ["admin"]}}
  - name: public
    match: {path_prefix: /}
    upstream: "{{.Upstream}}"
    auth: {mode: public}
`

// newCatchAllTarget serves catchAllYAML; 198.51.100.0/24 is a trusted proxy.
func newCatchAllTarget(t *testing.T) *target {
	t.Helper()
	suiteKeys()
	tg := &target{t: t, rsa: rsaKey}
	tg.corp = tokentest.NewIssuer(tg.rsa)
	t.Cleanup(tg.corp.Close)
	tg.up = gatewaytest.NewUpstream(t)
	s := defaults()
	s.Corp, s.Upstream = tg.corp.URL(), tg.up.URL
	tg.cfg = parseConfig(t, catchAllYAML, s)
	tg.build(false)
	return tg
}
