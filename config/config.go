// Package config owns portcullis's one YAML file: its schema, its defaults,
// strict decoding and validation. It turns bytes into an immutable *Config
// or into a list of Problems, each naming the YAML line and the field, so that
// every mistake is found at load time and never on the first request.
//
// It is its own top-level package because loading is shared by every command
// (serve, validate, explain, demo) and by reload, and none of proxy, policy or
// jwks is the natural owner of the file as a whole. It must never start
// anything, open a socket or read a key: it only reads and checks the file.
//
// One concern a file: config.go is the schema (every type and key, with
// what it means to an operator; it is the longest file of the package on
// purpose, since those comments are the operator documentation that
// config.schema.json's descriptions are generated from, and splitting the
// types would only scatter one concern); defaults.go the values of absent keys;
// load.go reads the file (Load, Parse) and turns YAML syntax errors into
// problems; batches.go parses a large route table a batch of routes at a
// time, so that its YAML nodes are never all in memory at once; problem.go
// is Problem, what every mistake is reported as, and the stable Codes that
// say which rule fired.
// Decoding: decode.go walks the YAML nodes into a Config, strictly and
// with the line of every key; claimrule.go decodes auth.claims entries and
// duration.go durations; describe.go words what the decoder found;
// fieldpath.go is the syntax of field paths ("routes[2].auth.issuers[0]");
// normalize.go rewrites the values that have one canonical spelling (hosts
// lower case, methods upper case) right after decoding.
// Validation only reads the decoded Config: validate.go is the validator
// and the rules that span sections; validate_server.go checks server and
// log, validate_issuers.go issuers, validate_routes.go routes,
// validate_sources.go introspection, revocation lists, protected resources
// and the locations of remote documents; shadow.go
// warns about routes an earlier one shadows. syntax.go and claimpath.go
// are the one home of the syntax rules that policy applies too.
package config

import (
	"time"
)

// Config is the whole file. A *Config returned by Load or Parse is valid and
// has every default applied; treat it as read-only.
type Config struct {
	Server  Server   `yaml:"server"`
	Log     Log      `yaml:"log"`
	Issuers []Issuer `yaml:"issuers"`
	// Resources are the protected resources the gateway describes to
	// clients (RFC 9728); routes name the one they belong to.
	Resources []Resource `yaml:"resources"`
	// Defaults are the values of route settings that a route leaves out.
	Defaults Defaults `yaml:"defaults"`
	// Decision serves the route table's decisions to an ingress that
	// already proxies (forward-auth, Envoy ext_authz) instead of proxying.
	Decision Decision `yaml:"decision"`
	// Tracing exports OpenTelemetry traces of requests over OTLP. Off
	// unless enabled; changing it needs a restart.
	Tracing Tracing `yaml:"tracing"`
	// RateLimits are named rate limits that routes use by name
	// (routes[].rate_limit: [{policy: NAME}]). Every route that names one
	// spends the same counters: one per value of its key, so that a limit
	// of 100/s per subject on three routes is 100/s per subject across
	// the three of them together.
	RateLimits []RateLimitPolicy `yaml:"rate_limits"`
	// RateLimitStore is where rate-limit counters live. Absent (no url):
	// in this process's memory, so that each instance of a fleet counts
	// alone; with a Redis url, every instance spends the same counters.
	RateLimitStore RateLimitStore `yaml:"rate_limit_store"`
	Routes         []Route        `yaml:"routes"`

	// Warnings are problems that do not stop the gateway (an issuer with no
	// audiences, for example). They carry lines and codes like errors do.
	Warnings Problems `yaml:"-"`
}

// Server configures the two listeners.
type Server struct {
	// Listen is the proxy's address, for example ":8080".
	Listen string `yaml:"listen"`
	// AdminListen serves /metrics, /healthz and /readyz. It must differ from
	// Listen: the admin surface is never reachable on the proxy port.
	AdminListen string `yaml:"admin_listen"`
	// ReadHeaderTimeout bounds how long a client may take to send headers
	// (the slowloris defence).
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a request. Until the request is forwarded
	// it bounds the whole of it (net/http's deadline); once forwarded, it
	// bounds each pause of its body instead, so that an upload that keeps
	// arriving is never cut and one that stalls is (408), as nginx's
	// client_body_timeout does.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response until its body streams: from
	// the end of the request (its headers, or the last byte of its body) to
	// the response's headers, and the whole of an answer the gateway writes
	// itself (a 401, a 504). Once an upstream's body streams, its route's
	// StreamIdleTimeout bounds each pause instead.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ShutdownGrace is how long in-flight requests may run after SIGTERM or
	// SIGINT before the listener is closed hard.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// DrainDelay is how long the gateway keeps serving after SIGTERM with
	// /readyz already answering 503, before it stops accepting: the time a
	// load balancer needs to notice and stop sending. 0 (the default)
	// stops accepting at once; Kubernetes' preStop hook can play this part.
	DrainDelay Duration `yaml:"drain_delay"`
	// MaxHeaderBytes caps the request line and headers; past it: 431.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes is the default of routes[].max_body_bytes: the largest
	// request body forwarded, counted as it streams. 0: no limit.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxInFlight caps the requests the proxy handles at once; past it a
	// request is answered 503 at once instead of queueing, so that a flood
	// costs memory in proportion to this number and not to the flood.
	MaxInFlight int `yaml:"max_in_flight"`
	// TrustedProxies are CIDRs (or single addresses) whose X-Forwarded-For is
	// kept and appended to; from anyone else it is replaced.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TLS terminates TLS on the proxy port when both files are set. The
	// port then offers HTTP/2 and HTTP/1.1 by ALPN.
	TLS TLS `yaml:"tls"`
	// H2C also accepts cleartext HTTP/2 on the proxy port, by prior
	// knowledge only (RFC 9113 §3.3): a connection that opens with the
	// HTTP/2 preface. It is for a load balancer that terminates TLS and
	// speaks HTTP/2 to the gateway over a private network; never expose
	// it to clients directly. The HTTP/1.1 "Upgrade: h2c" path is never
	// taken, on or off: that header is removed like any other Upgrade.
	// Off by default, and refused together with tls, which offers HTTP/2
	// by ALPN already.
	H2C bool `yaml:"h2c"`
}

// TLS names a PEM certificate chain and key. Both are read at start and
// again on SIGHUP and whenever either file changes (a rotated Secret): a
// pair that does not load keeps the one being served.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Log configures zap.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or console.
	Format string `yaml:"format"`
	// AccessLog writes one line per proxied request.
	AccessLog bool `yaml:"access_log"`
	// FlushInterval is the longest an access-log line waits before it is
	// written: the access log is written in batches, when its buffer
	// (256 KiB) fills, every FlushInterval, before any other line (which
	// is written at once) and at exit. 0 writes each line as it is logged
	// (one write per request). At most 10s: lines still waiting are lost
	// if the process is killed.
	FlushInterval Duration `yaml:"flush_interval"`
}

// Issuer is one identity provider whose tokens the gateway accepts.
type Issuer struct {
	// Name is how routes and metrics refer to this issuer.
	Name string `yaml:"name"`
	// Issuer must equal the token's iss claim byte for byte.
	Issuer string `yaml:"issuer"`
	// JWKSURI is where keys come from: http://, https:// or file://. When
	// empty, Discovery must be true.
	JWKSURI string `yaml:"jwks_uri"`
	// Discovery reads jwks_uri from {issuer}/.well-known/openid-configuration
	// when JWKSURI is empty, and checks that the document's issuer matches.
	Discovery bool `yaml:"discovery"`
	// Audiences: the aud claim must contain at least one. Empty: not checked
	// (a warning at load time, because a token minted for another service of
	// the same IdP is then accepted).
	Audiences []string `yaml:"audiences"`
	// AudienceClaim names the top-level claim that must contain one of
	// Audiences, as a string or an array of strings. Absent: "aud". Some
	// providers put the intended recipient elsewhere: Amazon Cognito's
	// access tokens have no aud and carry the app client in "client_id".
	// The name is read as one key, never as a nested path, because the
	// audience decides whose token this is and must not depend on how a
	// path happens to resolve.
	AudienceClaim string `yaml:"audience_claim"`
	// Algorithms is the explicit allow-list of JWS algorithms. "none" and the
	// HMAC family are refused at load time.
	Algorithms []string `yaml:"algorithms"`
	// RefreshInterval is the period of the background JWKS refresh.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// MinRefreshInterval rate-limits refetches triggered by unknown kids.
	MinRefreshInterval Duration `yaml:"min_refresh_interval"`
	// ClockSkew is the leeway on exp, nbf and iat.
	ClockSkew Duration `yaml:"clock_skew"`
	// RequiredClaims must be present in every token (top-level names).
	// Absent: ["exp"]; an explicit [] requires nothing.
	RequiredClaims []string `yaml:"required_claims"`
	// TokenTypes are the accepted JOSE typ values, compared case-insensitively
	// with an optional "application/" prefix. Empty: any typ.
	TokenTypes []string `yaml:"token_types"`
	// ScopeClaims are claim paths where scopes are read, as a space-separated
	// string or an array of strings.
	ScopeClaims []string `yaml:"scope_claims"`
	// TokenCache remembers verified tokens so that a token presented again
	// skips the signature check (the largest cost of a request).
	TokenCache TokenCache `yaml:"token_cache"`
	// Introspection asks the issuer's RFC 7662 endpoint about tokens that
	// are not JWTs (opaque tokens), and optionally about JWTs too. Off
	// unless client_id is set.
	Introspection Introspection `yaml:"introspection"`
	// Revocation is a list of revoked tokens the gateway polls. Off unless
	// uri is set.
	Revocation Revocation `yaml:"revocation"`
	// TLS is how the gateway's calls to this issuer (discovery, the key
	// set, introspection, the revocation list) verify the server and
	// present a client certificate.
	TLS IssuerTLS `yaml:"tls"`
	// Headers are sent with every call to this issuer (an API key or a
	// tenant header some providers want), but never in place of a header
	// the call sets itself: introspection's client credentials and form
	// type stay the gateway's. Names that change what a call is, or that
	// every call sets, are refused; so is one name in two spellings.
	Headers map[string]string `yaml:"headers"`

	// Line is the line of this issuer's entry, for messages at run time.
	Line int `yaml:"-"`
}

// TokenCache bounds the verified-token cache of one issuer. What is cached is
// the outcome of verification (claims and the key set's version), never a
// route's decision: expiry and every route rule are still checked on every
// request, and an entry is forgotten when the issuer's keys change.
type TokenCache struct {
	// MaxEntries bounds the number of tokens remembered; 0 turns the
	// cache off. Admission is frequency-based (W-TinyLFU), so a flood of
	// one-shot tokens does not evict the tokens that are reused.
	MaxEntries int `yaml:"max_entries"`
	// MaxTTL bounds how long a verification is remembered, whatever the
	// token's exp says.
	MaxTTL Duration `yaml:"max_ttl"`
}

// IssuerTLS configures TLS for the calls to an issuer. There is no way to
// turn verification off: keys fetched over an unverified connection are
// keys anyone on the path can replace.
type IssuerTLS struct {
	// CAFile is a PEM bundle of the CAs to trust for this issuer, instead
	// of the system's (a private PKI); read at load and at each reload, so
	// a bundle rewritten in place is trusted from the next reload on.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key (PEM) for
	// issuers that require mutual TLS; read again at each new connection,
	// so a rotated pair is picked up without a reload.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Introspection methods of client authentication (RFC 7662 §2.1).
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
	PrivateKeyJWT     = "private_key_jwt"
)

// Introspection configures an issuer's token introspection (RFC 7662).
type Introspection struct {
	// Endpoint is the introspection URL. Empty: the discovery document's
	// introspection_endpoint (discovery must then be true).
	Endpoint string `yaml:"endpoint"`
	// ClientID is the gateway's client at the authorization server; setting
	// it turns introspection on.
	ClientID string `yaml:"client_id"`
	// AuthMethod is client_secret_basic (default), client_secret_post or
	// private_key_jwt.
	AuthMethod string `yaml:"auth_method"`
	// ClientSecretFile or ClientSecretEnv names where the client secret is
	// read (a file's first line, or an environment variable), never the
	// secret itself: a secret in the file ends up in backups, diffs and
	// ConfigMaps.
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// PrivateKeyFile (PEM or JWK) and PrivateKeyAlgorithm sign the client
	// assertion of private_key_jwt (RFC 7523).
	PrivateKeyFile      string `yaml:"private_key_file"`
	PrivateKeyAlgorithm string `yaml:"private_key_algorithm"`
	// Timeout bounds one call; past it the token's request gets 503.
	Timeout Duration `yaml:"timeout"`
	// CacheTTL bounds how long an active answer is reused (never past the
	// token's exp); NegativeCacheTTL how long an inactive one is.
	CacheTTL         Duration `yaml:"cache_ttl"`
	NegativeCacheTTL Duration `yaml:"negative_cache_ttl"`
	// MaxEntries bounds the answers cached.
	MaxEntries int `yaml:"max_entries"`
	// MaxConcurrent bounds the calls to the endpoint in flight at once. A
	// call outlives the requests that gave up on it (its answer serves the
	// next), so server.max_in_flight alone does not bound them; a request
	// that would start one more waits for a slot, at most timeout, then
	// gets 503.
	MaxConcurrent int `yaml:"max_concurrent"`
	// IntrospectJWTs also asks about JWTs whose signature and claims
	// verified, so that a token revoked at the authorization server is
	// refused before it expires. Answers are cached the same way.
	IntrospectJWTs bool `yaml:"introspect_jwts"`
}

// Enabled reports whether introspection is configured.
func (i Introspection) Enabled() bool { return i.ClientID != "" }

// Revocation configures an issuer's revocation list.
type Revocation struct {
	// URI is where the list is read: https://, http:// or file://.
	URI string `yaml:"uri"`
	// RefreshInterval is how often it is polled: the longest a revoked
	// token is still accepted after the list says so.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// MaxEntries bounds the list; a longer one is refused whole and the
	// last good list stays.
	MaxEntries int `yaml:"max_entries"`
}

// Enabled reports whether a revocation list is configured.
func (r Revocation) Enabled() bool { return r.URI != "" }

// Resource is one protected resource's metadata (RFC 9728 §2), served at
// its well-known URL and named in the challenges of its routes.
type Resource struct {
	// Name is how routes refer to it.
	Name string `yaml:"name"`
	// Resource is the identifier: an https URL (http on loopback only),
	// without query or fragment.
	Resource               string   `yaml:"resource"`
	AuthorizationServers   []string `yaml:"authorization_servers"`
	ScopesSupported        []string `yaml:"scopes_supported"`
	BearerMethodsSupported []string `yaml:"bearer_methods_supported"`
	ResourceName           string   `yaml:"resource_name"`
	ResourceDocumentation  string   `yaml:"resource_documentation"`
	ResourcePolicyURI      string   `yaml:"resource_policy_uri"`
	ResourceTOSURI         string   `yaml:"resource_tos_uri"`
	// ResourceSigningAlgValuesSupported and the other members of RFC 9728
	// §2 that describe what this gateway does not do (signed responses,
	// DPoP, certificate-bound tokens) are left out on purpose: the
	// document must not promise what the gateway does not enforce.

	Line int `yaml:"-"`
}

// Decision configures the decision service: the same routes, tokens and
// policy, answered to another proxy instead of forwarded.
type Decision struct {
	// Listen is the HTTP decision endpoint's address ("": off). It serves
	// /nginx (auth_request), /traefik (ForwardAuth) and EnvoyPathPrefix
	// (Envoy ext_authz's HTTP service). Callers must be in
	// server.trusted_proxies: the request they describe is believed from
	// them only.
	Listen string `yaml:"listen"`
	// GRPCListen is the address of Envoy's ext_authz gRPC service
	// (envoy.service.auth.v3.Authorization) and of the gRPC health service
	// ("": off).
	GRPCListen string `yaml:"grpc_listen"`
	// Nginx names the headers that nginx's auth_request subrequest carries
	// the original request in (proxy_set_header in its location).
	Nginx NginxHeaders `yaml:"nginx"`
	// EnvoyPathPrefix is the path_prefix of Envoy's http_service: Envoy
	// appends the original path to it.
	EnvoyPathPrefix string `yaml:"envoy_path_prefix"`
}

// The OTLP protocols of tracing.protocol.
const (
	TracingGRPC         = "grpc"
	TracingHTTPProtobuf = "http/protobuf"
)

// The values of tracing.trust_incoming: whose traceparent a request's span
// continues.
const (
	// TrustTrustedProxies continues the trace of a request whose peer is
	// one of server.trusted_proxies; anyone else's request starts a trace
	// of its own that links to the client's.
	TrustTrustedProxies = "trusted_proxies"
	// TrustAlways continues every client's trace.
	TrustAlways = "always"
	// TrustNever starts every request's trace anew, without a link.
	TrustNever = "never"
)

// Tracing configures OpenTelemetry tracing: a server span for every request
// (proxied or decided), child spans for signature checks that miss the
// token cache, introspection calls and JWKS fetches, and a client span for
// the upstream call, exported in batches over OTLP. The standard OTEL_*
// environment variables fill in what this block leaves empty (its keys win
// when set); OTEL_SDK_DISABLED=true turns tracing off whatever enabled
// says. Changing this block needs a restart.
type Tracing struct {
	// Enabled turns tracing on. Off by default: with tracing off the
	// request path does no tracing work at all, and traceparent and
	// tracestate headers reach upstreams as clients sent them.
	Enabled bool `yaml:"enabled"`
	// Protocol is the OTLP transport: grpc or http/protobuf. Empty:
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL,
	// else grpc.
	Protocol string `yaml:"protocol"`
	// Endpoint is where spans are sent. For grpc, host:port (TLS unless
	// insecure) or a URL whose scheme says (http:// is plaintext); for
	// http/protobuf, a URL, to which /v1/traces is added when it has no
	// path. Empty: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT, else the collector on localhost
	// (localhost:4317, http://localhost:4318/v1/traces).
	Endpoint string `yaml:"endpoint"`
	// Insecure sends spans without TLS to a host:port endpoint. False:
	// OTEL_EXPORTER_OTLP_TRACES_INSECURE or OTEL_EXPORTER_OTLP_INSECURE
	// decide, else TLS.
	Insecure bool `yaml:"insecure"`
	// Headers are sent with every export (a collector's API key). A value
	// written "@/path/to/file" is the first line of that file, read at
	// start, so that a secret stays out of the configuration. Empty:
	// OTEL_EXPORTER_OTLP_TRACES_HEADERS or
	// OTEL_EXPORTER_OTLP_HEADERS.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one export, retries included. Absent:
	// OTEL_EXPORTER_OTLP_TRACES_TIMEOUT or OTEL_EXPORTER_OTLP_TIMEOUT,
	// else 10s.
	Timeout Duration `yaml:"timeout"`
	// SampleRatio is the share of new traces recorded, from 0 to 1; a
	// request that continues a trace follows its parent's decision
	// (parent-based sampling). Absent: OTEL_TRACES_SAMPLER and
	// OTEL_TRACES_SAMPLER_ARG, else 1 (every trace).
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name resource attribute. Empty:
	// OTEL_SERVICE_NAME, or service.name in OTEL_RESOURCE_ATTRIBUTES, else
	// "portcullis".
	ServiceName string `yaml:"service_name"`
	// TrustIncoming is whose traceparent and tracestate a request's span
	// continues: trusted_proxies (a peer in server.trusted_proxies; from
	// anyone else the span starts a new trace with a link to the client's),
	// always, or never (every request starts a new trace, with no link).
	// Whatever it says, upstreams receive the gateway's own traceparent.
	TrustIncoming string `yaml:"trust_incoming"`
	// QueueSize bounds the spans waiting for export. A full queue drops new
	// spans (counted in portcullis_tracing_spans_dropped_total) rather than
	// ever making a request wait. Absent: OTEL_BSP_MAX_QUEUE_SIZE, else
	// 2048.
	QueueSize int `yaml:"queue_size"`
}

// NginxHeaders are the headers that describe the original request to the
// /nginx decision endpoint.
type NginxHeaders struct {
	MethodHeader string `yaml:"method_header"`
	URIHeader    string `yaml:"uri_header"`
	HostHeader   string `yaml:"host_header"`
}

// Defaults are what routes get for the settings they leave out.
type Defaults struct {
	// Enforce is the default of routes[].auth.enforce (true).
	Enforce bool `yaml:"enforce"`
	// Resource is the default of routes[].resource ("": none).
	Resource string `yaml:"resource"`
	// CORS is the routes[].cors of routes that have none of their own
	// (absent: none). It also answers for requests that match no route,
	// so that browser code reads their 404 instead of a network error.
	CORS *CORS `yaml:"cors"`
	// RateLimit is the routes[].rate_limit of routes that leave it out
	// (absent: no limit). A route's own list replaces it whole;
	// `rate_limit: []` on a route turns it off there. An inline entry here
	// counts each route apart (its counters are the route's own); an entry
	// naming a policy shares that policy's counters.
	RateLimit []RateLimit `yaml:"rate_limit"`
}

// Route is one entry of the route table; the first that matches wins.
type Route struct {
	// Name is unique and is the route label of every metric.
	Name string `yaml:"name"`
	// Match says which requests this route takes.
	Match Match `yaml:"match"`
	// Upstream is the base URL requests are forwarded to (http or https).
	Upstream string `yaml:"upstream"`
	// UpstreamProtocol is how requests travel to the upstream: auto
	// (default) speaks HTTP/1.1, or HTTP/2 to an https upstream that offers
	// it (TLS ALPN); http1 speaks HTTP/1.1 only; h2c speaks cleartext
	// HTTP/2 with prior knowledge to an http upstream, as gRPC servers
	// without TLS expect. Routes with the same protocol and tls share
	// their connections.
	UpstreamProtocol string `yaml:"upstream_protocol"`
	// TLS configures the connections to an https upstream: the CAs that
	// verify it, the client certificate shown to it and the name it is
	// verified as. Absent: the system's CAs, no client certificate, the
	// upstream URL's host.
	TLS UpstreamTLS `yaml:"tls"`
	// StripPrefix removes Match.PathPrefix from the forwarded path.
	StripPrefix bool `yaml:"strip_prefix"`
	// Timeout bounds the wait for the upstream's response headers, counted
	// from when the request was sent whole (a body that is still arriving
	// is bounded by server.read_timeout instead); past it the client gets
	// 504.
	Timeout Duration `yaml:"timeout"`
	// StreamIdleTimeout is the longest a response body may go without a
	// byte moving once its headers came: the upstream sending nothing, or
	// the client reading nothing. Past it the exchange is cut (the client
	// sees the connection end). It bounds pauses, not streams: a Server-Sent
	// Events feed or a download that keeps moving lasts as long as it
	// needs, as with nginx's proxy_read_timeout and send_timeout. A
	// WebSocket tunnel (101) is not bounded by it.
	StreamIdleTimeout Duration `yaml:"stream_idle_timeout"`
	// Auth is what a request must prove.
	Auth Auth `yaml:"auth"`
	// Forward says what the upstream receives besides the request.
	Forward Forward `yaml:"forward"`
	// MaxBodyBytes is the largest request body forwarded, counted as it
	// streams (never buffered): a larger one is refused with 413, at once
	// when Content-Length says so. 0: no limit. Absent:
	// server.max_body_bytes.
	MaxBodyBytes *int `yaml:"max_body_bytes"`
	// Resource names the entry of resources this route belongs to: its
	// challenges carry that resource's metadata URL (RFC 9728 §5.1).
	// Absent: defaults.resource.
	Resource string `yaml:"resource"`
	// WebSocket lets an RFC 6455 handshake that passed this route's checks
	// become a tunnel to the upstream (default true). False serves the
	// handshake as a plain request, without its Upgrade, for routes that
	// never need one. No other upgrade (h2c, TLS/1.0, ...) is ever
	// forwarded: past a tunnel the gateway checks nothing.
	WebSocket bool `yaml:"websocket"`
	// CORS lets browser code on the origins it lists call this route
	// (Cross-Origin Resource Sharing, the Fetch standard). Absent:
	// defaults.cors; without either, no CORS header is ever written and
	// OPTIONS is routed like any method. A route's own block replaces
	// defaults.cors whole; `cors: {enabled: false}` turns it off.
	CORS *CORS `yaml:"cors"`
	// RateLimit are the limits a request of this route must stay under,
	// each an inline limit (key, rate, burst) or the name of a shared one
	// (policy). Every limit must allow a request for it to pass, and a
	// refused one spends nothing of the others. Limits keyed by client_ip
	// are checked before the token is verified (a flood is refused
	// cheaply); the others after authentication and authorization passed
	// (a forged or under-scoped token spends nobody's quota). Absent:
	// defaults.rate_limit; `[]`: no limit.
	RateLimit []RateLimit `yaml:"rate_limit"`

	// Line is the line of this route's entry.
	Line int `yaml:"-"`
}

// Rate-limit keys (RateLimit.Key) that are not claim paths.
const (
	// KeyClientIP: the client's address: the connection's peer, or the
	// right-most X-Forwarded-For address that is not one of
	// server.trusted_proxies when the peer is one.
	KeyClientIP = "client_ip"
	// KeyIssuer: the name of the issuer that verified the token.
	KeyIssuer = "issuer"
	// KeyRoute: one counter for every request the limit covers: an inline
	// limit's route as a whole, or every route that names a policy
	// together.
	KeyRoute = "route"
	// KeyClaimPrefix forces a key to be read as a claim path, for a claim
	// named like one of the words above ("claim:issuer").
	KeyClaimPrefix = "claim:"
)

// RateLimit is one entry of routes[].rate_limit or defaults.rate_limit:
// either policy alone, or key, rate and burst.
type RateLimit struct {
	// Policy names an entry of rate_limits, whose counters this route then
	// shares with every other route that names it. Nothing else may be set
	// with it.
	Policy string `yaml:"policy"`
	// Key is what a counter is kept for: client_ip, issuer, route, or a
	// claim path read from the verified token ("sub", "org.tenant_id",
	// with the syntax of claims_to_headers; "claim:" in front forces a
	// claim named like one of the words). A request without a value for
	// the key (anonymous, or a token without the claim) is counted under
	// its client address instead, in counters kept apart from the claim
	// values'. Values are hashed before they are stored.
	Key string `yaml:"key"`
	// Rate is how many requests a key may make in a period, written
	// N/s, N/m, N/h or N/<duration> ("100/s", "6000/m", "10/15s"); the
	// period is from 1s to 24h and N from 1 to 1,000,000,000. Requests are
	// spread evenly (GCRA): 6000/m is one request every 10ms once the
	// burst is spent.
	Rate string `yaml:"rate"`
	// Burst is how many requests a key may make at once after being idle.
	// Absent: N, the rate's count, so that "10/m" allows 10 requests at
	// once and then one every 6s.
	Burst int `yaml:"burst"`
}

// RateLimitPolicy is a named rate limit (rate_limits), shared by the
// routes that name it.
type RateLimitPolicy struct {
	// Name is how routes refer to it, and the policy label of
	// portcullis_rate_limit_decisions_total: 1 to 64 letters, digits, '_'
	// or '-'.
	Name string `yaml:"name"`
	// Key, Rate and Burst are as in routes[].rate_limit.
	Key   string `yaml:"key"`
	Rate  string `yaml:"rate"`
	Burst int    `yaml:"burst"`
}

// Store failure modes (RateLimitStore.OnStoreError).
const (
	OnStoreErrorAllow = "allow"
	OnStoreErrorDeny  = "deny"
	OnStoreErrorLocal = "local"
)

// RateLimitStore is the shared store of rate-limit counters. Changing it
// needs a restart: a reload keeps the counters, and the connection, that
// the gateway started with.
type RateLimitStore struct {
	// URL is the Redis server: redis://[user@]host:port[/db], or
	// rediss://... over TLS; for Sentinel,
	// redis+sentinel://sentinel:26379/0?master_name=NAME&addr=sentinel2:26379
	// (rediss+sentinel over TLS); for a Cluster,
	// redis+cluster://node:6379?addr=node2:6379 (rediss+cluster over
	// TLS). Query options are go-redis's (pool_size, client_name...). It
	// must not carry a password: use password_file. Empty: counters are
	// kept in this process's memory only.
	URL string `yaml:"url"`
	// PasswordFile names the file whose first line is the Redis password
	// (AUTH), read at start; never the password itself, which would end
	// up in backups, diffs and ConfigMaps.
	PasswordFile string `yaml:"password_file"`
	// TLS is how the connection to Redis verifies the server and presents
	// a client certificate: the settings of routes[].tls. Setting any of
	// it turns TLS on, whatever the URL's scheme (rediss:// alone uses the
	// system's CAs and the URL's host name).
	TLS UpstreamTLS `yaml:"tls"`
	// Timeout bounds every call to Redis; past it the decision is taken
	// as on_store_error says, so a slow Redis costs each request at most
	// this long.
	Timeout Duration `yaml:"timeout"`
	// OnStoreError is what a request gets when Redis cannot answer in
	// time: local (the default) counts in this process's memory instead,
	// as if the instance were alone; allow lets it pass unlimited; deny
	// refuses it with 429.
	OnStoreError string `yaml:"on_store_error"`
}

// Enabled reports whether a shared store is configured.
func (s RateLimitStore) Enabled() bool { return s.URL != "" }

// CORS is one Cross-Origin Resource Sharing policy. A preflight (OPTIONS
// with Origin and Access-Control-Request-Method) that it allows is
// answered by the gateway, without a token and without reaching the
// upstream; every other response to an allowed origin, the gateway's own
// refusals included, carries Access-Control-Allow-Origin, so that browser
// code can read a 401's challenge. An origin it does not list gets no CORS
// header: the browser then hides the response from the page.
type CORS struct {
	// Enabled false turns CORS off for a route that defaults.cors would
	// give it; no other key may be set then. Absent: true.
	Enabled *bool `yaml:"enabled"`
	// AllowedOrigins are the origins whose pages may read responses:
	// exact ("https://app.example.com", "http://127.0.0.1:3000"), one
	// leading wildcard label ("https://*.example.com": any subdomain,
	// never the apex; scheme and port still exact), or "*" alone (any
	// origin, only without allow_credentials). Written as browsers send
	// them: scheme://host[:port], no path, no default port. "null" is
	// refused: sandboxed frames and file:// pages of anyone send it.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedMethods are the methods a preflight may ask for. Absent: the
	// route's match.methods, or GET, HEAD and POST when it has none.
	AllowedMethods []string `yaml:"allowed_methods"`
	// AllowedHeaders are the request headers a preflight may ask for,
	// compared case-insensitively. Absent: Authorization and
	// Content-Type.
	AllowedHeaders []string `yaml:"allowed_headers"`
	// ExposedHeaders are the response headers browser code may read
	// besides the CORS-safelisted ones. Absent: WWW-Authenticate (a
	// 401's challenge), X-Request-Id and Retry-After (a 429's or 503's).
	ExposedHeaders []string `yaml:"exposed_headers"`
	// AllowCredentials lets pages send cookies and client certificates
	// (fetch's credentials: "include") and read the answers. A bearer
	// token in Authorization needs no credentials.
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge is how long a browser may reuse a preflight's answer; at
	// most 24h (browsers cap it lower: Chromium at 2h). Absent: 10m.
	MaxAge *Duration `yaml:"max_age"`
}

// On reports whether c is a policy that is in force: present and not
// turned off.
func (c *CORS) On() bool { return c != nil && (c.Enabled == nil || *c.Enabled) }

// Match selects requests by host, path and method.
type Match struct {
	// Hosts are exact host names or "*.example.com" (any subdomain, never
	// the apex). Empty: any host. Written without a port: the request's
	// port is ignored. Load stores them lower-cased, since host names
	// compare case-insensitively.
	Hosts []string `yaml:"hosts"`
	// Path matches one exact, cleaned path.
	Path string `yaml:"path"`
	// PathPrefix matches whole segments: /orders matches /orders and
	// /orders/1, never /ordersX.
	PathPrefix string `yaml:"path_prefix"`
	// Methods are HTTP methods, stored upper-cased by Load. Empty: any.
	Methods []string `yaml:"methods"`
}

// Auth modes.
const (
	ModeRequired = "required"
	ModeOptional = "optional"
	ModePublic   = "public"
)

// Auth is a route's authentication and authorization policy.
type Auth struct {
	// Mode is required, optional or public. Absent: required, so that a
	// route whose auth section is forgotten is closed, not open.
	Mode string `yaml:"mode"`
	// Issuers restricts which issuers' tokens this route accepts. Empty: any.
	Issuers []string `yaml:"issuers"`
	// Scopes the token must carry.
	Scopes Scopes `yaml:"scopes"`
	// Claims are checks on other claims: claim path to a plain value
	// (exact: same JSON type and value, and an array never equals one) or
	// to one operator (one_of, contains, contains_any, contains_all). See
	// ClaimRule.
	Claims map[string]ClaimRule `yaml:"claims"`
	// Enforce false is audit mode: every check runs and its decision is
	// logged and counted (mode="audit"), but the request is forwarded
	// whatever it is, with claim headers only from a token that passed
	// every check. Absent: defaults.enforce.
	Enforce *bool `yaml:"enforce"`
}

// Scopes are compared as whole space-separated tokens, never as substrings.
type Scopes struct {
	// AllOf: every one must be present.
	AllOf []string `yaml:"all_of"`
	// AnyOf: at least one must be present (when not empty).
	AnyOf []string `yaml:"any_of"`
}

// Forward configures what reaches the upstream.
type Forward struct {
	// ClaimsToHeaders maps a header name to a claim path. Every header named
	// here, on any route, is removed from every incoming request first.
	ClaimsToHeaders map[string]string `yaml:"claims_to_headers"`
	// StripAuthorization drops the Authorization header before forwarding.
	StripAuthorization bool `yaml:"strip_authorization"`
}

// Upstream protocols (Route.UpstreamProtocol).
const (
	ProtocolAuto  = "auto"
	ProtocolHTTP1 = "http1"
	ProtocolH2C   = "h2c"
)

// UpstreamTLS configures TLS to a route's https upstream. The files are
// read when the configuration is loaded into a gateway (and at each
// reload); the client certificate again at each new connection, so that a
// pair rotated in place is picked up without a reload.
type UpstreamTLS struct {
	// CAFile is a PEM bundle of the CAs to trust for this upstream,
	// instead of the system's (a private PKI).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key (PEM),
	// for upstreams that require mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the upstream's certificate is verified as,
	// and the SNI sent, when it is not the upstream URL's host (an
	// upstream addressed by IP, or through a tunnel).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate the upstream shows:
	// anyone on the network path can then read and change every request,
	// tokens and claim headers included. It is refused unless
	// InsecureSkipVerifyAcknowledged is true too, and warned at every load.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// InsecureSkipVerifyAcknowledged says that insecure_skip_verify is
	// meant: the second key that such a setting needs.
	InsecureSkipVerifyAcknowledged bool `yaml:"insecure_skip_verify_acknowledged"`
}

// Enabled reports whether any TLS setting is made.
func (t UpstreamTLS) Enabled() bool { return t != UpstreamTLS{} }

// Duration is a time.Duration written as "30s", "15m" or "1h30m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
