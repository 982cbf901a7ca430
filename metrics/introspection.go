package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The results of one introspection call, the closed set of the result label
// of portcullis_introspection_requests_total.
const (
	IntrospectionActive   = "active"   // the authorization server said active: true
	IntrospectionInactive = "inactive" // it said active: false
	IntrospectionError    = "error"    // it could not be asked, or its answer was unusable
	// IntrospectionOverloaded is no call: every one of max_concurrent
	// slots stayed taken for the client's timeout, and the request that
	// would have made the call was answered 503.
	IntrospectionOverloaded = "overloaded"
)

// Introspection holds the collectors of RFC 7662 token introspection. They
// are separate from Metrics so that a gateway without opaque-token issuers
// exposes none of them; the caller registers Collectors on its registry.
//
// Requests and Duration count calls to the authorization server (one call
// may answer many concurrent requests for the same token); CacheHits and
// CacheMisses count the lookups of every request.
type Introspection struct {
	Requests     *prometheus.CounterVec
	Duration     *prometheus.HistogramVec
	CacheHits    *prometheus.CounterVec
	CacheMisses  *prometheus.CounterVec
	CacheEntries *prometheus.GaugeVec
}

// NewIntrospection creates the introspection collectors, registered nowhere.
func NewIntrospection() *Introspection {
	return &Introspection{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_introspection_requests_total",
			Help: "Calls to the issuer's introspection endpoint, by issuer and result (active, inactive, error), and calls not made for want of a free max_concurrent slot (overloaded).",
		}, []string{"issuer", "result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_introspection_duration_seconds",
			Help:    "Time one call to the issuer's introspection endpoint took, whatever its result.",
			Buckets: DurationBuckets,
		}, []string{"issuer"}),
		CacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_introspection_cache_hits_total",
			Help: "Tokens whose introspection answer was found in the issuer's cache.",
		}, []string{"issuer"}),
		CacheMisses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_introspection_cache_misses_total",
			Help: "Tokens the issuer's cache did not hold, answered by a call to the endpoint (possibly shared).",
		}, []string{"issuer"}),
		CacheEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcullis_introspection_cache_entries",
			Help: "Introspection answers currently cached, by issuer.",
		}, []string{"issuer"}),
	}
}

// Collectors are the collectors to register, in a stable order.
func (m *Introspection) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Requests, m.Duration, m.CacheHits, m.CacheMisses, m.CacheEntries}
}

// Issuer creates the issuer's series, those that count failures at 0 so
// that alerts on their increase see the first failure, and returns them
// resolved: recording through an IntrospectionIssuer takes no vector lock
// and no allocation. It is for building a client, not for a request. A nil
// m returns nil, and a nil *IntrospectionIssuer records nothing.
func (m *Introspection) Issuer(issuer string) *IntrospectionIssuer {
	if m == nil {
		return nil
	}
	return &IntrospectionIssuer{
		active:   m.Requests.WithLabelValues(issuer, IntrospectionActive),
		inactive: m.Requests.WithLabelValues(issuer, IntrospectionInactive),
		failed:   m.Requests.WithLabelValues(issuer, IntrospectionError),
		overload: m.Requests.WithLabelValues(issuer, IntrospectionOverloaded),
		duration: m.Duration.WithLabelValues(issuer),
		hits:     m.CacheHits.WithLabelValues(issuer),
		misses:   m.CacheMisses.WithLabelValues(issuer),
		entries:  m.CacheEntries.WithLabelValues(issuer),
	}
}

// IntrospectionIssuer is one issuer's introspection series.
type IntrospectionIssuer struct {
	active, inactive, failed prometheus.Counter
	overload                 prometheus.Counter
	duration                 prometheus.Observer
	hits, misses             prometheus.Counter
	entries                  prometheus.Gauge
}

// Called records one call to the endpoint: its result (one of the
// Introspection* constants; anything else counts as an error) and how long
// it took.
func (s *IntrospectionIssuer) Called(result string, took time.Duration) {
	if s == nil {
		return
	}
	switch result {
	case IntrospectionActive:
		s.active.Inc()
	case IntrospectionInactive:
		s.inactive.Inc()
	default:
		s.failed.Inc()
	}
	s.duration.Observe(took.Seconds())
}

// Overloaded records a call not made: no slot came free within the
// timeout (IntrospectionOverloaded).
func (s *IntrospectionIssuer) Overloaded() {
	if s != nil {
		s.overload.Inc()
	}
}

// CacheHit records a lookup that the cache answered.
func (s *IntrospectionIssuer) CacheHit() {
	if s != nil {
		s.hits.Inc()
	}
}

// CacheMiss records a lookup that the cache could not answer.
func (s *IntrospectionIssuer) CacheMiss() {
	if s != nil {
		s.misses.Inc()
	}
}

// CacheEntries records how many answers the cache holds now.
func (s *IntrospectionIssuer) CacheEntries(n int) {
	if s != nil {
		s.entries.Set(float64(n))
	}
}
