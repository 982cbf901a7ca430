package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RateLimitBuckets suit a shared rate-limit store on the request path: a
// call takes a fraction of a millisecond when healthy, and
// rate_limit_store.timeout (50ms by default) bounds it when not.
var RateLimitBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
}

// The values of the result label of portcullis_rate_limit_store_requests_total.
const (
	StoreResultOK      = "ok"
	StoreResultError   = "error"
	StoreResultTimeout = "timeout"
)

// The values of the mode label of portcullis_rate_limit_fallback_total:
// ratelimit.OnError's.
var rateLimitModes = []string{"allow", "deny", "local"}

// RateLimitStore holds the collectors of the shared rate-limit store. Its methods
// may be called on a nil *RateLimitStore, which records nothing.
type RateLimitStore struct {
	StoreRequests *prometheus.CounterVec
	StoreDuration prometheus.Histogram
	Fallback      *prometheus.CounterVec

	// The series of every label value, resolved once so that a store
	// call does no label lookup.
	requests map[string]prometheus.Counter // by StoreResult
	fallback map[string]prometheus.Counter // by mode
}

// NewRateLimitStore creates the collectors, every series at 0; the caller
// registers Collectors() on its registry.
func NewRateLimitStore() *RateLimitStore {
	r := &RateLimitStore{
		StoreRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_rate_limit_store_requests_total",
			Help: "Calls to the shared rate-limit store, by result (ok, error, timeout).",
		}, []string{"result"}),
		StoreDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portcullis_rate_limit_store_duration_seconds",
			Help:    "Time of each call to the shared rate-limit store, failed ones included.",
			Buckets: RateLimitBuckets,
		}),
		Fallback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_rate_limit_fallback_total",
			Help: "Rate-limit decisions answered by the fallback (on_error: allow, deny, local) because the shared store failed or was backing off.",
		}, []string{"mode"}),
	}
	r.requests = map[string]prometheus.Counter{}
	for _, result := range []string{StoreResultOK, StoreResultError, StoreResultTimeout} {
		r.requests[result] = r.StoreRequests.WithLabelValues(result)
	}
	r.fallback = map[string]prometheus.Counter{}
	for _, mode := range rateLimitModes {
		r.fallback[mode] = r.Fallback.WithLabelValues(mode)
	}
	return r
}

// Collectors are the collectors to register.
func (r *RateLimitStore) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.StoreRequests, r.StoreDuration, r.Fallback}
}

// StoreCall records one call to the shared store (ratelimit.Hooks.StoreCall).
func (r *RateLimitStore) StoreCall(d time.Duration, err error) {
	if r == nil {
		return
	}
	r.requests[StoreResult(err)].Inc()
	r.StoreDuration.Observe(d.Seconds())
}

// FallbackUsed records one decision answered by the fallback
// (ratelimit.Hooks.Fallback, with string(mode)). A mode outside the fixed
// set is not recorded, so that no other value can ever become a label.
func (r *RateLimitStore) FallbackUsed(mode string) {
	if r == nil {
		return
	}
	if c, ok := r.fallback[mode]; ok {
		c.Inc()
	}
}

// StoreResult classifies a store call's error as a label value: "ok" for
// nil, "timeout" when the store did not answer in time (a context deadline,
// or any error in the chain with a Timeout() bool method that says so: net
// timeouts, ratelimit.StoreError), "error" otherwise.
func StoreResult(err error) string {
	if err == nil {
		return StoreResultOK
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return StoreResultTimeout
	}
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return StoreResultTimeout
	}
	return StoreResultError
}

// RateLimitStoreCall records one call to the shared rate-limit store; it
// fits ratelimit.Hooks.StoreCall.
func (m *Metrics) RateLimitStoreCall(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.RateLimitStore.StoreCall(d, err)
}

// RateLimitFallback records one rate-limit decision answered by the
// fallback; ratelimit.Hooks.Fallback calls it with string(mode).
func (m *Metrics) RateLimitFallback(mode string) {
	if m == nil {
		return
	}
	m.RateLimitStore.FallbackUsed(mode)
}
