package config_test

import (
	"testing"

	"github.com/portcullis/portcullis/config"
)

const issuerHead = "name: corp\n    issuer: https://idp.example.com/\n    audiences: [api]\n    algorithms: [RS256]\n"

// The rules of introspection, revocation lists, protected resources and
// audit mode, each as a file that breaks it.
func TestIntrospectionRevocationResourceRules(t *testing.T) {
	tests := []problemCase{
		{"an introspection block without client_id is refused, not ignored",
			issuerDoc(issuerHead + "    introspection: #<\n      endpoint: https://idp.example.com/introspect"),
			"issuers[0].introspection.client_id", config.CodeRequired, "ignored"},
		{"an unknown client authentication method is refused",
			issuerDoc(issuerHead + "    introspection:\n      client_id: gw\n      client_secret_env: S\n      auth_method: client_secret_jwt #<"),
			"issuers[0].introspection.auth_method", config.CodeUnknownValue, "private_key_jwt"},
		{"a secret method without a secret source is refused",
			issuerDoc(issuerHead + "    introspection: #<\n      client_id: gw"),
			"issuers[0].introspection.client_secret_file", config.CodeRequired, "never written in this file"},
		{"a secret from both a file and the environment is refused",
			issuerDoc(issuerHead + "    introspection:\n      client_id: gw\n      client_secret_file: /s\n      client_secret_env: S #<"),
			"issuers[0].introspection.client_secret_env", config.CodeConflict, ""},
		{"private_key_jwt without its key is refused",
			issuerDoc(issuerHead + "    introspection: #<\n      client_id: gw\n      auth_method: private_key_jwt\n      private_key_algorithm: RS256"),
			"issuers[0].introspection.private_key_file", config.CodeRequired, ""},
		{"private_key_jwt with an unknown algorithm is refused",
			issuerDoc(issuerHead + "    introspection:\n      client_id: gw\n      auth_method: private_key_jwt\n      private_key_file: /k.pem\n      private_key_algorithm: HS256 #<"),
			"issuers[0].introspection.private_key_algorithm", config.CodeUnknownValue, ""},
		{"a secret beside private_key_jwt is refused as ignored",
			issuerDoc(issuerHead + "    introspection: #<\n      client_id: gw\n      auth_method: private_key_jwt\n      private_key_file: /k.pem\n      private_key_algorithm: ES256\n      client_secret_env: S"),
			"issuers[0].introspection.client_secret_file", config.CodeIgnored, ""},
		{"an introspection endpoint that is not http(s) is refused",
			issuerDoc(issuerHead + "    introspection:\n      client_id: gw\n      client_secret_env: S\n      endpoint: file:///introspect #<"),
			"issuers[0].introspection.endpoint", config.CodeBadURL, "https or http"},
		{"no endpoint and no discovery is refused",
			issuerDoc(issuerHead + "    discovery: false\n    jwks_uri: https://idp.example.com/keys\n    introspection: #<\n      client_id: gw\n      client_secret_env: S"),
			"issuers[0].introspection.endpoint", config.CodeRequired, ""},
		{"an introspection timeout of zero is refused",
			issuerDoc(issuerHead + "    introspection:\n      client_id: gw\n      client_secret_env: S\n      timeout: 0s #<"),
			"issuers[0].introspection.timeout", config.CodeOutOfRange, ""},
		{"no introspection call at all (max_concurrent 0) is refused",
			issuerDoc(issuerHead + "    introspection:\n      client_id: gw\n      client_secret_env: S\n      max_concurrent: 0 #<"),
			"issuers[0].introspection.max_concurrent", config.CodeOutOfRange, "between 1 and 4096"},
		{"more than 4096 introspection calls at once are refused",
			issuerDoc(issuerHead + "    introspection:\n      client_id: gw\n      client_secret_env: S\n      max_concurrent: 4097 #<"),
			"issuers[0].introspection.max_concurrent", config.CodeOutOfRange, "between 1 and 4096"},
		{"introspect_jwts without a key source is refused",
			issuerDoc(issuerHead + "    discovery: false\n    introspection:\n      client_id: gw\n      client_secret_env: S\n      endpoint: https://idp.example.com/i\n      introspect_jwts: true #<"),
			"issuers[0].introspection.introspect_jwts", config.CodeConflict, ""},
		{"a revocation block without uri is refused",
			issuerDoc(issuerHead + "    revocation: #<\n      refresh_interval: 1m"),
			"issuers[0].revocation.uri", config.CodeRequired, ""},
		{"a revocation list from an ftp URL is refused",
			issuerDoc(issuerHead + "    revocation:\n      uri: ftp://idp.example.com/revoked #<"),
			"issuers[0].revocation.uri", config.CodeBadURL, ""},
		{"a revocation refresh under a second is refused",
			issuerDoc(issuerHead + "    revocation:\n      uri: https://idp.example.com/revoked\n      refresh_interval: 100ms #<"),
			"issuers[0].revocation.refresh_interval", config.CodeOutOfRange, ""},
		{"an issuer's client certificate without its key is refused",
			issuerDoc(issuerHead + "    tls: #<\n      cert_file: /c.pem"),
			"issuers[0].tls.key_file", config.CodeRequired, "set both"},
		{"an issuer's client key without its certificate is refused",
			issuerDoc(issuerHead + "    tls: #<\n      key_file: /k.pem"),
			"issuers[0].tls.cert_file", config.CodeRequired, "set both"},
		{"a route that accepts two introspecting issuers is refused",
			"issuers:\n  - " + issuerHead + "    introspection: {client_id: a, client_secret_env: A}\n" +
				"  - name: other\n    issuer: https://other.example.com/\n    audiences: [api]\n    algorithms: [RS256]\n    introspection: {client_id: b, client_secret_env: B}\n" +
				"routes:\n  - name: r #<\n    match: {path_prefix: /}\n    upstream: http://127.0.0.1:1\n",
			"routes[0].auth.issuers", config.CodeConflict, "exactly one"},
		{"a resource without https is refused at its member",
			"resources:\n  - name: api\n    resource: http://api.example.com/orders #<\n" + issuerOK + routeOK,
			"resources[0].resource", config.CodeInvalid, ""},
		{"a resource that promises query bearer tokens is refused",
			"resources:\n  - name: api\n    resource: https://api.example.com/orders\n    bearer_methods_supported: [header, query] #<\n" + issuerOK + routeOK,
			"resources[0].bearer_methods_supported[1]", config.CodeInvalid, ""},
		{"a resource scope with a space is refused as any scope is",
			"resources:\n  - name: api\n    resource: https://api.example.com/\n    scopes_supported: [\"orders read\"] #<\n" + issuerOK + routeOK,
			"resources[0].scopes_supported[0]", config.CodeBadScope, "whitespace"},
		{"two resources named alike are refused",
			"resources:\n  - name: api\n    resource: https://a.example.com/\n  - name: api #<\n    resource: https://b.example.com/\n" + issuerOK + routeOK,
			"resources[1].name", config.CodeDuplicate, ""},
		{"a route naming an unknown resource is refused",
			issuerOK + "routes:\n  - name: r\n    match: {path_prefix: /}\n    upstream: http://127.0.0.1:1\n    resource: nope #<\n",
			"routes[0].resource", config.CodeUnknownValue, ""},
		{"a default resource that does not exist is refused at defaults",
			"defaults:\n  resource: nope #<\n" + issuerOK + routeOK,
			"defaults.resource", config.CodeUnknownValue, ""},
		{"enforce must be a boolean",
			issuerOK + "routes:\n  - name: r\n    match: {path_prefix: /}\n    upstream: http://127.0.0.1:1\n    auth:\n      enforce: audit #<\n",
			"routes[0].auth.enforce", config.CodeWrongType, ""},
	}
	requireProblems(t, tests)
}

// An opaque-only issuer (introspection, no key source) is valid; enforce
// and resource take the file's defaults where a route leaves them out, and
// a route's own value wins.
func TestOpaqueIssuerAndRouteDefaults(t *testing.T) {
	cfg := mustParse(t, `
issuers:
  - name: opaque
    issuer: https://idp.example.com/
    audiences: [api]
    algorithms: [RS256]
    discovery: false
    introspection: {client_id: gw, client_secret_env: SECRET, endpoint: "https://idp.example.com/introspect"}
resources:
  - name: api
    resource: https://api.example.com/
defaults:
  enforce: false
  resource: api
routes:
  - name: audited
    match: {path_prefix: /a}
    upstream: http://127.0.0.1:1
  - name: enforced
    match: {path_prefix: /b}
    upstream: http://127.0.0.1:1
    resource: ""
    auth: {enforce: true}
`)
	a, b := cfg.Routes[0], cfg.Routes[1]
	if *a.Auth.Enforce || a.Resource != "api" {
		t.Errorf("route without settings: enforce %v resource %q, want the defaults false, api", *a.Auth.Enforce, a.Resource)
	}
	if !*b.Auth.Enforce {
		t.Errorf("route with enforce: true is not enforced")
	}
	in := cfg.Issuers[0].Introspection
	if !in.Enabled() || in.AuthMethod != config.ClientSecretBasic || in.CacheTTL.D().Seconds() != 60 || in.MaxConcurrent != 64 {
		t.Errorf("introspection defaults not applied: %+v", in)
	}
}

// The headers sent to an issuer: names that change what a call is, or that
// the calls set themselves, are refused, and so is one name written twice
// in two spellings (both values would be sent).
func TestIssuerHeaderRules(t *testing.T) {
	tests := []problemCase{
		{"Content-Type is refused: introspection sends a form",
			issuerDoc(issuerHead + "    headers:\n      Content-Type: text/plain #<"),
			"issuers[0].headers.Content-Type", config.CodeReserved, "changes what the request is"},
		{"Expect is refused in any spelling",
			issuerDoc(issuerHead + "    headers:\n      expect: 100-continue #<"),
			"issuers[0].headers.expect", config.CodeReserved, "expect is not a header"},
		{"Proxy-Authorization is refused: it would reach the IdP through a tunnel",
			issuerDoc(issuerHead + "    headers:\n      Proxy-Authorization: Basic eDp5 #<"),
			"issuers[0].headers.Proxy-Authorization", config.CodeReserved, "HTTPS_PROXY"},
		{"Host is refused",
			issuerDoc(issuerHead + "    headers:\n      Host: idp.example.com #<"),
			"issuers[0].headers.Host", config.CodeReserved, ""},
		{"Content-Length is refused",
			issuerDoc(issuerHead + "    headers:\n      Content-Length: \"0\" #<"),
			"issuers[0].headers.Content-Length", config.CodeReserved, ""},
		{"If-None-Match is refused: the fetches revalidate with it",
			issuerDoc(issuerHead + "    headers:\n      If-None-Match: '\"x\"' #<"),
			"issuers[0].headers.If-None-Match", config.CodeReserved, "conditional"},
		{"User-Agent is refused: every call sets it, so it would never be sent",
			issuerDoc(issuerHead + "    headers:\n      User-Agent: mine #<"),
			"issuers[0].headers.User-Agent", config.CodeReserved, "never be sent"},
		{"two spellings of one header name are refused at the second",
			issuerDoc(issuerHead + "    headers:\n      X-Api-Key: a\n      x-api-key: b #<"),
			"issuers[0].headers.x-api-key", config.CodeDuplicate, `same header as "X-Api-Key"`},
		{"a name that is not a token is refused",
			issuerDoc(issuerHead + "    headers:\n      \"X Api Key\": a #<"),
			`issuers[0].headers["X Api Key"]`, config.CodeBadHeader, ""},
	}
	requireProblems(t, tests)

	// Authorization stays allowed: an API key some IdPs want on their key
	// set. It never replaces introspection's own credentials (remote).
	cfg := mustParse(t, issuerDoc(issuerHead+"    headers:\n      Authorization: ApiKey k\n      X-Tenant: t"))
	if got := cfg.Issuers[0].Headers["Authorization"]; got != "ApiKey k" {
		t.Errorf("Authorization = %q, want it kept", got)
	}
}
