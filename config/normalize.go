package config

import (
	"slices"
	"strings"
)

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
// defaults.resource, defaults.cors, and the keys a cors block leaves out),
// so that everything after normalize reads each route's own value.
func normalize(c *Config) {
	normalizeCORS(c.Defaults.CORS)
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Auth.Enforce == nil {
			enforce := c.Defaults.Enforce
			r.Auth.Enforce = &enforce
		}
		if r.Resource == "" {
			r.Resource = c.Defaults.Resource
		}
		if r.RateLimit == nil {
			r.RateLimit = slices.Clone(c.Defaults.RateLimit)
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
		r.CORS = routeCORS(r.CORS, c.Defaults.CORS, m.Methods)
	}
}

// normalizeCORS rewrites a cors block's origins in lower case (browsers
// send scheme and host so, RFC 6454 §6.2) and its methods in upper case.
func normalizeCORS(c *CORS) {
	if c == nil {
		return
	}
	for j, o := range c.AllowedOrigins {
		c.AllowedOrigins[j] = strings.ToLower(o)
	}
	for j, meth := range c.AllowedMethods {
		c.AllowedMethods[j] = strings.ToUpper(meth)
	}
}

// routeCORS is a route's cors block with the keys it leaves out filled:
// its own block, or else a copy of defaults.cors (which normalize has
// already rewritten), that shares no memory with it. A block turned off
// (enabled: false) is kept as written, for validation to read.
func routeCORS(own, def *CORS, methods []string) *CORS {
	if own == nil {
		if def == nil {
			return nil
		}
		cp := *def
		cp.Enabled = cloneValue(def.Enabled)
		cp.AllowedOrigins = slices.Clone(def.AllowedOrigins)
		cp.AllowedMethods = slices.Clone(def.AllowedMethods)
		cp.AllowedHeaders = slices.Clone(def.AllowedHeaders)
		cp.ExposedHeaders = slices.Clone(def.ExposedHeaders)
		cp.MaxAge = cloneValue(def.MaxAge)
		own = &cp
	} else {
		normalizeCORS(own)
	}
	if !own.On() {
		return own
	}
	if own.AllowedMethods == nil {
		own.AllowedMethods = slices.Clone(methods)
		if len(methods) == 0 {
			own.AllowedMethods = slices.Clone(DefaultCORSMethods)
		}
	}
	if own.AllowedHeaders == nil {
		own.AllowedHeaders = slices.Clone(DefaultCORS.AllowedHeaders)
	}
	if own.ExposedHeaders == nil {
		own.ExposedHeaders = slices.Clone(DefaultCORS.ExposedHeaders)
	}
	if own.MaxAge == nil {
		own.MaxAge = cloneValue(DefaultCORS.MaxAge)
	}
	return own
}

// cloneValue returns a new pointer to *p's value, nil for nil.
func cloneValue[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
