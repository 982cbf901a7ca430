package config_test

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

// limitedRoute is a valid route whose rate_limit lines follow.
func limitedRoute(limits string) string {
	return routeDoc("name: r\n    match: {path_prefix: /}\n    upstream: http://127.0.0.1:1\n    rate_limit:\n" + limits)
}

const policiesOK = "rate_limits:\n  - {name: shared, key: sub, rate: 10/s}\n"

func TestRateLimitRulesAreReportedWithTheirFieldAndLine(t *testing.T) {
	tests := []problemCase{
		{"a rate without a period is refused",
			limitedRoute("      - key: sub\n        rate: \"100\" #<"),
			"routes[0].rate_limit[0].rate", config.CodeInvalid, "N/s"},
		{"a rate with a count of 0 is refused",
			limitedRoute("      - key: sub\n        rate: 0/s #<"),
			"routes[0].rate_limit[0].rate", config.CodeInvalid, "from 1"},
		{"a period under a second is refused",
			limitedRoute("      - key: sub\n        rate: 10/100ms #<"),
			"routes[0].rate_limit[0].rate", config.CodeInvalid, "from 1s"},
		{"a period over a day is refused",
			limitedRoute("      - key: sub\n        rate: 10/25h #<"),
			"routes[0].rate_limit[0].rate", config.CodeInvalid, ""},
		{"an unknown unit is refused",
			limitedRoute("      - key: sub\n        rate: 10/d #<"),
			"routes[0].rate_limit[0].rate", config.CodeInvalid, ""},
		{"a rate is required",
			limitedRoute("      - key: sub #<"),
			"routes[0].rate_limit[0].rate", config.CodeRequired, ""},
		{"a key is required",
			limitedRoute("      - rate: 10/s #<"),
			"routes[0].rate_limit[0].key", config.CodeRequired, ""},
		{"a malformed claim path is refused",
			limitedRoute("      - key: a..b #<\n        rate: 10/s"),
			"routes[0].rate_limit[0].key", config.CodeBadClaimPath, "empty segment"},
		{"claim: with nothing after it is refused",
			limitedRoute("      - key: \"claim:\" #<\n        rate: 10/s"),
			"routes[0].rate_limit[0].key", config.CodeBadClaimPath, ""},
		{"a burst of 0 is refused",
			limitedRoute("      - key: sub\n        rate: 10/s\n        burst: 0 #<"),
			"routes[0].rate_limit[0].burst", config.CodeOutOfRange, ""},
		{"a negative burst is refused",
			limitedRoute("      - key: sub\n        rate: 10/s\n        burst: -1 #<"),
			"routes[0].rate_limit[0].burst", config.CodeOutOfRange, ""},
		{"an unknown policy is refused",
			policiesOK + limitedRoute("      - policy: sharde #<"),
			"routes[0].rate_limit[0].policy", config.CodeUnknownValue, "sharde"},
		{"a policy listed twice is refused",
			policiesOK + limitedRoute("      - policy: shared\n      - policy: shared #<"),
			"routes[0].rate_limit[1].policy", config.CodeDuplicate, ""},
		{"policy with a rate beside it is refused",
			policiesOK + limitedRoute("      - policy: shared\n        rate: 5/s #<"),
			"routes[0].rate_limit[0].rate", config.CodeConflict, ""},
		{"an unknown key in an entry is refused",
			limitedRoute("      - key: sub\n        rate: 10/s\n        brust: 5 #<"),
			"routes[0].rate_limit[0].brust", config.CodeUnknownKey, "burst"},
		{"a policy name is required",
			"rate_limits:\n  - {key: sub, rate: 10/s} #<\n" + issuerOK + routeOK,
			"rate_limits[0].name", config.CodeRequired, ""},
		{"a policy name must be a label",
			"rate_limits:\n  - {name: \"a b\", key: sub, rate: 10/s} #<\n" + issuerOK + routeOK,
			"rate_limits[0].name", config.CodeBadName, ""},
		{"a policy name used twice is refused",
			"rate_limits:\n  - {name: a, key: sub, rate: 10/s}\n  - {name: a, key: sub, rate: 10/s} #<\n" + issuerOK + routeOK,
			"rate_limits[1].name", config.CodeDuplicate, "line 2"},
		{"a policy's rate is checked",
			"rate_limits:\n  - {name: a, key: sub, rate: ten/s} #<\n" + issuerOK + routeOK,
			"rate_limits[0].rate", config.CodeInvalid, ""},
		{"defaults.rate_limit is checked where it is written",
			"defaults:\n  rate_limit:\n    - {key: sub, rate: 10/x} #<\n" + issuerOK + routeOK,
			"defaults.rate_limit[0].rate", config.CodeInvalid, ""},
		{"a store URL of another scheme is refused",
			"rate_limit_store:\n  url: http://127.0.0.1:6379 #<\n" + issuerOK + routeOK,
			"rate_limit_store.url", config.CodeBadURL, "redis://"},
		{"a password in the store URL is refused",
			"rate_limit_store:\n  url: redis://:secret@127.0.0.1:6379 #<\n" + issuerOK + routeOK,
			"rate_limit_store.url", config.CodeInvalid, "password_file"},
		{"an unknown on_store_error is refused",
			"rate_limit_store:\n  url: redis://127.0.0.1:6379\n  on_store_error: open #<\n" + issuerOK + routeOK,
			"rate_limit_store.on_store_error", config.CodeUnknownValue, ""},
		{"a store timeout of 0 is refused",
			"rate_limit_store:\n  url: redis://127.0.0.1:6379\n  timeout: 0s #<\n" + issuerOK + routeOK,
			"rate_limit_store.timeout", config.CodeOutOfRange, ""},
		{"a store timeout over 5s is refused",
			"rate_limit_store:\n  url: redis://127.0.0.1:6379\n  timeout: 6s #<\n" + issuerOK + routeOK,
			"rate_limit_store.timeout", config.CodeOutOfRange, ""},
		{"a password file without a url is refused",
			"rate_limit_store:\n  password_file: /run/secrets/redis #<\n" + issuerOK + routeOK,
			"rate_limit_store.password_file", config.CodeIgnored, ""},
		{"a store client certificate without its key is refused",
			"rate_limit_store:\n  url: rediss://127.0.0.1:6379\n  tls: #<\n    cert_file: /c.pem\n" + issuerOK + routeOK,
			"rate_limit_store.tls.key_file", config.CodeRequired, ""},
		{"insecure_skip_verify alone is refused",
			"rate_limit_store:\n  url: rediss://127.0.0.1:6379\n  tls:\n    insecure_skip_verify: true #<\n" + issuerOK + routeOK,
			"rate_limit_store.tls.insecure_skip_verify", config.CodeInsecureTLS, ""},
		{"skip_verify in the store URL is refused (it would skip verification unacknowledged)",
			"rate_limit_store:\n  url: rediss://127.0.0.1:6379/0?skip_verify=true #<\n" + issuerOK + routeOK,
			"rate_limit_store.url", config.CodeInsecureTLS, "insecure_skip_verify_acknowledged"},
		{"skip_verify in a sentinel store URL is refused",
			"rate_limit_store:\n  url: rediss+sentinel://127.0.0.1:26379/0?master_name=main&skip_verify=1 #<\n" + issuerOK + routeOK,
			"rate_limit_store.url", config.CodeInsecureTLS, "insecure_skip_verify_acknowledged"},
	}
	requireProblems(t, tests)
}

func TestRateLimitWarnings(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		field string
	}{
		{"a claim key on a public route counts by address",
			routeDoc("name: r\n    match: {path_prefix: /}\n    upstream: http://127.0.0.1:1\n    auth: {mode: public}\n    rate_limit:\n      - {key: sub, rate: 10/s}"),
			"routes[0].rate_limit[0].key"},
		{"a policy keyed by a claim on a public route counts by address",
			policiesOK + routeDoc("name: r\n    match: {path_prefix: /}\n    upstream: http://127.0.0.1:1\n    auth: {mode: public}\n    rate_limit:\n      - {policy: shared}"),
			"routes[0].rate_limit[0].policy"},
		{"a policy no route names is warned",
			policiesOK + issuerOK + routeOK,
			"rate_limits[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tt.doc), "test.yaml")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range cfg.Warnings {
				if w.Field == tt.field && w.Code == config.CodeIgnored {
					return
				}
			}
			t.Errorf("no warning for %s: %v", tt.field, cfg.Warnings)
		})
	}
}

func TestRateLimitDefaultsAndShapes(t *testing.T) {
	cfg := mustParse(t, policiesOK+issuerOK+
		"defaults:\n  rate_limit: [{policy: shared}]\n"+
		"routes:\n"+
		"  - {name: a, match: {path_prefix: /a}, upstream: \"http://127.0.0.1:1\"}\n"+
		"  - {name: b, match: {path_prefix: /b}, upstream: \"http://127.0.0.1:1\", rate_limit: []}\n"+
		"  - {name: c, match: {path_prefix: /c}, upstream: \"http://127.0.0.1:1\", rate_limit: [{key: \"claim:route\", rate: 10/15s}]}\n")
	if got := cfg.Routes[0].RateLimit; len(got) != 1 || got[0].Policy != "shared" {
		t.Errorf("route a: %+v, want defaults.rate_limit", got)
	}
	if got := cfg.Routes[1].RateLimit; got == nil || len(got) != 0 {
		t.Errorf("route b: %#v, want explicitly none", got)
	}
	if &cfg.Routes[0].RateLimit[0] == &cfg.Defaults.RateLimit[0] {
		t.Error("a route shares defaults.rate_limit's memory")
	}
	count, period, burst, err := cfg.Routes[2].RateLimit[0].Limit()
	if err != nil || count != 10 || period != 15*time.Second || burst != 10 {
		t.Errorf("10/15s: %d/%s burst %d (%v), want 10/15s burst 10", count, period, burst, err)
	}
	kind, claim, err := config.ParseRateLimitKey(cfg.Routes[2].RateLimit[0].Key)
	if err != nil || kind != config.KeyKindClaim || claim != "route" {
		t.Errorf("claim:route is %q %q %v, want the claim named route", kind, claim, err)
	}
	s := cfg.RateLimitStore
	if s.Enabled() || s.Timeout != config.Duration(50*time.Millisecond) || s.OnStoreError != config.OnStoreErrorLocal {
		t.Errorf("store defaults: %+v", s)
	}
}

func TestRateLimitStoreURLs(t *testing.T) {
	for _, u := range []string{
		"redis://127.0.0.1:6379/0", "rediss://redis.internal:6380",
		"redis+sentinel://s1:26379/0?master_name=main&addr=s2:26379", "rediss+sentinel://s1:26379/0?master_name=main",
		"redis+cluster://n1:6379?addr=n2:6379", "rediss+cluster://n1:6379",
	} {
		mustParse(t, "rate_limit_store:\n  url: \""+u+"\"\n"+issuerOK+routeOK)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string][2]int64{
		"100/s": {100, int64(time.Second)}, "6000/m": {6000, int64(time.Minute)}, "5/h": {5, int64(time.Hour)},
		"10/15s": {10, int64(15 * time.Second)}, " 7 / 2m ": {7, int64(2 * time.Minute)}, "1000000000/s": {1e9, int64(time.Second)},
	} {
		n, p, err := config.ParseRate(in)
		if err != nil || n != want[0] || int64(p) != want[1] {
			t.Errorf("ParseRate(%q) = %d, %s, %v", in, n, p, err)
		}
	}
	for _, in := range []string{"", "/s", "10", "10/", "-1/s", "1000000001/s", "10/-1s", "10/0s", "1.5/s", "10/ms", "10/1500ms"} {
		if _, _, err := config.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}
