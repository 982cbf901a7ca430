package config_test

import (
	"testing"

	"github.com/portcullis/portcullis/config"
)

// upstreamRoute is a file whose one route has upstream and these further
// lines.
func upstreamRoute(upstream, lines string) string {
	return routeDoc("name: r\n    match: {path_prefix: /}\n    upstream: " + upstream + "\n    " + lines)
}

func TestUpstreamTransportRules(t *testing.T) {
	tests := []problemCase{
		{"an unknown upstream_protocol is refused",
			upstreamRoute("http://127.0.0.1:1", "upstream_protocol: h3 #<"),
			"routes[0].upstream_protocol", config.CodeUnknownValue, "auto, http1 or h2c"},
		{"h2c to an https upstream is refused",
			upstreamRoute("https://127.0.0.1:1", "upstream_protocol: h2c #<"),
			"routes[0].upstream_protocol", config.CodeConflict, "use auto"},
		{"tls on an http upstream is refused as ignored",
			upstreamRoute("http://127.0.0.1:1", "tls: #<\n      ca_file: /ca.pem"),
			"routes[0].tls", config.CodeIgnored, "no TLS to configure"},
		{"a client certificate without its key is refused",
			upstreamRoute("https://127.0.0.1:1", "tls: #<\n      cert_file: /c.pem"),
			"routes[0].tls.key_file", config.CodeRequired, "set both"},
		{"a key without its certificate is refused",
			upstreamRoute("https://127.0.0.1:1", "tls: #<\n      key_file: /k.pem"),
			"routes[0].tls.cert_file", config.CodeRequired, "set both"},
		{"a server_name with a port is refused",
			upstreamRoute("https://127.0.0.1:1", "tls:\n      server_name: orders.internal:443 #<"),
			"routes[0].tls.server_name", config.CodeBadHost, ""},
		{"insecure_skip_verify alone is refused",
			upstreamRoute("https://127.0.0.1:1", "tls:\n      insecure_skip_verify: true #<"),
			"routes[0].tls.insecure_skip_verify", config.CodeInsecureTLS, "insecure_skip_verify_acknowledged: true"},
		{"an acknowledgement of nothing is refused",
			upstreamRoute("https://127.0.0.1:1", "tls:\n      insecure_skip_verify_acknowledged: true #<"),
			"routes[0].tls.insecure_skip_verify_acknowledged", config.CodeIgnored, ""},
		{"a ca_file that insecure_skip_verify ignores is refused",
			upstreamRoute("https://127.0.0.1:1", "tls:\n      ca_file: /ca.pem #<\n      insecure_skip_verify: true\n      insecure_skip_verify_acknowledged: true"),
			"routes[0].tls.ca_file", config.CodeIgnored, ""},
	}
	requireProblems(t, tests)
}

func TestAcknowledgedInsecureSkipVerifyIsWarned(t *testing.T) {
	doc := upstreamRoute("https://127.0.0.1:1", "tls:\n      insecure_skip_verify: true #<\n      insecure_skip_verify_acknowledged: true")
	cfg := mustParse(t, doc)
	requireProblem(t, cfg.Warnings, "routes[0].tls.insecure_skip_verify", markedLine(t, doc), config.CodeInsecureTLS, "not verified")
}

func TestUpstreamTransportSettingsThatPass(t *testing.T) {
	for name, doc := range map[string]string{
		"h2c to an http upstream": upstreamRoute("http://127.0.0.1:1", "upstream_protocol: h2c"),
		"http1 to an https upstream with every tls key": upstreamRoute("https://127.0.0.1:1",
			"upstream_protocol: http1\n    tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem, server_name: orders.internal}"),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := mustParse(t, doc)
			if len(cfg.Warnings) > 0 {
				t.Errorf("warnings: %v", cfg.Warnings)
			}
		})
	}
}
