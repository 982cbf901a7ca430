package config_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

// corsRoute is a valid route with a cors block whose lines follow.
func corsRoute(cors string) string {
	return routeDoc("name: r\n    match: {path_prefix: /, methods: [GET, DELETE]}\n    upstream: http://127.0.0.1:1\n    cors:\n" + cors)
}

func TestCORSRulesAreReportedWithTheirFieldAndLine(t *testing.T) {
	tests := []problemCase{
		{"a cors block needs origins",
			routeDoc("name: r\n    match: {path_prefix: /}\n    upstream: http://127.0.0.1:1\n    cors: #<\n      allow_credentials: false"),
			"routes[0].cors.allowed_origins", config.CodeRequired, "enabled: false"},
		{"an empty origin list is refused",
			corsRoute("      allowed_origins: [] #<"),
			"routes[0].cors.allowed_origins", config.CodeRequired, ""},
		{"* with credentials is refused (Fetch)",
			corsRoute("      allowed_origins:\n        - \"*\" #<\n      allow_credentials: true"),
			"routes[0].cors.allowed_origins[0]", config.CodeConflict, "allow_credentials"},
		{"* with other origins is refused",
			corsRoute("      allowed_origins:\n        - https://a.example.com\n        - \"*\" #<"),
			"routes[0].cors.allowed_origins[1]", config.CodeConflict, "alone"},
		{"null is refused",
			corsRoute("      allowed_origins:\n        - \"null\" #<"),
			"routes[0].cors.allowed_origins[0]", config.CodeBadOrigin, "sandboxed"},
		{"an origin with a path is refused",
			corsRoute("      allowed_origins:\n        - https://a.example.com/app #<"),
			"routes[0].cors.allowed_origins[0]", config.CodeBadOrigin, `"https://a.example.com"`},
		{"an origin with a trailing slash is refused",
			corsRoute("      allowed_origins:\n        - https://a.example.com/ #<"),
			"routes[0].cors.allowed_origins[0]", config.CodeBadOrigin, "trailing slash"},
		{"an origin without a scheme is refused",
			corsRoute("      allowed_origins:\n        - a.example.com #<"),
			"routes[0].cors.allowed_origins[0]", config.CodeBadOrigin, "scheme://host"},
		{"an origin with the default port is refused",
			corsRoute("      allowed_origins:\n        - https://a.example.com:443 #<"),
			"routes[0].cors.allowed_origins[0]", config.CodeBadOrigin, "default port"},
		{"a wildcard that is not the leading label is refused",
			corsRoute("      allowed_origins:\n        - https://a.*.example.com #<"),
			"routes[0].cors.allowed_origins[0]", config.CodeBadOrigin, ""},
		{"an origin listed twice (in another case) is refused",
			corsRoute("      allowed_origins:\n        - https://a.example.com\n        - https://A.example.com #<"),
			"routes[0].cors.allowed_origins[1]", config.CodeDuplicate, ""},
		{"a method must be a token",
			corsRoute("      allowed_origins: [https://a.example.com]\n      allowed_methods:\n        - \"GE T\" #<"),
			"routes[0].cors.allowed_methods[0]", config.CodeBadMethod, ""},
		{"a wildcard method is refused",
			corsRoute("      allowed_origins: [https://a.example.com]\n      allowed_methods:\n        - \"*\" #<"),
			"routes[0].cors.allowed_methods[0]", config.CodeBadMethod, ""},
		{"a wildcard header is refused",
			corsRoute("      allowed_origins: [https://a.example.com]\n      allowed_headers:\n        - \"*\" #<"),
			"routes[0].cors.allowed_headers[0]", config.CodeBadHeader, "Authorization"},
		{"a header listed twice in another case is refused",
			corsRoute("      allowed_origins: [https://a.example.com]\n      exposed_headers:\n        - X-Trace\n        - x-trace #<"),
			"routes[0].cors.exposed_headers[1]", config.CodeDuplicate, ""},
		{"a max age over 24h is refused",
			corsRoute("      allowed_origins: [https://a.example.com]\n      max_age: 25h #<"),
			"routes[0].cors.max_age", config.CodeOutOfRange, ""},
		{"keys beside enabled: false are refused",
			corsRoute("      enabled: false\n      allowed_origins: [https://a.example.com] #<"),
			"routes[0].cors.allowed_origins", config.CodeIgnored, ""},
		{"an unknown cors key is refused",
			corsRoute("      allowed_origins: [https://a.example.com]\n      allow_origins: [https://b.example.com] #<"),
			"routes[0].cors.allow_origins", config.CodeUnknownKey, ""},
		{"defaults.cors is checked where it is written",
			"defaults:\n  cors:\n    allowed_origins:\n      - \"*\" #<\n    allow_credentials: true\n" + issuerOK + routeOK,
			"defaults.cors.allowed_origins[0]", config.CodeConflict, ""},
	}
	requireProblems(t, tests)
}

func TestCORSMethodNotRoutedIsWarned(t *testing.T) {
	cfg, err := config.Parse([]byte(corsRoute("      allowed_origins: [https://a.example.com]\n      allowed_methods: [PUT]")), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !hasCode(cfg.Warnings, config.CodeIgnored) {
		t.Fatalf("no warning: %v", cfg.Warnings)
	}
}

// HEAD on a route that lists GET is routed there (a GET route takes HEAD),
// so allowing it is no mistake to warn about.
func TestCORSHeadOnAGetRouteIsNotWarned(t *testing.T) {
	cfg, err := config.Parse([]byte(corsRoute("      allowed_origins: [https://a.example.com]\n      allowed_methods: [GET, HEAD]")), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if hasCode(cfg.Warnings, config.CodeIgnored) {
		t.Fatalf("warned: %v", cfg.Warnings)
	}
}

// A wildcard over a whole top-level domain loads, warned: it allows every
// site anyone registers there. One over a domain, or over localhost, does
// not warn.
func TestCORSWildcardOverATopLevelDomainIsWarned(t *testing.T) {
	for origin, warned := range map[string]bool{
		"https://*.com":           true,
		"https://*.io:8443":       true,
		"https://*.example.com":   false,
		"http://*.localhost:3000": false,
		"https://app.example.com": false,
		"https://*.corp.internal": false,
		// Public suffixes of more than one label: every name under them
		// is anyone's to register (co.uk) or to create (github.io).
		"https://*.co.uk":      true,
		"https://*.github.io":  true,
		"https://*.vercel.app": true,
		"https://*.bbc.co.uk":  false,
	} {
		cfg, err := config.Parse([]byte(corsRoute("      allowed_origins: [\""+origin+"\"]")), "t.yaml")
		if err != nil {
			t.Fatalf("%s: %v", origin, err)
		}
		if got := hasCode(cfg.Warnings, config.CodeBadOrigin); got != warned {
			t.Errorf("%s: warned %v, want %v (%v)", origin, got, warned, cfg.Warnings)
		}
	}
}

// A route without a block takes a copy of defaults.cors, with the keys
// both leave out filled; a route's own block replaces the default whole,
// and enabled: false leaves the route without one.
func TestCORSDefaults(t *testing.T) {
	cfg := mustParse(t, `defaults:
  cors: {allowed_origins: ["https://App.example.com"], allow_credentials: true}
`+issuerOK+`routes:
  - {name: inherits, match: {path_prefix: /a, methods: [get, put]}, upstream: "http://127.0.0.1:1"}
  - {name: any, match: {path_prefix: /b}, upstream: "http://127.0.0.1:1"}
  - {name: own, match: {path_prefix: /c}, upstream: "http://127.0.0.1:1", cors: {allowed_origins: ["https://c.example.com"]}}
  - {name: off, match: {path_prefix: /d}, upstream: "http://127.0.0.1:1", cors: {enabled: false}}
`)
	r := cfg.Routes
	want := config.CORS{
		AllowedOrigins: []string{"https://app.example.com"}, AllowedMethods: []string{"GET", "PUT"},
		AllowedHeaders: []string{"Authorization", "Content-Type"}, ExposedHeaders: []string{"WWW-Authenticate", "X-Request-Id", "Retry-After"},
		AllowCredentials: true, MaxAge: new(config.Duration(10 * time.Minute)),
	}
	if !reflect.DeepEqual(*r[0].CORS, want) {
		t.Errorf("inherits: %+v, want %+v", *r[0].CORS, want)
	}
	if got := r[1].CORS.AllowedMethods; !reflect.DeepEqual(got, []string{"GET", "HEAD", "POST"}) {
		t.Errorf("any method: allowed_methods %v", got)
	}
	if r[2].CORS.AllowCredentials || r[2].CORS.AllowedOrigins[0] != "https://c.example.com" {
		t.Errorf("own: %+v", *r[2].CORS)
	}
	if r[3].CORS.On() {
		t.Errorf("off: %+v", *r[3].CORS)
	}
	if &r[0].CORS.AllowedOrigins[0] == &cfg.Defaults.CORS.AllowedOrigins[0] {
		t.Error("a route shares defaults.cors's memory")
	}
	if cfg.Defaults.CORS.AllowedMethods != nil {
		t.Error("defaults.cors took a route's methods")
	}
}
