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
	return RateLimitSeries{
		Allowed: m.RateLimitDecisions.WithLabelValues(route, policy, RateLimitAllowed),
		Limited: m.RateLimitDecisions.WithLabelValues(route, policy, RateLimitLimited),
	}
}
