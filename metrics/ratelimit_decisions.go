package metrics

import "github.com/prometheus/client_golang/prometheus"

// The values of the result label of portcullis_rate_limit_decisions_total.
const (
	RateLimitAllowed = "allowed"
	RateLimitLimited = "limited"
)

// newRateLimitDecisions is portcullis_rate_limit_decisions_total. Its
// policy label is a rate_limits name or a route's inline limit
// ("<route>[<i>]"): configuration, never request data.
func newRateLimitDecisions() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portcullis_rate_limit_decisions_total",
		Help: "Rate-limit decisions, by route, policy (a rate_limits name, or <route>[<i>] for a route's inline limit) and result (allowed, limited). A request refused by one limit counts limited under the limit that refused it only.",
	}, []string{"route", "policy", "result"})
}

// RateLimitSeries are the allowed and limited series of one limit of one
// route: what the request path counts, resolved when a configuration is
// installed so that a request does no label lookup.
type RateLimitSeries struct {
	Allowed, Limited prometheus.Counter
}

// RateLimitRoute returns the series of a route's limit, created at 0 so that
// rate() sees the first refusal. It takes the vector's lock: call it when a
// configuration is installed, not per request.
func (m *Metrics) RateLimitRoute(route, policy string) RateLimitSeries {
	m.routesMu.Lock()
	if m.limits == nil {
		m.limits = map[[2]string]bool{}
	}
	m.limits[[2]string{route, policy}] = true
	m.routesMu.Unlock()
	return RateLimitSeries{
		Allowed: m.RateLimitDecisions.WithLabelValues(route, policy, RateLimitAllowed),
		Limited: m.RateLimitDecisions.WithLabelValues(route, policy, RateLimitLimited),
	}
}

// RetainRateLimits removes the series of every (route, policy) pair that
// RateLimitRoute gave series to and keep does not hold: after a reload,
// the limits a route no longer has (RetainRoutes removes those of routes
// that are gone). What requests still in flight count in them afterwards
// is not shown, as for routes.
func (m *Metrics) RetainRateLimits(keep map[[2]string]bool) {
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	for pair := range m.limits {
		if !keep[pair] {
			m.RateLimitDecisions.DeleteLabelValues(pair[0], pair[1], RateLimitAllowed)
			m.RateLimitDecisions.DeleteLabelValues(pair[0], pair[1], RateLimitLimited)
			delete(m.limits, pair)
		}
	}
}
