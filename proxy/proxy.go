// Package proxy is the request path: it takes a request, finds its route,
// authenticates and authorizes it, rewrites its headers, and forwards it with
// httputil.ReverseProxy; or refuses it with the status, WWW-Authenticate
// header and JSON body that RFC 6750 and the contract prescribe.
//
// Each stage is a plain call with plain values, in the order a request
// travels:
//
//	(CONNECT: 405) -> CleanPath -> Table.Match -> bearer -> Verifier.Verify -> Table.Authorize
//	               -> admitUpgrade -> rewrite -> ReverseProxy
//
// This package must never forward a request that a stage refused, never let
// a client-supplied header pass as one the gateway set, never write token
// material to a response, a log line or a metric label, and never relay a
// tunnel other than a WebSocket one whose request passed every stage
// (upgrade.go).
package proxy

import (
	"errors"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/token"
	"github.com/prometheus/client_golang/prometheus"
)

// Runtime is everything a request needs that comes from one configuration:
// the route table, the verifier and the reverse proxy. It is immutable; a
// reload builds a new one and swaps it in whole.
type Runtime struct {
	table    *policy.Table
	verifier *token.Verifier
	// proxy serves every route: what differs between routes travels with
	// the request (forwarding), so one per route would only cost memory.
	proxy          *httputil.ReverseProxy
	strip          []string // folded claim header names (lower case, '-')
	trustedProxies []netip.Prefix
	maxInFlight    int64
	accessLog      bool
	// The listener's deadlines, and how often a forwarded exchange must
	// look at them (stream.go).
	readTimeout, writeTimeout time.Duration
	connTick                  time.Duration
}

// WithTransport returns a copy of rt that carries requests with transport:
// for portcullis explain, which captures what would be forwarded.
func (rt *Runtime) WithTransport(transport http.RoundTripper) *Runtime {
	c := *rt
	c.proxy = c.reverseProxy(transport)
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
	// ReadTimeout and WriteTimeout are the proxy listener's (its
	// http.Server's): once a request is forwarded, its exchange takes the
	// connection's deadlines over from them (see stream.go), and
	// ReadTimeout becomes the longest pause of a request body. Zero: the
	// listener has none (an httptest server, explain's recorder).
	ReadTimeout, WriteTimeout time.Duration
}

// NewRuntime builds a runtime from a compiled table and a verifier.
func NewRuntime(table *policy.Table, verifier *token.Verifier, opts Options) *Runtime {
	rt := &Runtime{
		table:          table,
		verifier:       verifier,
		trustedProxies: opts.TrustedProxies,
		maxInFlight:    int64(opts.MaxInFlight),
		accessLog:      opts.AccessLog,
		readTimeout:    opts.ReadTimeout,
		writeTimeout:   opts.WriteTimeout,
		connTick:       connTick(opts.ReadTimeout, opts.WriteTimeout),
	}
	rt.strip = table.ClaimHeaders()
	transport := opts.Transport
	if transport == nil {
		transport = NewTransport()
	}
	rt.proxy = rt.reverseProxy(transport)
	return rt
}

// Handler serves the proxy port. The zero value is not usable; use New.
type Handler struct {
	rt       atomic.Pointer[Runtime]
	metrics  *metrics.Metrics
	log      *zap.Logger
	inFlight atomic.Int64 // across runtimes: a reload does not reset it
	// series holds the label-resolved metrics this handler has used, so
	// that a request costs one lock-free map read per series instead of
	// hashing its labels under the metric vector's lock, which every
	// request would share.
	series sync.Map // seriesKey -> prometheus.Counter or prometheus.Observer
	// forgetting is held for writing while a reload removes a route's
	// series, and for reading while a request resolves a series it has not
	// resolved before, so that no series is resolved from the vector and
	// stored after its route's series were removed (it would be counted in a
	// series /metrics no longer shows). Found series are read without it.
	forgetting sync.RWMutex
}

// seriesKey names one series of one of the handler's vectors.
type seriesKey struct {
	vec           uint8 // which vector: see the constants below
	route, issuer string
	label         string // a method, a decision or a failure reason
	code          int
}

const (
	vecRequests uint8 = iota
	vecDuration
	vecUpstream
	vecDecisions
	vecFailures
)

// counter returns the series of a counter vector (requests: route, method,
// code; decisions: route, decision; failures: issuer, reason), resolving
// it once.
func (h *Handler) counter(k seriesKey) prometheus.Counter {
	if c, ok := h.series.Load(k); ok {
		return c.(prometheus.Counter)
	}
	h.forgetting.RLock()
	defer h.forgetting.RUnlock()
	var c prometheus.Counter
	switch k.vec {
	case vecRequests:
		c = h.metrics.Requests.WithLabelValues(k.route, k.label, metrics.Code(k.code))
	case vecDecisions:
		c = h.metrics.AuthDecisions.WithLabelValues(k.route, k.label)
	default:
		c = h.metrics.AuthFailures.WithLabelValues(k.issuer, k.label)
	}
	h.series.Store(k, c)
	return c
}

// observer returns the duration histogram of vec for route, resolving it once.
func (h *Handler) observer(vec uint8, route string) prometheus.Observer {
	k := seriesKey{vec: vec, route: route}
	if o, ok := h.series.Load(k); ok {
		return o.(prometheus.Observer)
	}
	h.forgetting.RLock()
	defer h.forgetting.RUnlock()
	o := h.metrics.RequestDuration.WithLabelValues(route)
	if vec == vecUpstream {
		o = h.metrics.UpstreamDuration.WithLabelValues(route)
	}
	h.series.Store(k, o)
	return o
}

// New returns a handler serving rt. m is required; log may be nil.
func New(rt *Runtime, m *metrics.Metrics, log *zap.Logger) *Handler {
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{metrics: m, log: log}
	h.rt.Store(rt)
	return h
}

// Swap replaces the runtime atomically: requests already in flight finish on
// the runtime they started with. The metric series of routes that rt no
// longer has are removed, so that a dashboard does not show a deleted route
// for the rest of the process's life. (A request still in flight on such a
// route may bring some of its series back when it finishes.)
func (h *Handler) Swap(rt *Runtime) {
	old := h.rt.Swap(rt)
	if old == nil {
		return
	}
	kept := make(map[string]bool, len(rt.table.Routes()))
	for _, r := range rt.table.Routes() {
		kept[r.Name] = true
	}
	for _, r := range old.table.Routes() {
		if !kept[r.Name] {
			h.forgetRoute(r.Name)
		}
	}
}

// forgetRoute removes a route's series: first from the handler's own
// lookup, so that a route of the same name added later gets registered
// series rather than the removed ones, then from the vectors.
func (h *Handler) forgetRoute(name string) {
	h.forgetting.Lock()
	defer h.forgetting.Unlock()
	h.series.Range(func(k, _ any) bool {
		if k.(seriesKey).route == name {
			h.series.Delete(k)
		}
		return true
	})
	l := prometheus.Labels{"route": name}
	m := h.metrics
	m.Requests.DeletePartialMatch(l)
	m.RequestDuration.DeletePartialMatch(l)
	m.UpstreamDuration.DeletePartialMatch(l)
	m.AuthDecisions.DeletePartialMatch(l)
}

// Runtime returns the runtime new requests use.
func (h *Handler) Runtime() *Runtime { return h.rt.Load() }

// exchange is what one request did, for its metrics and access-log line.
type exchange struct {
	start time.Time
	route *policy.Route
	path  string
	// status, when set, overrides the recorder's (client_gone). It is an
	// int32 so that upgrade shares its word: one byte more would move the
	// exchange from the 240-byte size class to the 256-byte one.
	status   int32
	upgrade  upgrade // what became of the request's Upgrade header
	bearer   Bearer  // what the Authorization header held, when it was read
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

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r) }

// serve is the request path, stage by stage; it returns what each stage
// decided, for Serve.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) *exchange {
	rt := h.rt.Load()
	ex := &exchange{start: time.Now()}
	ex.rec.ResponseWriter = w
	rec := &ex.rec
	defer h.finish(rt, r, ex)

	// Every response, refusals included, carries the request id that the
	// upstream and the access log see, so one id follows a request through
	// client reports, gateway logs and upstream logs.
	ex.id = requestID(r.Header.Get(RequestIDHeader))
	ex.idHeader[0] = ex.id
	rec.Header()[RequestIDHeader] = ex.idHeader[:]

	// CONNECT is refused on every route, before routing: its 2xx would
	// open a tunnel that no stage below could see into (upgrade.go).
	if r.Method == http.MethodConnect {
		ex.reason = outcome.MethodNotAllowed
		refuseConnect(rec)
		return ex
	}
	clean, err := policy.CleanPath(r.URL)
	if err != nil {
		ex.reason, ex.pathErr = outcome.BadPath, err
		refuseAs(rec, outcome.BadPath, err.Error(), "")
		return ex
	}
	ex.path = clean
	route := rt.table.Match(r.Host, clean, r.Method)
	if route == nil {
		ex.reason = outcome.NoRoute
		refuse(rec, outcome.NoRoute, "")
		return ex
	}
	ex.route = route

	// The cap is checked after the (allocation-free) match so that the
	// refusal is counted under its route, and before any verification, so
	// that a flood past the cap costs no signature checks.
	if n := h.inFlight.Add(1); rt.maxInFlight > 0 && n > rt.maxInFlight {
		h.inFlight.Add(-1)
		ex.reason = outcome.Overloaded
		refuse(rec, outcome.Overloaded, "")
		return ex
	}
	defer h.inFlight.Add(-1)

	a := rt.authenticate(r, route)
	ex.bearer, ex.tok, ex.tokErr, ex.authz = a.bearer, a.tok, a.err, a.authz
	ex.decision, ex.reason, ex.issuer = a.decision, a.reason, a.issuer
	if a.tok != nil {
		ex.issuer, ex.subject = a.tok.Issuer, a.tok.Subject
	}
	if a.reason != "" {
		ex.decision = outcome.Of(a.reason).Decision
		refuse(rec, a.reason, a.scope)
		return ex
	}
	// Only now, with every check passed, may an Upgrade travel, and only
	// a WebSocket one; the rest is removed before ReverseProxy reads it.
	ex.upgrade = admitUpgrade(r, route)
	rt.forward(r, a.tok, ex)
	return ex
}

// authentication is what authenticate decided: no reason means go on, with
// the decision (allowed or anonymous); a reason is looked up in the outcome
// table for its status, challenge and decision.
type authentication struct {
	bearer   Bearer
	tok      *token.Token
	err      *token.Error // the bearer header's or the verifier's refusal
	authz    policy.Decision
	decision string
	reason   outcome.Reason
	issuer   string
	scope    string // required scopes, for insufficient_scope
}

// authenticate runs bearer extraction, verification and authorization for
// one matched route.
func (rt *Runtime) authenticate(r *http.Request, route *policy.Route) authentication {
	if route.Mode == policy.Public {
		return authentication{bearer: BearerNotRead, decision: outcome.Anonymous}
	}
	raw, err := bearer(r.Header)
	switch {
	case err != nil && err.Reason == outcome.Missing && route.Mode == policy.Optional:
		return authentication{bearer: BearerNone, decision: outcome.Anonymous}
	case err != nil && err.Reason == outcome.Missing:
		return authentication{bearer: BearerNone, reason: outcome.Missing}
	case err != nil:
		return authentication{bearer: BearerMalformed, err: err, reason: err.Reason}
	}
	tok, verr := rt.verifier.Verify(r.Context(), raw, route.Issuers)
	if verr != nil {
		err := asTokenError(verr)
		return authentication{bearer: BearerPresent, err: err, reason: err.Reason, issuer: err.Issuer}
	}
	d := rt.table.Authorize(route, tok.Issuer, tok.Claims)
	a := authentication{bearer: BearerPresent, tok: tok, authz: d, decision: outcome.Allowed}
	if !d.Allowed {
		a.reason, a.issuer, a.scope = d.Reason, tok.Issuer, requiredScope(route)
	}
	return a
}

func asTokenError(err error) *token.Error {
	var te *token.Error
	if errors.As(err, &te) {
		return te
	}
	return &token.Error{Reason: outcome.Malformed, Detail: "verification failed"}
}

// requiredScope is the scope attribute of an insufficient_scope challenge
// (RFC 6750 §3): the all_of scopes, or the any_of ones when all_of is empty.
func requiredScope(r *policy.Route) string {
	if len(r.AllOf) > 0 {
		return strings.Join(r.AllOf, " ")
	}
	return strings.Join(r.AnyOf, " ")
}

// bearer extracts the token from the one Authorization header (RFC 6750
// §2.1). A token is never read from the query string or a form body (§2.2,
// §2.3): those end up in logs and caches.
func bearer(h http.Header) (string, *token.Error) {
	vals := h.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", &token.Error{Reason: outcome.Missing}
	case 1:
	default:
		return "", &token.Error{Reason: outcome.Malformed, Detail: "more than one Authorization header"}
	}
	v := vals[0]
	if len(v) > token.MaxLength+len("Bearer ") {
		return "", &token.Error{Reason: outcome.Malformed, Detail: "Authorization header too long"}
	}
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme (Basic, DPoP...) is not a bearer token: for
		// this gateway the request carries none.
		return "", &token.Error{Reason: outcome.Missing}
	}
	raw := strings.Trim(rest, " \t")
	if raw == "" {
		return "", &token.Error{Reason: outcome.Malformed, Detail: "empty bearer token"}
	}
	return raw, nil
}

// finalStatus is the status the client got, as metrics and logs record it.
func (ex *exchange) finalStatus() int {
	status := ex.rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if ex.status != 0 {
		status = int(ex.status)
	}
	if ex.rec.status == 0 && ex.upgrade == upgradeSwitched {
		// ReverseProxy wrote the 101 to the hijacked connection, past
		// the recorder; the request ends when the tunnel closes.
		status = http.StatusSwitchingProtocols
	}
	return status
}

// finish records the request's metrics and access-log line.
func (h *Handler) finish(rt *Runtime, r *http.Request, ex *exchange) {
	status := ex.finalStatus()
	elapsed := time.Since(ex.start)
	route := metrics.Unmatched
	if ex.route != nil {
		route = ex.route.Name
	}
	h.counter(seriesKey{vec: vecRequests, route: route, label: metrics.Method(r.Method), code: status}).Inc()
	h.observer(vecDuration, route).Observe(elapsed.Seconds())
	if ex.route != nil && ex.decision != "" {
		h.counter(seriesKey{vec: vecDecisions, route: route, label: ex.decision}).Inc()
	}
	// Only a refused token is an authentication failure: an allowed
	// request keeps its decision when its exchange fails afterwards
	// (upstream_timeout, client_timeout, stream_idle...), and those
	// reasons are the access log's, never this metric's.
	if ex.route != nil && ex.reason != "" && outcome.Of(ex.reason).AuthFailure {
		issuer := ex.issuer
		if issuer == "" {
			issuer = metrics.UnknownIssuer
		}
		h.counter(seriesKey{vec: vecFailures, issuer: issuer, label: string(ex.reason)}).Inc()
	}
	if ex.upstream > 0 {
		h.observer(vecUpstream, route).Observe(ex.upstream.Seconds())
	}
	if !rt.accessLog {
		return
	}
	fp := logFields.Get().(*[]zap.Field)
	fields := append((*fp)[:0],
		zap.String("request_id", ex.id),
		zap.String("route", route),
		zap.String("method", r.Method),
		zap.String("host", r.Host),
		zap.String("path", ex.path),
		zap.Int("status", status),
		zap.Duration("duration", elapsed),
		zap.String("decision", ex.decision),
		zap.String("reason", string(ex.reason)),
		zap.String("issuer", ex.issuer),
		zap.String("remote", r.RemoteAddr),
		zap.Int64("bytes", ex.rec.bytes.Load()),
	)
	if ex.upstream > 0 {
		fields = append(fields, zap.Duration("upstream_duration", ex.upstream))
	}
	if ex.upgrade != noUpgrade {
		fields = append(fields, zap.String("upgrade", ex.upgrade.String()))
	}
	if ex.subject != "" && h.log.Core().Enabled(zap.DebugLevel) {
		fields = append(fields, zap.String("sub", ex.subject))
	}
	h.log.Info("request", fields...)
	clear(fields) // no request's strings outlive it in the pool
	*fp = fields[:0]
	logFields.Put(fp)
}

// logFields lends finish its field slices: a new one per request was the
// largest allocation the gateway itself made (1.5 KiB once grown). Lending
// is safe because zap's cores encode the fields before Info returns and keep
// nothing of the slice (the observer core used by tests copies it).
var logFields = sync.Pool{New: func() any {
	f := make([]zap.Field, 0, 14)
	return &f
}}

// recorder remembers the status and size of a response. bytes is atomic
// because the watchdog of a forwarded exchange reads it to see the
// response move (stream.go).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  atomic.Int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes.Add(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController (used by ReverseProxy to flush
// streamed responses) reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type ctxKey struct{}

var nopLogger = newNopLogger()

// Table returns the route table this runtime serves.
func (rt *Runtime) Table() *policy.Table { return rt.table }
