package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

func TestExampleFileLoadsWithoutProblemsOrWarnings(t *testing.T) {
	cfg, err := config.Load("../config.example.yaml")
	if err != nil {
		t.Fatalf("config.example.yaml:\n%v", err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("config.example.yaml has warnings:\n%v", cfg.Warnings)
	}
	if len(cfg.Issuers) != 2 || len(cfg.Routes) < 3 {
		t.Errorf("the example should show two issuers and several routes, got %d and %d", len(cfg.Issuers), len(cfg.Routes))
	}
	modes := map[string]bool{}
	for _, r := range cfg.Routes {
		modes[r.Auth.Mode] = true
	}
	for _, m := range []string{config.ModeRequired, config.ModeOptional, config.ModePublic} {
		if !modes[m] {
			t.Errorf("the example shows no route with auth mode %s", m)
		}
	}
}

// The example is the documentation of the file: every key the decoder
// knows must appear in it.
func TestExampleFileShowsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || name == "" {
				continue
			}
			// As a key: not inside a longer one (timeout: in read_timeout:).
			if !regexp.MustCompile(`(?m)(^|[\s{,])` + regexp.QuoteMeta(name) + `:`).Match(data) {
				missing = append(missing, name)
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft)
			}
		}
	}
	walk(reflect.TypeFor[config.Config]())
	if len(missing) > 0 {
		t.Errorf("config.example.yaml does not show: %s", strings.Join(missing, ", "))
	}
}

func TestDefaultsApplyToAbsentKeys(t *testing.T) {
	cfg := mustParse(t, issuerOK+routeOK)

	if !reflect.DeepEqual(cfg.Server, config.DefaultServer) {
		t.Errorf("server = %+v, want DefaultServer %+v", cfg.Server, config.DefaultServer)
	}
	if !reflect.DeepEqual(cfg.Log, config.DefaultLog) {
		t.Errorf("log = %+v, want DefaultLog %+v", cfg.Log, config.DefaultLog)
	}

	wantServer := config.Server{
		Listen:            ":8080",
		AdminListen:       "127.0.0.1:9090",
		ReadHeaderTimeout: config.Duration(5 * time.Second),
		ReadTimeout:       config.Duration(30 * time.Second),
		WriteTimeout:      config.Duration(60 * time.Second),
		IdleTimeout:       config.Duration(90 * time.Second),
		ShutdownGrace:     config.Duration(20 * time.Second),
		MaxHeaderBytes:    32768,
		MaxInFlight:       4096,
	}
	if !reflect.DeepEqual(cfg.Server, wantServer) {
		t.Errorf("server = %+v, want %+v", cfg.Server, wantServer)
	}
	if want := (config.Log{Level: "info", Format: "json", AccessLog: true, FlushInterval: config.Duration(100 * time.Millisecond)}); cfg.Log != want {
		t.Errorf("log = %+v, want %+v", cfg.Log, want)
	}

	is := cfg.Issuers[0]
	wantIssuer := config.Issuer{
		Name:               "corp",
		Issuer:             "https://idp.example.com/",
		Discovery:          true,
		Audiences:          []string{"api"},
		AudienceClaim:      "aud",
		Algorithms:         []string{"RS256"},
		RefreshInterval:    config.Duration(15 * time.Minute),
		MinRefreshInterval: config.Duration(30 * time.Second),
		ClockSkew:          config.Duration(30 * time.Second),
		RequiredClaims:     []string{"exp"},
		ScopeClaims:        []string{"scope", "scp"},
		TokenCache:         config.TokenCache{MaxEntries: 10000, MaxTTL: config.Duration(5 * time.Minute)},
		Introspection: config.Introspection{AuthMethod: "client_secret_basic", Timeout: config.Duration(2 * time.Second),
			CacheTTL: config.Duration(time.Minute), NegativeCacheTTL: config.Duration(5 * time.Second), MaxEntries: 10000, MaxConcurrent: 64},
		Revocation: config.Revocation{RefreshInterval: config.Duration(30 * time.Second), MaxEntries: 100000},
		Line:       1,
	}
	if !reflect.DeepEqual(is, wantIssuer) {
		t.Errorf("issuer = %+v,\nwant %+v", is, wantIssuer)
	}

	r := cfg.Routes[0]
	if r.Timeout.D() != 30*time.Second || r.StreamIdleTimeout.D() != 60*time.Second || r.Auth.Mode != config.ModeRequired || r.StripPrefix || r.Forward.StripAuthorization || !r.WebSocket || r.Line != 2 ||
		r.Auth.Enforce == nil || !*r.Auth.Enforce || r.Resource != "" {
		t.Errorf("route defaults not applied: %+v", r)
	}
}

func TestExplicitValuesWinOverDefaults(t *testing.T) {
	cfg := mustParse(t, `
server:
  listen: "127.0.0.1:8443"
  max_header_bytes: 65536
log:
  access_log: false
  flush_interval: 0s
issuers:
  - name: corp
    issuer: https://idp.example.com/
    audiences: [api]
    algorithms: [ES256]
    discovery: true
    required_claims: [sub, exp]
    scope_claims: [permissions]
    clock_skew: 0s
routes:
  - name: r
    match: {path_prefix: /}
    upstream: http://127.0.0.1:1
    timeout: 2s
    websocket: false
    stream_idle_timeout: 5m
    auth: {mode: optional}
`)
	if cfg.Server.Listen != "127.0.0.1:8443" || cfg.Server.MaxHeaderBytes != 65536 || cfg.Server.AdminListen != "127.0.0.1:9090" {
		t.Errorf("server = %+v", cfg.Server)
	}
	if cfg.Log.AccessLog || cfg.Log.Level != "info" || cfg.Log.FlushInterval != 0 {
		t.Errorf("log = %+v", cfg.Log)
	}
	is := cfg.Issuers[0]
	if !reflect.DeepEqual(is.RequiredClaims, []string{"sub", "exp"}) || !reflect.DeepEqual(is.ScopeClaims, []string{"permissions"}) || is.ClockSkew != 0 {
		t.Errorf("issuer = %+v", is)
	}
	if r := cfg.Routes[0]; r.Timeout.D() != 2*time.Second || r.StreamIdleTimeout.D() != 5*time.Minute || r.Auth.Mode != config.ModeOptional || r.WebSocket {
		t.Errorf("route = %+v", r)
	}
}

func TestAnExplicitlyEmptyListIsNotAnAbsentOne(t *testing.T) {
	cfg := mustParse(t, issuerDoc("name: corp\n    issuer: https://idp.example.com/\n    audiences: [api]\n    algorithms: [RS256]\n    required_claims: []\n    scope_claims: []"))
	is := cfg.Issuers[0]
	if is.RequiredClaims == nil || len(is.RequiredClaims) != 0 {
		t.Errorf("required_claims: [] gave %#v, want an empty list (no claim required)", is.RequiredClaims)
	}
	if len(is.ScopeClaims) != 0 {
		t.Errorf("scope_claims: [] gave %#v, want an empty list", is.ScopeClaims)
	}
}

func TestNullMeansAbsent(t *testing.T) {
	cfg := mustParse(t, "server:\nlog: ~\n"+issuerDoc("name: corp\n    issuer: https://idp.example.com/\n    audiences: [api]\n    algorithms: [RS256]\n    required_claims:\n    clock_skew: null"))
	if !reflect.DeepEqual(cfg.Server, config.DefaultServer) || cfg.Log != config.DefaultLog {
		t.Errorf("null sections did not take the defaults")
	}
	if is := cfg.Issuers[0]; !reflect.DeepEqual(is.RequiredClaims, []string{"exp"}) || is.ClockSkew != config.DefaultIssuer.ClockSkew {
		t.Errorf("null keys did not take the defaults: %+v", is)
	}
}

func TestParsingDoesNotChangeTheDefaults(t *testing.T) {
	before := config.DefaultIssuer.RequiredClaims[0]
	cfg := mustParse(t, issuerOK+routeOK)
	cfg.Issuers[0].RequiredClaims[0] = "changed"
	cfg.Issuers[0].ScopeClaims[0] = "changed"
	if config.DefaultIssuer.RequiredClaims[0] != before || config.DefaultIssuer.ScopeClaims[0] != "scope" {
		t.Errorf("a parsed config shares its slices with DefaultIssuer")
	}
}

func TestHostsAreLowerCasedAndMethodsUpperCased(t *testing.T) {
	cfg := mustParse(t, routeDoc("name: r\n    match: {path: /, hosts: [API.Example.COM, \"*.Example.com\"], methods: [get, Post]}\n    upstream: http://127.0.0.1:1"))
	m := cfg.Routes[0].Match
	if !reflect.DeepEqual(m.Hosts, []string{"api.example.com", "*.example.com"}) {
		t.Errorf("hosts = %q", m.Hosts)
	}
	if !reflect.DeepEqual(m.Methods, []string{"GET", "POST"}) {
		t.Errorf("methods = %q", m.Methods)
	}
}

func TestUnknownKeysAreReportedAtEveryDepth(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		field string
	}{
		{"at the top level", "listen: \":8080\" #<\n" + issuerOK + routeOK, "listen"},
		{"in server", "server:\n  port: 8080 #<\n" + issuerOK + routeOK, "server.port"},
		{"in tls", "server:\n  tls:\n    cert: a.pem #<\n" + issuerOK + routeOK, "server.tls.cert"},
		{"in log", "log:\n  levle: info #<\n" + issuerOK + routeOK, "log.levle"},
		{"in an issuer", issuerDoc("name: corp\n    issuer: https://idp.example.com/\n    algorithms: [RS256]\n    audience: [api] #<"), "issuers[0].audience"},
		{"in the second issuer", issuerDoc("name: a\n    issuer: https://a.example.com/\n    algorithms: [RS256]\n  - name: b\n    issuer: https://b.example.com/\n    algorithms: [RS256]\n    jwks: x #<"), "issuers[1].jwks"},
		{"in a route", routeDoc("name: r\n    match: {path: /}\n    upstream: http://127.0.0.1:1\n    upstreams: [x] #<"), "routes[0].upstreams"},
		{"in match", routeDoc("name: r\n    match:\n      path: /\n      prefix: /a #<\n    upstream: http://127.0.0.1:1"), "routes[0].match.prefix"},
		{"in auth", routeDoc("name: r\n    match: {path: /}\n    upstream: http://127.0.0.1:1\n    auth:\n      scope: [a] #<"), "routes[0].auth.scope"},
		{"in scopes", routeDoc("name: r\n    match: {path: /}\n    upstream: http://127.0.0.1:1\n    auth:\n      scopes:\n        allOf: [a] #<"), "routes[0].auth.scopes.allOf"},
		{"in forward", routeDoc("name: r\n    match: {path: /}\n    upstream: http://127.0.0.1:1\n    forward:\n      headers: {} #<"), "routes[0].forward.headers"},
		{"with a key that needs quoting", "\"x y\": 1 #<\n" + issuerOK + routeOK, `["x y"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireProblem(t, problemsOf(t, tt.doc), tt.field, markedLine(t, tt.doc), config.CodeUnknownKey, "")
		})
	}
}

func TestUnknownKeysSuggestTheNearestKnownOne(t *testing.T) {
	ps := problemsOf(t, "server:\n  admin_lsiten: \":9\"\n"+issuerOK+routeOK)
	requireProblem(t, ps, "server.admin_lsiten", 2, config.CodeUnknownKey, `did you mean "admin_listen"?`)
	ps = problemsOf(t, "server:\n  zzz: 1\n"+issuerOK+routeOK)
	requireProblem(t, ps, "server.zzz", 2, config.CodeUnknownKey, "allowed here: listen, admin_listen,")
}

func TestWrongTypesAreProblemsNotPanics(t *testing.T) {
	tests := []problemCase{
		{"a string where a list is expected", issuerDoc("name: corp\n    issuer: https://idp.example.com/\n    algorithms: RS256 #<"), "issuers[0].algorithms", config.CodeWrongType, "write [RS256]"},
		{"a list where a string is expected", "server:\n  listen: [\":8080\"] #<\n" + issuerOK + routeOK, "server.listen", config.CodeWrongType, ""},
		{"a mapping where a list is expected", "issuers: {name: corp} #<\n" + routeOK, "issuers", config.CodeWrongType, ""},
		{"a list where a mapping is expected", "server: [] #<\n" + issuerOK + routeOK, "server", config.CodeWrongType, ""},
		{"a scalar where a route is expected", issuerOK + "routes: [orders] #<\n", "routes[0]", config.CodeWrongType, ""},
		{"a null list element", issuerDoc("name: corp\n    issuer: https://idp.example.com/\n    algorithms: [RS256, ~] #<"), "issuers[0].algorithms[1]", config.CodeWrongType, ""},
		{"a string where a boolean is expected", "log:\n  access_log: yes #<\n" + issuerOK + routeOK, "log.access_log", config.CodeWrongType, ""},
		{"a number where a boolean is expected", "log:\n  access_log: 1 #<\n" + issuerOK + routeOK, "log.access_log", config.CodeWrongType, ""},
		{"a string where a number is expected", "server:\n  max_header_bytes: 32KiB #<\n" + issuerOK + routeOK, "server.max_header_bytes", config.CodeWrongType, ""},
		{"a float where a number is expected", "server:\n  max_header_bytes: 1.5 #<\n" + issuerOK + routeOK, "server.max_header_bytes", config.CodeWrongType, ""},
		{"a number too large for any integer is not a whole number", "server:\n  max_header_bytes: 99999999999999999999 #<\n" + issuerOK + routeOK, "server.max_header_bytes", config.CodeWrongType, ""},
		{"a whole number too large for an int is out of range", "server:\n  max_header_bytes: 18446744073709551615 #<\n" + issuerOK + routeOK, "server.max_header_bytes", config.CodeOutOfRange, ""},
		{"a list where a duration is expected", "server:\n  read_timeout: [5s] #<\n" + issuerOK + routeOK, "server.read_timeout", config.CodeWrongType, ""},
		{"a list where a claim path is expected", routeDoc("name: r\n    match: {path: /}\n    upstream: http://127.0.0.1:1\n    forward:\n      claims_to_headers:\n        X-Id: [sub] #<"), "routes[0].forward.claims_to_headers.X-Id", config.CodeWrongType, ""},
		{"a list as a mapping key", "? [a] #<\n: 1\n" + issuerOK + routeOK, "", config.CodeWrongType, ""},
	}
	requireProblems(t, tests)
}

func TestAValueOfTheWrongTypeIsReportedOnce(t *testing.T) {
	// The decoder reports the type; validation must not add "is required"
	// or "at least one route" for the value it could not read.
	ps := problemsOf(t, "issuers: corp\nroutes: orders\n")
	if len(ps) != 2 {
		t.Fatalf("want exactly the two type problems, got:\n%v", ps)
	}
	requireProblem(t, ps, "issuers", 1, config.CodeWrongType, "")
	requireProblem(t, ps, "routes", 2, config.CodeWrongType, "")
}

func TestDuplicateKeysAreRefused(t *testing.T) {
	ps := problemsOf(t, "server:\n  listen: \":8080\"\n  listen: \":8081\"\n"+issuerOK+routeOK)
	requireProblem(t, ps, "server.listen", 3, config.CodeDuplicateKey, "already set on line 2")
}

func TestEveryProblemInAFileIsReportedInLineOrder(t *testing.T) {
	doc := `server:
  listen: nope
  bogus: 1
log:
  level: loud
issuers:
  - name: corp
    issuer: https://idp.example.com/
    algorithms: [HS256, none]
routes:
  - name: r
    match: {path_prefix: /a/}
    upstream: ftp://x
    auth: {mode: public, issuers: [nobody]}
  - name: r
    match: {path: /b}
    upstream: http://127.0.0.1:1
    timeout: 30
`
	ps := problemsOf(t, doc)
	want := []struct {
		line  int
		field string
		code  config.Code
	}{
		{2, "server.listen", config.CodeBadAddress},
		{3, "server.bogus", config.CodeUnknownKey},
		{5, "log.level", config.CodeUnknownValue},
		{9, "issuers[0].algorithms[0]", config.CodeRefusedAlgorithm},
		{9, "issuers[0].algorithms[1]", config.CodeRefusedAlgorithm},
		{12, "routes[0].match.path_prefix", config.CodeBadPath},
		{13, "routes[0].upstream", config.CodeBadURL},
		{14, "routes[0].auth.issuers", config.CodeIgnored},
		{14, "routes[0].auth.issuers[0]", config.CodeUnknownIssuer},
		{15, "routes[1].name", config.CodeDuplicate},
		{18, "routes[1].timeout", config.CodeBadDuration},
	}
	for _, w := range want {
		requireProblem(t, ps, w.field, w.line, w.code, "")
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), ps)
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].Line < ps[i-1].Line {
			t.Errorf("problems are not in line order:\n%v", ps)
			break
		}
	}
}

func TestTheShapeOfTheFileIsChecked(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		line   int
		code   config.Code
		saying string
	}{
		{"an empty file", "", 0, config.CodeEmptyFile, ""},
		{"a file of comments", "# nothing yet\n\n", 0, config.CodeEmptyFile, ""},
		{"a null document", "---\n~\n", 0, config.CodeEmptyFile, ""},
		{"a list at the top level", "- server\n- routes\n", 1, config.CodeWrongType, ""},
		{"a scalar at the top level", "hello\n", 1, config.CodeWrongType, ""},
		{"two documents", issuerOK + routeOK + "---\n" + routeOK, 3, config.CodeMultipleDocuments, ""},
		{"a syntax error", "server:\n  listen: \":8080\"\n log: x\n", 3, config.CodeSyntax, ""},
		{"an unclosed flow sequence", "routes: [a,\n\n", 3, config.CodeSyntax, ""},
		{"a block entry where a key is expected", "server:\n  listen: \":8080\"\n - x\n", 3, config.CodeSyntax, "did not find expected key"},
		{"a tab used for indentation", "server:\n\tlisten: \":8080\"\n", 2, config.CodeSyntax, "tabs"},
		{"an alias to no anchor", "server:\n  listen: *port\n", 2, config.CodeSyntax, "no anchor &port"},
		{"a control character", "server:\n  listen: \"\x01\"\n", 2, config.CodeSyntax, ""},
		{"invalid UTF-8", "server:\n  listen: \"\xff\"\n", 2, config.CodeSyntax, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, tt.doc)
			if len(ps) != 1 {
				t.Errorf("want one problem, got:\n%v", ps)
			}
			requireProblem(t, ps, "", tt.line, tt.code, tt.saying)
		})
	}
}

func TestAnchorsAliasesAndMergeKeysWork(t *testing.T) {
	cfg := mustParse(t, issuerOK+`routes:
  - name: a
    match: {path_prefix: /a}
    upstream: http://127.0.0.1:1
    auth: &corp
      issuers: [corp]
      scopes: {all_of: [read]}
  - &b
    name: b
    match: {path_prefix: /b}
    upstream: http://127.0.0.1:2
    timeout: 5s
    auth: *corp
  - <<: *b
    name: c
    match: {path_prefix: /c}
`)
	if len(cfg.Routes) != 3 {
		t.Fatalf("routes = %d", len(cfg.Routes))
	}
	b, c := cfg.Routes[1], cfg.Routes[2]
	if !reflect.DeepEqual(b.Auth.Scopes.AllOf, []string{"read"}) || !reflect.DeepEqual(c.Auth.Issuers, []string{"corp"}) {
		t.Errorf("aliases not followed: b=%+v c=%+v", b.Auth, c.Auth)
	}
	if c.Name != "c" || c.Match.PathPrefix != "/c" || c.Upstream != "http://127.0.0.1:2" || c.Timeout.D() != 5*time.Second {
		t.Errorf("merge key: keys written in the mapping must win over merged ones: %+v", c)
	}
}

func TestAMergeKeyThatRefersToItselfIsRefused(t *testing.T) {
	ps := problemsOf(t, issuerOK+"routes:\n  - &r\n    name: a\n    <<: *r\n")
	requireProblem(t, ps, "routes[0]", 3, config.CodeBadMerge, "")
}

func TestBillionLaughsIsRefusedByItsExpansionBudget(t *testing.T) {
	// Nine levels of ten: fully expanded, 10^9 values.
	var b strings.Builder
	b.WriteString("server:\n  trusted_proxies: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	b.WriteString(issuerOK + "routes:\n  - &r0 {name: a, match: {path: /}, upstream: \"http://127.0.0.1:1\"}\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("  - &r" + strconv.Itoa(i) + " {<<: [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*r" + strconv.Itoa(i-1))
		}
		b.WriteString("]}\n")
	}
	doc := b.String()

	ps := problemsOf(t, doc)
	if !hasCode(ps, config.CodeAliasExpansion) {
		t.Errorf("want a problem about alias expansion, got:\n%v", ps)
	}
}

// The classic form, nested lists of aliases, never reaches the budget: the
// decoder checks a value's kind before it descends, so a list where a route
// (a mapping) is expected is refused at once, without expanding it, at the
// line of the anchor as every problem inside an alias is.
func TestClassicBillionLaughsInAListIsRefusedWithoutExpandingIt(t *testing.T) {
	doc := issuerOK + `server:
  trusted_proxies: &a ["10.0.0.1","10.0.0.1","10.0.0.1","10.0.0.1","10.0.0.1","10.0.0.1","10.0.0.1","10.0.0.1","10.0.0.1"]
x-b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
x-c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
x-d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
x-e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
x-f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
x-g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
x-h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
x-i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h] #<
routes: [*i, *i, *i, *i]
`
	ps := problemsOf(t, doc)
	for i := range 4 {
		requireProblem(t, ps, fmt.Sprintf("routes[%d]", i), markedLine(t, doc), config.CodeWrongType, "")
	}
	if hasCode(ps, config.CodeAliasExpansion) {
		t.Errorf("the lists were expanded until the budget ran out:\n%v", ps)
	}
}

func TestOversizedInputIsRefusedBeforeParsing(t *testing.T) {
	big := []byte(strings.Repeat("#", config.MaxFileSize+1))
	ps := problemsOf(t, string(big))
	requireProblem(t, ps, "", 0, config.CodeTooLarge, "")

	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	var lps config.Problems
	if !errors.As(err, &lps) || len(lps) != 1 || lps[0].Code != config.CodeTooLarge || lps[0].File != path {
		t.Errorf("Load of an oversized file: %v", err)
	}
}

func TestLoadReportsAnUnreadableFileAsAProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	cfg, err := config.Load(path)
	var ps config.Problems
	if cfg != nil || !errors.As(err, &ps) || len(ps) != 1 || ps[0].File != path || ps[0].Code != config.CodeUnreadable || !strings.Contains(ps[0].Msg, "no such file") {
		t.Errorf("Load(missing) = %v, %v", cfg, err)
	}
}

func TestLoadNamesTheFileInEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portcullis.yaml")
	if err := os.WriteFile(path, []byte("log:\n  level: loud\n"+issuerOK+routeOK), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	if err == nil || err.Error() != path+":2: log.level: \"loud\" is not a level: use debug, info, warn or error" {
		t.Errorf("err = %v", err)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    config.Problem
		want string
	}{
		{config.Problem{File: "a.yaml", Line: 3, Field: "server.listen", Msg: "bad"}, "a.yaml:3: server.listen: bad"},
		{config.Problem{File: "a.yaml", Line: 3, Field: "server.listen", Code: config.CodeBadAddress, Msg: "bad"}, "a.yaml:3: server.listen: bad"},
		{config.Problem{File: "a.yaml", Field: "routes", Msg: "missing"}, "a.yaml: routes: missing"},
		{config.Problem{File: "a.yaml", Msg: "empty"}, "a.yaml: empty"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}
