package config

import "strings"

// normalize rewrites, in place, the values that have one canonical
// spelling, so that validation and everything after it (policy, explain)
// read that one spelling and never rewrite anything themselves. Parse runs
// it right after decoding.
//
// Host names compare case-insensitively (RFC 9110 §4.2.3), so match.hosts
// is stored lower-cased and "API.Example.com" is the same host as
// "api.example.com", which validation then reports as listed twice. Methods
// are stored upper-cased: clients send the standard methods in upper case
// (RFC 9110 §9.1), and a route written with "get" means the GET they send.
//
// A route's settings left out take the file's defaults (defaults.enforce,
// defaults.resource), so that everything after normalize reads each
// route's own value.
func normalize(c *Config) {
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Auth.Enforce == nil {
			enforce := c.Defaults.Enforce
			r.Auth.Enforce = &enforce
		}
		if r.Resource == "" {
			r.Resource = c.Defaults.Resource
		}
		if r.MaxBodyBytes == nil {
			limit := c.Server.MaxBodyBytes
			r.MaxBodyBytes = &limit
		}
		m := &c.Routes[i].Match
		for j, h := range m.Hosts {
			m.Hosts[j] = strings.ToLower(h)
		}
		for j, meth := range m.Methods {
			m.Methods[j] = strings.ToUpper(meth)
		}
	}
}
