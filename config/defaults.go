package config

import (
	"maps"
	"slices"
	"time"
)

// The defaults below apply to keys that are absent from the file (or written
// as null); a value written in the file always wins, including an explicitly
// empty list. They are variables, in the manner of Prometheus's
// DefaultGlobalConfig, so that documentation and tests can refer to them by
// name; the loader copies them and never hands out their slices, but
// changing them changes what every later Load produces.
var (
	// DefaultServer keeps the admin listener on loopback, so that /metrics
	// is not published to the network unless the operator chooses to.
	// ReadHeaderTimeout is short because a slow header is how slowloris
	// holds connections open; WriteTimeout is longer than any route's
	// default timeout so that a 504 can still be written.
	DefaultServer = Server{
		Listen:            ":8080",
		AdminListen:       "127.0.0.1:9090",
		ReadHeaderTimeout: Duration(5 * time.Second),
		ReadTimeout:       Duration(30 * time.Second),
		WriteTimeout:      Duration(60 * time.Second),
		IdleTimeout:       Duration(90 * time.Second),
		ShutdownGrace:     Duration(20 * time.Second),
		MaxHeaderBytes:    32 << 10,
		MaxInFlight:       4096,
	}

	// DefaultLog writes structured JSON, including an access log line per
	// request.
	DefaultLog = Log{
		Level:         "info",
		Format:        "json",
		AccessLog:     true,
		FlushInterval: Duration(100 * time.Millisecond),
	}

	// DefaultIssuer is the template of every entry of issuers. There is
	// deliberately no default for Algorithms (the allow-list must be
	// written, RFC 8725 §3.1) nor for Audiences. RequiredClaims defaults to
	// exp so that a token without an expiry is not accepted forever;
	// writing `required_claims: []` turns that off on purpose.
	DefaultIssuer = Issuer{
		Discovery:          true,
		AudienceClaim:      "aud",
		RefreshInterval:    Duration(15 * time.Minute),
		MinRefreshInterval: Duration(30 * time.Second),
		ClockSkew:          Duration(30 * time.Second),
		RequiredClaims:     []string{"exp"},
		ScopeClaims:        []string{"scope", "scp"},
		TokenCache:         TokenCache{MaxEntries: 10000, MaxTTL: Duration(5 * time.Minute)},
		Introspection:      DefaultIntrospection,
		Revocation:         DefaultRevocation,
	}

	// DefaultDecision is off; its nginx header names are the ones the
	// nginx documentation's auth_request examples use.
	DefaultDecision = Decision{
		Nginx: NginxHeaders{
			MethodHeader: "X-Original-Method",
			URIHeader:    "X-Original-URI",
			HostHeader:   "X-Original-Host",
		},
		EnvoyPathPrefix: "/envoy",
	}

	// DefaultRateLimitStore keeps counters in memory until a url is set.
	// Its timeout is short because it is added to every limited request
	// when Redis is slow; local keeps limits in force, per instance,
	// while Redis is away.
	DefaultRateLimitStore = RateLimitStore{
		Timeout:      Duration(50 * time.Millisecond),
		OnStoreError: OnStoreErrorLocal,
	}

	// DefaultTracing is off. Its empty keys are filled from the OTEL_*
	// environment when tracing starts (package tracing), not here: the
	// file says what the operator wrote, the environment what the
	// platform injects. Incoming traces are continued only from
	// server.trusted_proxies, so that a client cannot choose the trace id
	// (and sampling) of its own requests.
	DefaultTracing = Tracing{TrustIncoming: TrustTrustedProxies}

	// DefaultDefaults enforce every route's policy and describe no
	// resource.
	DefaultDefaults = Defaults{Enforce: true}

	// DefaultCORS holds the values of the keys a cors block leaves out
	// (its allowed_methods default is the route's match.methods, or
	// DefaultCORSMethods). Authorization is allowed because a bearer token
	// is what every call through the gateway carries; WWW-Authenticate is
	// exposed so that browser code can read why a 401 was refused, and
	// Retry-After when a 429 or 503 may be tried again.
	// MaxAge spares a preflight before most calls while keeping a changed
	// policy in force within minutes.
	DefaultCORS = CORS{
		AllowedHeaders: []string{"Authorization", "Content-Type"},
		ExposedHeaders: []string{"WWW-Authenticate", "X-Request-Id", "Retry-After"},
		MaxAge:         new(Duration(10 * time.Minute)),
	}
	// DefaultCORSMethods are the allowed_methods of a cors block on a
	// route that matches any method: the CORS-safelisted methods.
	DefaultCORSMethods = []string{"GET", "HEAD", "POST"}
	// MaxCORSMaxAge is the longest cors.max_age accepted: Firefox's own
	// cap; Chromium caps at 2h.
	MaxCORSMaxAge = Duration(24 * time.Hour)

	// DefaultIntrospection suits an authorization server on the same
	// network: a call that takes longer than 2s is an outage, an active
	// answer is reused for a minute (a revoked token lives at most that
	// long, plus the cache of whoever asked), an inactive one for 5s; 64
	// calls at once are more than such a server answers within the 2s at a
	// steady rate of new tokens, and far fewer than its connections.
	DefaultIntrospection = Introspection{
		AuthMethod:       ClientSecretBasic,
		Timeout:          Duration(2 * time.Second),
		CacheTTL:         Duration(time.Minute),
		NegativeCacheTTL: Duration(5 * time.Second),
		MaxEntries:       10000,
		MaxConcurrent:    64,
	}

	// DefaultRevocation polls every 30s: the worst-case delay between a
	// revocation's publication and its refusal everywhere.
	DefaultRevocation = Revocation{
		RefreshInterval: Duration(30 * time.Second),
		MaxEntries:      100000,
	}

	// DefaultRoute is the template of every entry of routes. Auth.Mode
	// defaults to required: a route that forgets its auth section is
	// closed, never open. WebSocket defaults to true: a handshake becomes
	// a tunnel only after the route's checks passed, so a route's policy
	// covers it as it covers any request. StreamIdleTimeout is nginx's 60s
	// for proxy_read_timeout and send_timeout: long enough for an event
	// stream that sends a heartbeat now and then, short enough that a dead
	// one does not hold a connection for long.
	DefaultRoute = Route{
		UpstreamProtocol:  ProtocolAuto,
		Timeout:           Duration(30 * time.Second),
		StreamIdleTimeout: Duration(60 * time.Second),
		Auth:              Auth{Mode: ModeRequired},
		WebSocket:         true,
	}
)

// newConfig returns a Config holding the defaults of the sections that are
// not lists.
func newConfig() *Config {
	c := &Config{Server: DefaultServer, Log: DefaultLog, Defaults: DefaultDefaults, Decision: DefaultDecision, Tracing: DefaultTracing, RateLimitStore: DefaultRateLimitStore}
	c.Server.TrustedProxies = slices.Clone(c.Server.TrustedProxies)
	return c
}

// newIssuer returns a copy of DefaultIssuer that shares no memory with it.
func newIssuer() Issuer {
	i := DefaultIssuer
	i.Audiences = slices.Clone(i.Audiences)
	i.Algorithms = slices.Clone(i.Algorithms)
	i.RequiredClaims = slices.Clone(i.RequiredClaims)
	i.TokenTypes = slices.Clone(i.TokenTypes)
	i.ScopeClaims = slices.Clone(i.ScopeClaims)
	return i
}

// newRoute returns a copy of DefaultRoute that shares no memory with it.
func newRoute() Route {
	r := DefaultRoute
	r.Match.Hosts = slices.Clone(r.Match.Hosts)
	r.Match.Methods = slices.Clone(r.Match.Methods)
	r.Auth.Issuers = slices.Clone(r.Auth.Issuers)
	r.Auth.Scopes.AllOf = slices.Clone(r.Auth.Scopes.AllOf)
	r.Auth.Scopes.AnyOf = slices.Clone(r.Auth.Scopes.AnyOf)
	r.Auth.Claims = maps.Clone(r.Auth.Claims)
	r.Forward.ClaimsToHeaders = maps.Clone(r.Forward.ClaimsToHeaders)
	r.Auth.Enforce = nil // absent until the file says; normalize applies defaults.enforce
	r.MaxBodyBytes = nil // absent until the file says; normalize applies server.max_body_bytes
	return r
}
