// Package metrics owns portcullis's Prometheus collectors. They live on a
// registry of our own (never the global one), so that tests can create as
// many independent sets as they like and a reload never re-registers.
//
// Every label value comes from the configuration (route and issuer names) or
// from a closed set defined here (decisions, reasons, results, methods,
// status codes); never from request data, so cardinality is bounded by the
// file. This package is a leaf: it imports nothing of portcullis.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unmatched is the route label of requests that matched no route.
const Unmatched = "unmatched"

// ResourceMetadata is the route label of requests for a protected
// resource's metadata document (RFC 9728), which the gateway answers itself.
const ResourceMetadata = "resource_metadata"

// The values of the mode label of portcullis_auth_decisions_total: whether
// the route's decision was enforced, or only recorded (auth.enforce: false).
const (
	ModeEnforce = "enforce"
	ModeAudit   = "audit"
)

// The values of the via label: whether a request was proxied, or answered
// with a decision for another proxy (forward-auth, ext_authz).
const (
	ViaProxy    = "proxy"
	ViaDecision = "decision"
)

// UnknownIssuer is the issuer label of failures that could not be tied to a
// configured issuer (a token with an iss no issuer has, or no token at all).
const UnknownIssuer = "unknown"

// DurationBuckets suit a proxy: from a tenth of a millisecond, where the
// gateway's own work lives, to tens of seconds, where slow upstreams live.
var DurationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// Metrics is one set of portcullis collectors on its own registry.
type Metrics struct {
	Registry *prometheus.Registry

	Requests         *prometheus.CounterVec
	RequestDuration  *prometheus.HistogramVec
	UpstreamDuration *prometheus.HistogramVec
	AuthDecisions    *prometheus.CounterVec
	AuthFailures     *prometheus.CounterVec
	JWKSRefresh      *prometheus.CounterVec
	JWKSKeys         *prometheus.GaugeVec
	JWKSLastSuccess  *prometheus.GaugeVec
	ConfigReloads    *prometheus.CounterVec

	TokenCacheHits      *prometheus.CounterVec
	TokenCacheMisses    *prometheus.CounterVec
	TokenCacheEvictions *prometheus.CounterVec
	TokenCacheEntries   *prometheus.GaugeVec

	Introspection *Introspection // opaque tokens (RFC 7662)
	Revocation    *Revocation    // revocation lists
	TLS           *TLS           // the proxy listener's certificate (tls.go)
	Tracing       *Tracing       // OpenTelemetry span export (tracing.go)

	RateLimitStore *RateLimitStore // the shared rate-limit store (ratelimit.go)

	// RateLimitDecisions is portcullis_rate_limit_decisions_total
	// (ratelimit_decisions.go).
	RateLimitDecisions *prometheus.CounterVec

	// The series the request path has resolved (series.go).
	routesMu sync.Mutex
	routes   map[string]*RouteSeries
	// limits are the (route, policy) pairs RateLimitRoute has given
	// series to, under routesMu, so that RetainRateLimits can remove those
	// a new configuration no longer has.
	limits   map[[2]string]bool
	failures sync.Map // [issuer, reason] -> prometheus.Counter
}

// New creates the collectors and registers them, with the Go runtime and
// process collectors, on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_requests_total",
			Help: "Requests handled, by route, method, status code and via (proxy: forwarded; decision: answered for another proxy).",
		}, []string{"route", "method", "code", "via"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_request_duration_seconds",
			Help:    "Time from receiving a request's headers to the end of its response, by route.",
			Buckets: DurationBuckets,
		}, []string{"route", "via"}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_upstream_duration_seconds",
			Help:    "Time from forwarding a request to the upstream's response headers, by route.",
			Buckets: DurationBuckets,
		}, []string{"route"}),
		AuthDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_auth_decisions_total",
			Help: "Authentication and authorization decisions, by route, decision (allowed, anonymous, unauthenticated, forbidden) and mode (enforce, or audit: recorded, not enforced).",
		}, []string{"route", "decision", "mode", "via"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_auth_failures_total",
			Help: "Refused tokens and requests, by issuer and reason.",
		}, []string{"issuer", "reason"}),
		JWKSRefresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_jwks_refresh_total",
			Help: "JWKS fetches, by issuer and result (success, error).",
		}, []string{"issuer", "result"}),
		JWKSKeys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcullis_jwks_keys",
			Help: "Usable signing keys in the issuer's current key set.",
		}, []string{"issuer"}),
		JWKSLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcullis_jwks_last_success_timestamp_seconds",
			Help: "Unix time of the issuer's last successful JWKS fetch.",
		}, []string{"issuer"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_config_reloads_total",
			Help: "Configuration reloads, by result (success, error).",
		}, []string{"result"}),
		TokenCacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_token_cache_hits_total",
			Help: "Tokens whose verification was found in the issuer's verified-token cache.",
		}, []string{"issuer"}),
		TokenCacheMisses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_token_cache_misses_total",
			Help: "Tokens of the issuer verified in full because the verified-token cache did not hold them.",
		}, []string{"issuer"}),
		TokenCacheEvictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_token_cache_evictions_total",
			Help: "Entries the verified-token cache dropped to stay within max_entries.",
		}, []string{"issuer"}),
		TokenCacheEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcullis_token_cache_entries",
			Help: "Verified tokens currently cached, by issuer.",
		}, []string{"issuer"}),
		Introspection: NewIntrospection(),
		Revocation:    NewRevocation(),
		TLS:           NewTLS(),
		Tracing:       NewTracing(),

		RateLimitStore: NewRateLimitStore(),

		RateLimitDecisions: newRateLimitDecisions(),
	}
	m.Registry.MustRegister(m.Introspection.Collectors()...)
	m.Registry.MustRegister(m.Revocation.Collectors()...)
	m.Registry.MustRegister(m.TLS.Collectors()...)
	m.Registry.MustRegister(m.Tracing.Collectors()...)
	m.Registry.MustRegister(m.RateLimitStore.Collectors()...)
	m.Registry.MustRegister(m.RateLimitDecisions)
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Requests, m.RequestDuration, m.UpstreamDuration,
		m.AuthDecisions, m.AuthFailures,
		m.JWKSRefresh, m.JWKSKeys, m.JWKSLastSuccess,
		m.ConfigReloads,
		m.TokenCacheHits, m.TokenCacheMisses, m.TokenCacheEvictions, m.TokenCacheEntries,
	)
	// Series that count failures exist from the start, at 0, so that
	// increase() and rate() see the first failure.
	m.ConfigReloads.WithLabelValues("success")
	m.ConfigReloads.WithLabelValues("error")
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// IssuerConfigured creates an issuer's failure-counting series at 0, so
// that alerts on their increase see the first failure.
func (m *Metrics) IssuerConfigured(issuer string) {
	if m == nil {
		return
	}
	m.JWKSRefresh.WithLabelValues(issuer, "success")
	m.JWKSRefresh.WithLabelValues(issuer, "error")
}

// JWKSRefreshed records one JWKS fetch. keys is the number of usable keys now
// served, which after a failed fetch is the last good set's.
func (m *Metrics) JWKSRefreshed(issuer string, err error, keys int, lastSuccess time.Time) {
	if m == nil {
		return
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	m.JWKSRefresh.WithLabelValues(issuer, result).Inc()
	m.JWKSServing(issuer, keys, lastSuccess)
}

// JWKSServing sets the issuer's key gauges: the number of keys served, and
// when they were fetched (left alone while lastSuccess is zero).
func (m *Metrics) JWKSServing(issuer string, keys int, lastSuccess time.Time) {
	if m == nil {
		return
	}
	m.JWKSKeys.WithLabelValues(issuer).Set(float64(keys))
	if !lastSuccess.IsZero() {
		m.JWKSLastSuccess.WithLabelValues(issuer).Set(float64(lastSuccess.UnixNano()) / 1e9)
	}
}

// Method maps a request method to a label value: the registered methods as
// they are, anything else (a client may send any token) as "OTHER".
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
		http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// codes holds the label text of every status code a response can carry, so
// that labelling a request costs no allocation.
var codes = func() (c [1000]string) {
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}()

// Code maps a status code to a label value.
func Code(status int) string {
	if status < 100 || status > 999 {
		return "000"
	}
	return codes[status]
}
