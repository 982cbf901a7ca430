// Package proxy is the request path: it takes a request, finds its route,
// authenticates and authorizes it, rewrites its headers, and forwards it with
// httputil.ReverseProxy; or refuses it with the status, WWW-Authenticate
// header and JSON body that RFC 6750 and the contract prescribe.
//
// Each stage is a plain call with plain values, in the order a request
// travels:
//
//	(method: 405 or 400, RFC 9728 metadata) -> CleanPath -> routedHost -> Table.Match
//	   -> in-flight cap -> rate limits by client_ip -> bearer
//	   -> Verifier.Verify -> Table.Authorize -> (audit mode: forward anyway)
//	   -> rate limits by identity -> admitUpgrade -> rewrite -> ReverseProxy
//
// This package must never forward a request that a stage refused, never let
// a client-supplied header pass as one the gateway set, never write token
// material to a response, a log line or a metric label, and never relay a
// tunnel other than a WebSocket one whose request passed every stage
// (upgrade.go).
//
// One concern a file: proxy.go is the runtime, the handler and the pipeline
// (serve); finish.go records each request's metrics and access-log line,
// and the response recorder they read; auth.go is bearer
// extraction, verification and authorization for a matched route;
// refuse.go writes a refusal from its outcome row; forward.go rewrites and
// forwards; stream.go keeps a forwarded exchange's deadlines; upgrade.go
// admits WebSocket upgrades and nothing else; cors.go answers CORS
// preflights and sets the CORS headers that package cors decides;
// transport.go holds the upstream transports (per protocol and TLS
// settings); decision.go answers decisions for another proxy (Decide);
// decided.go is the Outcome that Serve returns for explain; requestid.go
// the request id; ratelimit.go spends the route's rate limits and writes
// their 429 and RateLimit fields; trace.go the spans of a request and of
// its upstream call, and the trace context read from clients and written
// to upstreams.
package proxy

import (
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/cors"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/ratelimit"
	"github.com/portcullis/portcullis/resource"
	"github.com/portcullis/portcullis/token"
)

// Runtime is everything a request needs that comes from one configuration:
// the route table, the verifier and the reverse proxy. It is immutable; a
// reload builds a new one and swaps it in whole.
type Runtime struct {
	table    *policy.Table
	verifier *token.Verifier
	// proxy serves every route: what differs between routes travels with
	// the request (forwarding), so one per route would only cost memory.
	// byRoute are the reverse proxies of routes with a transport of their
	// own (upstream_protocol, tls), by policy.Route.Index; nil (or past
	// the end) for a route on proxy's shared transport.
	proxy          *httputil.ReverseProxy
	byRoute        []*httputil.ReverseProxy
	strip          []string // folded claim header names (lower case, '-')
	stripList      string   // strip and alsoRemove, comma-separated, for decisions (HeadersToRemoveHeader)
	alsoRemove     []string // urlOverrides and methodOverrideHeaders that no route sets: every allowed decision lists them
	trustedProxies []netip.Prefix
	resources      *resource.Set // nil: no protected resource is described
	maxInFlight    int64
	accessLog      bool
	// The listener's deadlines, and how often a forwarded exchange must
	// look at them (stream.go).
	readTimeout, writeTimeout time.Duration
	connTick                  time.Duration
	// tracer is nil with tracing off, and every tracing call on the
	// request path is behind that check (trace.go).
	tracer     trace.Tracer
	traceTrust TraceTrust
	// limiter spends the routes' rate limits (ratelimit.go); limits are
	// those limits by policy.Route.Index, nil (or past the end) for a
	// route without any.
	limiter ratelimit.Store
	limits  []*routeLimits
}

// WithTransport returns a copy of rt that carries requests with transport:
// for portcullis explain, which captures what would be forwarded.
func (rt *Runtime) WithTransport(transport http.RoundTripper) *Runtime {
	c := *rt
	c.proxy = c.reverseProxy(transport)
	c.byRoute = nil // every route's requests are captured
	return &c
}

// Options configure NewRuntime.
type Options struct {
	// TrustedProxies are the peers whose X-Forwarded-* headers are kept.
	TrustedProxies []netip.Prefix
	// MaxInFlight caps concurrent requests; past it they get 503 at once.
	// 0 means no cap.
	MaxInFlight int
	// AccessLog writes one line per request.
	AccessLog bool
	// Transport carries requests to upstreams; nil means NewTransport().
	Transport http.RoundTripper
	// Upstreams are the transports of routes that do not use Transport,
	// by policy.Route.Index (nil for one that does): Transports.Routes.
	Upstreams []http.RoundTripper
	// Resources are the protected resource metadata documents (RFC 9728)
	// served at their well-known paths; nil: none.
	Resources *resource.Set
	// ReadTimeout and WriteTimeout are the proxy listener's (its
	// http.Server's): once a request is forwarded, its exchange takes the
	// connection's deadlines over from them (see stream.go), and
	// ReadTimeout becomes the longest pause of a request body. Zero: the
	// listener has none (an httptest server, explain's recorder).
	ReadTimeout, WriteTimeout time.Duration
	// Tracer starts the requests' spans (trace.go); nil: tracing off,
	// and the request path does no tracing work at all.
	Tracer trace.Tracer
	// TraceTrust is whose incoming traceparent a server span continues.
	TraceTrust TraceTrust
	// RateLimiter keeps the counters of the routes' rate limits: one for
	// the process's life, so that a reload keeps them. nil: a new
	// in-process store for this runtime, when a route has limits.
	RateLimiter ratelimit.Store
}

// NewRuntime builds a runtime from a compiled table and a verifier.
func NewRuntime(table *policy.Table, verifier *token.Verifier, opts Options) *Runtime {
	rt := &Runtime{
		table:          table,
		verifier:       verifier,
		trustedProxies: opts.TrustedProxies,
		resources:      opts.Resources,
		maxInFlight:    int64(opts.MaxInFlight),
		accessLog:      opts.AccessLog,
		readTimeout:    opts.ReadTimeout,
		writeTimeout:   opts.WriteTimeout,
		connTick:       connTick(opts.ReadTimeout, opts.WriteTimeout),
		tracer:         opts.Tracer,
		traceTrust:     opts.TraceTrust,
	}
	rt.strip = table.ClaimHeaders()
	if rt.limits = compileLimits(table); rt.limits != nil {
		rt.limiter = opts.RateLimiter
		if rt.limiter == nil {
			rt.limiter = ratelimit.NewLocal(ratelimit.LocalOptions{})
		}
	}
	for _, name := range append(slices.Clone(urlOverrides), methodOverrideHeaders...) {
		if !slices.Contains(rt.strip, name) {
			rt.alsoRemove = append(rt.alsoRemove, name)
		}
	}
	rt.stripList = joinNames(append(slices.Clone(rt.strip), rt.alsoRemove...))
	transport := opts.Transport
	if transport == nil {
		transport = NewTransport()
	}
	rt.proxy = rt.reverseProxy(transport)
	if len(opts.Upstreams) > 0 {
		rt.byRoute = make([]*httputil.ReverseProxy, len(opts.Upstreams))
		for i, t := range opts.Upstreams {
			if t != nil {
				rt.byRoute[i] = rt.reverseProxy(t)
			}
		}
	}
	return rt
}

// Handler serves the proxy port. The zero value is not usable; use New.
type Handler struct {
	cur      atomic.Pointer[serving]
	metrics  *metrics.Metrics
	log      *zap.Logger
	inFlight atomic.Int64 // across runtimes: a reload does not reset it
}

// serving is a runtime as one handler serves it: with its routes' metric
// series, resolved when the runtime is installed, so that a request finds
// them by its route's position.
type serving struct {
	*Runtime
	series    []*metrics.RouteSeries // by policy.Route.Index
	unmatched *metrics.RouteSeries
	metadata  *metrics.RouteSeries // RFC 9728 documents
	// rateSeries are the rate-limit decision series, by route index and
	// by the limit's position (routeLimits.all).
	rateSeries [][]metrics.RateLimitSeries
}

func (h *Handler) install(rt *Runtime) *serving {
	s := &serving{Runtime: rt, unmatched: h.metrics.Route(metrics.Unmatched), metadata: h.metrics.Route(metrics.ResourceMetadata)}
	for _, r := range rt.table.Routes() {
		if r.Index >= len(s.series) {
			s.series = append(s.series, make([]*metrics.RouteSeries, r.Index+1-len(s.series))...)
		}
		s.series[r.Index] = h.metrics.Route(r.Name)
	}
	s.rateSeries = bindRateSeries(h.metrics, rt.table, rt.limits)
	return s
}

// New returns a handler serving rt. m is required; log may be nil.
func New(rt *Runtime, m *metrics.Metrics, log *zap.Logger) *Handler {
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{metrics: m, log: log}
	h.cur.Store(h.install(rt))
	return h
}

// Swap replaces the runtime atomically: requests already in flight finish on
// the runtime they started with. The metric series of routes that rt no
// longer has are removed, so that a dashboard does not show a deleted route
// for the rest of the process's life. (What a request still in flight on
// such a route counts afterwards is not shown.)
func (h *Handler) Swap(rt *Runtime) {
	h.cur.Store(h.install(rt))
	names := make([]string, 0, len(rt.table.Routes()))
	for _, r := range rt.table.Routes() {
		names = append(names, r.Name)
	}
	h.metrics.RetainRoutes(names)
	h.metrics.RetainRateLimits(rateLimitPairs(rt.table, rt.limits))
}

// Runtime returns the runtime new requests use.
func (h *Handler) Runtime() *Runtime { return h.cur.Load().Runtime }

// exchange is what one request did, for its metrics and access-log line.
type exchange struct {
	start time.Time
	route *policy.Route
	path  string
	// routedHost is the host the request was routed on when it is not
	// Host (a trusted proxy's X-Forwarded-Host), for the access line.
	routedHost string
	// status, when set, overrides the recorder's (client_gone). It is an
	// int32 so that upgrade shares its word.
	status   int32
	upgrade  upgrade // what became of the request's Upgrade header
	bearer   Bearer  // what the Authorization header held, when it was read
	metadata bool    // a protected resource's metadata document was asked for
	decide   bool    // a decision for another proxy (Decide), not a forward
	cors     cors.Result
	// limitedBy is 1 + the position (in the route's routeLimits.all) of
	// the rate limit that refused the request; 0: none did. A position,
	// not a pointer, so that the exchange keeps its size class.
	limitedBy uint16

	decision string
	reason   outcome.Reason
	issuer   string
	subject  string
	upstream time.Duration // zero when nothing was forwarded
	// What the stages decided, kept for Serve's Outcome: the refusal of
	// the path, of the bearer header or of the verifier, the verified
	// token and the route's authorization.
	pathErr error
	tokErr  *token.Error
	tok     *token.Token
	authz   policy.Decision
	id      string // the request id
	// idHeader is the request id as a header value: one slice, read only
	// (its capacity is 1), for the response and the outgoing request.
	idHeader [1]string

	// One allocation per request holds the exchange, its response
	// recorder and its forwarding state.
	rec recorder
	fwd forwarding
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, false) }

// serve is the request path, stage by stage; it returns what each stage
// decided, for Serve. decide: the request is one another proxy describes,
// answered with the decision instead of forwarded (decision.go).
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, decide bool) *exchange {
	rt := h.cur.Load()
	ex := &exchange{start: time.Now(), decide: decide}
	ex.rec.ResponseWriter = w
	// A gRPC client is refused in gRPC's terms; a decision is answered to
	// the proxy that asked, in HTTP's, whatever request it describes.
	if !decide {
		ex.rec.grpc = grpcCall(r)
	}
	ex.rec.http1 = r.ProtoMajor == 1
	ex.rec.http10 = ex.rec.http1 && r.ProtoMinor == 0
	rec := &ex.rec
	if rt.tracer != nil {
		r = rt.startSpan(r, decide)
	}
	defer h.finish(rt, r, ex)

	// Every response, refusals included, carries the request id that the
	// upstream and the access log see.
	ex.setRequestID(r)

	// The method is refused on every route, before routing, when it is
	// CONNECT, whose 2xx would open a tunnel that no stage below could see
	// into (upgrade.go), or when an upstream could serve the request as
	// another method than the one its route is matched on: routes match
	// methods byte for byte (RFC 9110 §9.1), and Django, Flask and others
	// upper-case "delete", and Rails, Symfony, Express and ASP.NET Core
	// take a method-override header's word for it. Requests, described
	// ones included, are refused in their own terms.
	switch {
	case strings.EqualFold(r.Method, http.MethodConnect):
		ex.reason = outcome.MethodNotAllowed
		refuseConnect(rec)
		return ex
	case hasLower(r.Method):
		ex.reason = outcome.MethodNotAllowed
		rec.Header().Set("Allow", allowedMethods)
		refuseAs(rec, outcome.MethodNotAllowed, lowerCaseMethod, "", "")
		return ex
	case overridesMethod(r):
		ex.reason = outcome.MethodOverride
		refuse(rec, outcome.MethodOverride, "", "")
		return ex
	}
	// A described request whose headers the upstream would read as
	// another URL or as a claim header is refused: the proxy removes
	// them, but an ingress cannot be told to (describedHeaders).
	if decide {
		if reason, description := rt.describedHeaders(r); reason != "" {
			ex.reason = reason
			if reason == outcome.BadPath {
				ex.pathErr = errURLOverride
			}
			refuseAs(rec, reason, description, "", "")
			return ex
		}
	}
	// Protected resource metadata (RFC 9728) is the gateway's own, public,
	// and answered before routing: a client that got a challenge naming it
	// must be able to read it without a token.
	if rt.resources != nil && !decide && rt.resources.IsMetadataPath(r.URL.Path) {
		ex.metadata, ex.path = true, r.URL.Path
		rt.resources.ServeHTTP(rec, r)
		return ex
	}
	clean, err := policy.CleanPath(r.URL)
	if err == nil && decide && r.URL.Path != clean {
		// A proxied request goes on with the clean path; a described one
		// is forwarded by the ingress as the client sent it, which an
		// upstream may resolve otherwise ("/orders//../docs" is
		// "/orders/docs" to RFC 3986 and browsers, "/docs" here). Only a
		// path that cleaning leaves as it is can be decided on.
		err = policy.ErrNotPlain
	}
	if err != nil {
		ex.reason, ex.pathErr = outcome.BadPath, err
		refuseAs(rec, outcome.BadPath, err.Error(), "", "")
		return ex
	}
	// A path that only cleaning puts under the metadata prefix
	// ("//.well-known/...", "/x/../.well-known/...") is the Set's too, which
	// answers it 404 (it looks documents up as sent): no route forwards
	// that prefix, however it is spelled.
	if rt.resources != nil && !decide && rt.resources.IsMetadataPath(clean) {
		ex.metadata, ex.path = true, clean
		rt.resources.ServeHTTP(rec, r)
		return ex
	}
	ex.path = clean
	// A request is routed on the host its upstream will be told: a
	// trusted proxy's X-Forwarded-Host, which rewrite keeps, else Host. A
	// described request's host is the one its ingress described.
	host, ok := r.Host, true
	if !decide {
		host, ok = rt.routedHost(r)
	}
	if !ok || !oneHost(host) {
		ex.reason = outcome.BadHost
		refuse(rec, outcome.BadHost, "", "")
		return ex
	}
	if host != r.Host {
		ex.routedHost = host // for the access line
	}
	// A CORS preflight is answered by the route that would take the
	// method it asks about, before any token is looked for: a browser
	// sends none with it (cors.go).
	asked, preflight := cors.PreflightMethod(r.Method, r.Header)
	if preflight && !decide && rt.preflight(rec, r, host, asked, ex) {
		return ex
	}
	// A preflight that no policy answered goes on as the plain OPTIONS it
	// is, with no CORS headers: the policy of the route that takes OPTIONS
	// must not approve a call that the route it asks about never agreed to.
	useCORS := !decide && !preflight
	route := rt.table.Match(host, clean, r.Method)
	if decide && !rt.forwardedHostAgrees(r, host, clean, route) {
		ex.reason = outcome.BadHost
		refuse(rec, outcome.BadHost, "", "")
		return ex
	}
	if route == nil {
		ex.reason = outcome.NoRoute
		if useCORS {
			rt.allowOrigin(rec, r, rt.table.UnmatchedCORS(), ex)
		}
		refuse(rec, outcome.NoRoute, "", "")
		return ex
	}
	ex.route = route
	// An allowed origin reads whatever this route answers, the gateway's
	// own refusals included: a 401's challenge is how browser code learns
	// that it needs a token.
	if route.CORS != nil && useCORS {
		rt.allowOrigin(rec, r, route.CORS, ex)
	}

	// The cap is checked after the (allocation-free) match so that the
	// refusal is counted under its route, and before any verification, so
	// that a flood past the cap costs no signature checks.
	if n := h.inFlight.Add(1); rt.maxInFlight > 0 && n > rt.maxInFlight {
		h.inFlight.Add(-1)
		ex.reason = outcome.Overloaded
		refuse(rec, outcome.Overloaded, "", "")
		return ex
	}
	defer h.inFlight.Add(-1)

	// Rate limits keyed by the client's address, before any verification:
	// a flood past them costs no signature checks (ratelimit.go).
	var lim limited
	rl := rt.limitsOf(route)
	if rl != nil && len(rl.before) > 0 && !h.spend(rt, rec, r, ex, rl, rl.before, nil, &lim) {
		return ex
	}

	a := rt.authenticate(r, route)
	ex.bearer, ex.tok, ex.tokErr, ex.authz = a.bearer, a.tok, a.err, a.authz
	ex.decision, ex.reason, ex.issuer = a.decision, a.reason, a.issuer
	if a.tok != nil {
		ex.issuer, ex.subject = a.tok.Issuer, a.tok.Subject
	}
	tok, passed := a.tok, a.reason == ""
	if !passed {
		ex.decision = outcome.Of(a.reason).Decision
		if !route.Audit {
			refuse(rec, a.reason, a.scope, route.ResourceParam)
			return ex
		}
		// Audit mode: the refusal is recorded (its decision under
		// mode="audit", its reason in the access log) and the request
		// forwarded as it would be anonymously: no claim headers from a
		// token that failed a check, and the client's own removed.
		tok = nil
	}
	// The other rate limits, once the token passed every check: a forged
	// or under-scoped token spends nobody's quota.
	if rl != nil {
		if len(rl.after) > 0 && !h.spend(rt, rec, r, ex, rl, rl.after, tok, &lim) {
			return ex
		}
		// An allowed decision's headers are claim headers for the
		// calling proxy to set: the RateLimit fields go on forwarded
		// responses only.
		if !decide {
			setRateLimitHeaders(rec.Header(), rl, &lim)
		}
	}
	if decide {
		rt.allow(rec, tok, ex)
		return ex
	}
	// A body that says it is too large is refused before a byte of it is
	// read; one that does not say is counted as it streams (stream.go).
	if route.MaxBody > 0 && r.ContentLength > route.MaxBody {
		ex.reason = outcome.BodyTooLarge
		refuse(rec, outcome.BodyTooLarge, "", "")
		return ex
	}
	// Only now, with every check passed, may an Upgrade travel, and only
	// a WebSocket one; the rest is removed before ReverseProxy reads it.
	// A handshake from a page whose origin the route's cors policy does
	// not list is no tunnel either (cors.go: crossSiteWebSocket).
	crossSite := crossSiteWebSocket(r, host, ex.cors)
	ex.upgrade = admitUpgrade(r, route.WebSocket && passed && !crossSite)
	if ex.upgrade == upgradeOff && route.WebSocket && passed && crossSite {
		ex.upgrade = upgradeCrossSite
	}
	rt.forward(r, tok, ex)
	return ex
}

// Verifier returns the verifier this runtime's requests go through.
func (rt *Runtime) Verifier() *token.Verifier { return rt.verifier }

// Table returns the route table this runtime serves.
func (rt *Runtime) Table() *policy.Table { return rt.table }

// lowerCaseMethod is the description of the 405 to a method with a
// lower-case letter.
const lowerCaseMethod = "the method has lower-case letters: routes match methods exactly, and upstreams may serve it upper-cased"

// hasLower reports whether a method has a lower-case ASCII letter. A method
// is a token (RFC 9110 §5.6.2), so no other letter can be in it.
func hasLower(method string) bool {
	for i := 0; i < len(method); i++ {
		if 'a' <= method[i] && method[i] <= 'z' {
			return true
		}
	}
	return false
}

// methodOverrideHeaders are the headers by which frameworks let a request
// say that it is another method than its own (folded: lower case, '-'):
// X-HTTP-Method-Override (Rails' Rack::MethodOverride, Symfony, Express's
// method-override, ASP.NET Core), X-HTTP-Method (Symfony, OData) and
// X-Method-Override (Symfony, Express).
var methodOverrideHeaders = []string{"x-http-method-override", "x-http-method", "x-method-override"}

// overridesMethod reports whether r carries a method-override header with a
// value other than r's own method, in any spelling of its name (case, and
// '_' for '-', which CGI-style servers merge), so that no upstream serves
// another method than the one r is routed and authorized as. foldedIn
// passes over names of other lengths at the cost of a comparison each.
func overridesMethod(r *http.Request) bool {
	for name, vals := range r.Header {
		if !foldedIn(name, methodOverrideHeaders) {
			continue
		}
		for _, v := range vals {
			if v != r.Method {
				return true
			}
		}
	}
	return false
}

// routedHost is the host r is routed on: the host its upstream is told in
// X-Forwarded-Host. That is Host, unless r comes from a trusted proxy that
// sent an X-Forwarded-Host, which rewrite forwards (its first value; Host
// when that is empty): a route matched on Host would otherwise guard a
// request that Rails, Express or Spring serve as another host's (its
// tenant, its admin site). ok is false when a trusted proxy's
// X-Forwarded-Host is not exactly one valid host: two headers or a list
// (Express takes the first, Rack the last, so no one host is both the
// matched and the served one), or a value that no Host header could be.
func (rt *Runtime) routedHost(r *http.Request) (host string, ok bool) {
	xfh := r.Header["X-Forwarded-Host"]
	if len(xfh) == 0 || !rt.Trusted(r.RemoteAddr) {
		return r.Host, true
	}
	if len(xfh) > 1 || strings.IndexByte(xfh[0], ',') >= 0 || !httpguts.ValidHostHeader(xfh[0]) {
		return "", false
	}
	if xfh[0] == "" {
		return r.Host, true
	}
	return xfh[0], true
}

// oneHost reports whether host names one host, with at most a port, as
// every reader reads it: no more than one ':' outside brackets. Go's server
// takes "admin.example.com:1:2" as a Host; the route table would read it
// as a bare IPv6 address, matching no host route, and Express as
// admin.example.com, cutting at the first ':'. An IPv6 address in a Host
// is bracketed (RFC 3986 §3.2.2).
func oneHost(host string) bool {
	return strings.HasPrefix(host, "[") || strings.Count(host, ":") <= 1
}

// RoutedHost is the host a request that ServeHTTP serves is routed on: for
// explain, which names the host when no route matches. ok is false when
// ServeHTTP refuses the request for its X-Forwarded-Host.
func (rt *Runtime) RoutedHost(r *http.Request) (host string, ok bool) { return rt.routedHost(r) }
