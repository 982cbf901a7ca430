package config_test

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/config"
)

// TestURLPasswordsStayOutOfProblems holds that a password written in a
// URL the file refuses (a Redis URL, an upstream, a key set's location, an
// OTLP endpoint...) is never repeated by the problem that refuses it:
// problems are printed by `validate` and `serve`, and logged by a refused
// reload, so a message that quoted the URL whole would copy the password
// into every log pipeline the gateway's stderr feeds. Generated passwords
// often hold '#', '/', '?' or '%', with which the URL does not even parse;
// the message must not quote it then either, nor the piece of it that
// url.Parse's own error names (an "invalid port", an "invalid URL escape").
func TestURLPasswordsStayOutOfProblems(t *testing.T) {
	const secret = "Hunter2pw"
	// How a password breaks, or does not break, the URL around it.
	passwords := map[string]string{
		"plain":        secret,
		"with a #":     secret + "#x",
		"with a /":     secret + "/x",
		"with a ?":     secret + "?x",
		"with a %":     secret + "%zz",
		"with a space": secret + " x",
	}
	fields := []struct {
		name string
		doc  func(u string) string
	}{
		{"rate_limit_store.url (redis)", func(u string) string {
			return "rate_limit_store:\n  url: " + quote("redis://default:"+u+"@redis.internal:6379") + "\n" + issuerOK + routeOK
		}},
		{"rate_limit_store.url (wrong scheme)", func(u string) string {
			return "rate_limit_store:\n  url: " + quote("http://default:"+u+"@redis.internal:6379") + "\n" + issuerOK + routeOK
		}},
		{"rate_limit_store.url (no host)", func(u string) string {
			return "rate_limit_store:\n  url: " + quote("redis://default:"+u+"@") + "\n" + issuerOK + routeOK
		}},
		{"routes[].upstream", func(u string) string {
			return routeDoc("name: r\n    match: {path_prefix: /}\n    upstream: " + quote("https://svc:"+u+"@backend.internal"))
		}},
		{"issuers[].jwks_uri", func(u string) string {
			return issuerDoc("name: corp\n    issuer: https://idp.example.com/\n    jwks_uri: " + quote("https://me:"+u+"@idp.example.com/keys") + "\n    algorithms: [RS256]")
		}},
		{"issuers[].issuer (discovery)", func(u string) string {
			return issuerDoc("name: corp\n    issuer: " + quote("https://me:"+u+"@idp.example.com/") + "\n    discovery: true\n    algorithms: [RS256]")
		}},
		{"issuers[].revocation.uri", func(u string) string {
			return issuerDoc("name: corp\n    issuer: https://idp.example.com/\n    jwks_uri: https://idp.example.com/keys\n    algorithms: [RS256]\n    revocation:\n      uri: " + quote("https://me:"+u+"@idp.example.com/revoked"))
		}},
		{"issuers[].introspection.endpoint", func(u string) string {
			return issuerDoc("name: corp\n    issuer: https://idp.example.com/\n    jwks_uri: https://idp.example.com/keys\n    algorithms: [RS256]\n    introspection:\n      client_id: gw\n      client_secret_env: S\n      endpoint: " + quote("https://me:"+u+"@idp.example.com/introspect"))
		}},
		{"tracing.endpoint (URL)", func(u string) string {
			return "tracing:\n  endpoint: " + quote("https://otel:"+u+"@collector.internal:4318") + "\n" + issuerOK + routeOK
		}},
		{"tracing.endpoint (wrong scheme)", func(u string) string {
			return "tracing:\n  endpoint: " + quote("grpc://otel:"+u+"@collector.internal:4317") + "\n" + issuerOK + routeOK
		}},
		{"tracing.endpoint (host:port)", func(u string) string {
			return "tracing:\n  endpoint: " + quote("otel:"+u+"@collector.internal:4317") + "\n" + issuerOK + routeOK
		}},
	}
	for _, f := range fields {
		for how, pw := range passwords {
			t.Run(f.name+"/"+how, func(t *testing.T) {
				doc := f.doc(pw)
				_, err := config.Parse([]byte(doc), "test.yaml")
				if err == nil {
					t.Fatalf("a URL with a password was accepted:\n%s", numbered(doc))
				}
				// The first four letters of the password are already
				// too much to print.
				if msg := err.Error(); strings.Contains(msg, secret[:4]) {
					t.Errorf("the problems repeat the password %q:\n%s", pw, msg)
				}
			})
		}
	}
}

// quote writes s as a YAML double-quoted scalar.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
