package config

import (
	"reflect"
	"testing"
)

// Validation only reads: the canonical spellings are normalize's to write,
// so a Config that validation has looked at is the Config it was given,
// whatever case its hosts and methods are in.
func TestValidationDoesNotRewriteTheConfig(t *testing.T) {
	parse := func() *Config {
		cfg, err := Parse([]byte(`issuers: [{name: corp, issuer: "https://idp.example.com/", audiences: [api], algorithms: [RS256]}]
routes:
  - name: r
    match: {path_prefix: /, hosts: [api.example.com], methods: [GET]}
    upstream: "http://127.0.0.1:9001"
`), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		m := &cfg.Routes[0].Match
		m.Hosts[0], m.Methods[0] = "API.Example.COM", "get"
		return cfg
	}
	cfg, want := parse(), parse()
	v := &validator{file: "test.yaml", lines: map[string]int{}, failed: map[string]bool{}}
	v.config(cfg)
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("validation rewrote the config:\n got %+v\nwant %+v", cfg.Routes, want.Routes)
	}
}

func TestNormalizeLowerCasesHostsAndUpperCasesMethods(t *testing.T) {
	c := &Config{Routes: []Route{{Match: Match{Hosts: []string{"API.Example.COM", "*.Example.com"}, Methods: []string{"get", "Post"}}}}}
	normalize(c)
	m := c.Routes[0].Match
	if !reflect.DeepEqual(m.Hosts, []string{"api.example.com", "*.example.com"}) || !reflect.DeepEqual(m.Methods, []string{"GET", "POST"}) {
		t.Errorf("normalize gave hosts %q, methods %q", m.Hosts, m.Methods)
	}
}
