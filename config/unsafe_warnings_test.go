package config_test

import (
	"testing"

	"github.com/portcullis/portcullis/config"
)

// TestUnsafeButValidSettingsAreWarned holds that settings the gateway
// accepts but that hand an attacker something are said at load, the way
// plain-http keys and an acknowledged insecure_skip_verify are: a
// trusted_proxies entry that covers every address (the deploy examples say
// "never 0.0.0.0/0", and nothing told an operator who wrote it), and a
// secret from the file (the Redis password, the tracing headers) sent in
// clear text to a host that is not loopback.
func TestUnsafeButValidSettingsAreWarned(t *testing.T) {
	tests := []problemCase{
		{"trusted_proxies of every IPv4 address",
			"server:\n  trusted_proxies: [\"10.0.0.0/8\", \"0.0.0.0/0\"] #<\n" + issuerOK + routeOK,
			"server.trusted_proxies[1]", config.CodeTrustsEveryone, "X-Forwarded-For"},
		{"trusted_proxies of every IPv6 address",
			"server:\n  trusted_proxies:\n    - ::/0 #<\n" + issuerOK + routeOK,
			"server.trusted_proxies[0]", config.CodeTrustsEveryone, ""},
		{"trusted_proxies of every address, not masked",
			"server:\n  trusted_proxies:\n    - 10.1.2.3/0 #<\n" + issuerOK + routeOK,
			"server.trusted_proxies[0]", config.CodeTrustsEveryone, ""},
		{"a Redis password over plain redis:// to a remote host",
			"rate_limit_store:\n  url: redis://redis.internal:6379 #<\n  password_file: /run/secrets/redis\n" + issuerOK + routeOK,
			"rate_limit_store.url", config.CodePlainHTTP, "password"},
		{"a Redis Sentinel password over plain redis+sentinel://",
			"rate_limit_store:\n  url: redis+sentinel://sentinel.internal:26379/0?master_name=m #<\n  password_file: /run/secrets/redis\n" + issuerOK + routeOK,
			"rate_limit_store.url", config.CodePlainHTTP, "password"},
		{"tracing headers over http/protobuf to plain http",
			"tracing:\n  enabled: true\n  protocol: http/protobuf\n  endpoint: http://collector.internal:4318 #<\n  headers: {x-api-key: \"@/run/secrets/otlp\"}\n" + issuerOK + routeOK,
			"tracing.endpoint", config.CodePlainHTTP, "headers"},
		{"tracing headers over insecure gRPC",
			"tracing:\n  enabled: true\n  endpoint: collector.internal:4317\n  insecure: true #<\n  headers: {authorization: \"@/run/secrets/otlp\"}\n" + issuerOK + routeOK,
			"tracing.insecure", config.CodePlainHTTP, "headers"},
		{"tracing headers over a gRPC http:// URL",
			"tracing:\n  enabled: true\n  endpoint: http://collector.internal:4317 #<\n  headers: {authorization: \"@/run/secrets/otlp\"}\n" + issuerOK + routeOK,
			"tracing.endpoint", config.CodePlainHTTP, "headers"},
	}
	requireWarnings(t, tests)
}

// TestSafeSettingsAreNotWarnedAsUnsafe is the other side: nothing is said
// where nothing is exposed.
func TestSafeSettingsAreNotWarnedAsUnsafe(t *testing.T) {
	tests := []struct{ name, doc string }{
		{"trusted_proxies of a subnet",
			"server:\n  trusted_proxies: [\"10.0.0.0/8\", \"fd00::/8\", \"192.0.2.1\"]\n" + issuerOK + routeOK},
		{"a Redis password over rediss://",
			"rate_limit_store:\n  url: rediss://redis.internal:6379\n  password_file: /run/secrets/redis\n" + issuerOK + routeOK},
		{"a Redis password over redis:// with tls set",
			"rate_limit_store:\n  url: redis://redis.internal:6379\n  password_file: /run/secrets/redis\n  tls: {ca_file: /etc/ca.pem}\n" + issuerOK + routeOK},
		{"a Redis password to loopback",
			"rate_limit_store:\n  url: redis://127.0.0.1:6379\n  password_file: /run/secrets/redis\n" + issuerOK + routeOK},
		{"plain Redis without a password",
			"rate_limit_store:\n  url: redis://redis.internal:6379\n" + issuerOK + routeOK},
		{"tracing headers over TLS",
			"tracing:\n  enabled: true\n  endpoint: collector.internal:4317\n  headers: {authorization: \"@/run/secrets/otlp\"}\n" + issuerOK + routeOK},
		{"tracing headers to a loopback collector",
			"tracing:\n  enabled: true\n  protocol: http/protobuf\n  endpoint: http://localhost:4318\n  headers: {x-api-key: \"@/run/secrets/otlp\"}\n" + issuerOK + routeOK},
		{"plain tracing without headers",
			"tracing:\n  enabled: true\n  endpoint: collector.internal:4317\n  insecure: true\n" + issuerOK + routeOK},
		{"tracing off",
			"tracing:\n  endpoint: http://collector.internal:4317\n  headers: {authorization: \"@/run/secrets/otlp\"}\n" + issuerOK + routeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.doc)
			for _, w := range cfg.Warnings {
				if w.Code == config.CodePlainHTTP || w.Code == config.CodeTrustsEveryone {
					t.Errorf("warned needlessly: %v", w)
				}
			}
		})
	}
}
