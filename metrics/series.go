package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// RouteSeries are one route's series of the request metrics (requests,
// durations, decisions). A vector's WithLabelValues hashes its labels under
// the vector's lock, which every request would share; a request instead
// finds its route's RouteSeries once, by the route's position, and each
// series in it with one lock-free map read, resolving it from the vector
// the first time only.
//
// A RouteSeries lives as long as its route: Metrics.Route hands out the same
// one for a name across reloads, and Metrics.RetainRoutes forgets the
// routes a reload removed, so that a dashboard does not show a deleted route
// for the rest of the process's life.
type RouteSeries struct {
	route string
	m     *Metrics

	resolved sync.Map // requestSeries, decisionSeries or durationSeries -> its series
	// mu is held by a resolution and by forget, so that no series is
	// resolved from a vector after forget deleted the route's series (it
	// would be counted where /metrics no longer shows it, and kept
	// forever). Found series are read without it.
	mu   sync.Mutex
	gone bool
}

type requestSeries struct {
	method string
	code   int
	via    string
}

type decisionSeries struct{ decision, mode, via string }

type durationSeries struct {
	upstream bool
	via      string
}

// Duration is the portcullis_request_duration_seconds series of this route
// for requests served via (ViaProxy or ViaDecision).
func (s *RouteSeries) Duration(via string) prometheus.Observer {
	return s.duration(durationSeries{via: via})
}

// Upstream is the portcullis_upstream_duration_seconds series of this route.
func (s *RouteSeries) Upstream() prometheus.Observer {
	return s.duration(durationSeries{upstream: true})
}

func (s *RouteSeries) duration(k durationSeries) prometheus.Observer {
	if o, ok := s.resolved.Load(k); ok {
		return o.(prometheus.Observer)
	}
	return resolve[prometheus.Observer](s, k, func() prometheus.Observer {
		if k.upstream {
			return s.m.UpstreamDuration.WithLabelValues(s.route)
		}
		return s.m.RequestDuration.WithLabelValues(s.route, k.via)
	}, forgottenDuration)
}

// Request is the portcullis_requests_total series of this route for a
// request method (any: Method maps it to its label), a status code and how
// it was served (ViaProxy or ViaDecision).
func (s *RouteSeries) Request(method string, code int, via string) prometheus.Counter {
	k := requestSeries{Method(method), code, via}
	if c, ok := s.resolved.Load(k); ok {
		return c.(prometheus.Counter)
	}
	return resolve(s, k, func() prometheus.Counter {
		return s.m.Requests.WithLabelValues(s.route, k.method, Code(code), via)
	}, forgotten)
}

// Decision is the portcullis_auth_decisions_total series of this route for
// an auth decision in a mode (ModeEnforce or ModeAudit), served via.
func (s *RouteSeries) Decision(decision, mode, via string) prometheus.Counter {
	k := decisionSeries{decision, mode, via}
	if c, ok := s.resolved.Load(k); ok {
		return c.(prometheus.Counter)
	}
	return resolve(s, k, func() prometheus.Counter {
		return s.m.AuthDecisions.WithLabelValues(s.route, decision, mode, via)
	}, forgotten)
}

// forgotten counts what requests still in flight on a removed route count:
// it is registered nowhere, so their counts go nowhere rather than bring
// the route's series back.
var (
	forgotten         = prometheus.NewCounter(prometheus.CounterOpts{Name: "forgotten"})
	forgottenDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "forgotten"})
)

// resolve returns the series k of s, resolving it with from under s.mu, or
// detached when s's route was forgotten.
func resolve[T any](s *RouteSeries, k any, from func() T, detached T) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.resolved.Load(k); ok {
		return c.(T)
	}
	if s.gone {
		return detached
	}
	c := from()
	s.resolved.Store(k, c)
	return c
}

// forget deletes the route's series from every vector.
func (s *RouteSeries) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gone = true
	l := prometheus.Labels{"route": s.route}
	s.m.Requests.DeletePartialMatch(l)
	s.m.RequestDuration.DeletePartialMatch(l)
	s.m.UpstreamDuration.DeletePartialMatch(l)
	s.m.AuthDecisions.DeletePartialMatch(l)
	s.m.RateLimitDecisions.DeletePartialMatch(l)
}

// Route returns the series of the named route: the same value for a name
// until RetainRoutes forgets it. It is for building what serves a
// configuration, not for a request: it takes a lock.
func (m *Metrics) Route(name string) *RouteSeries {
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	if s, ok := m.routes[name]; ok {
		return s
	}
	if m.routes == nil {
		m.routes = map[string]*RouteSeries{}
	}
	s := &RouteSeries{route: name, m: m}
	m.routes[name] = s
	return s
}

// RetainRoutes forgets the series of every route not named in keep (the
// unmatched and resource_metadata series are always kept).
func (m *Metrics) RetainRoutes(keep []string) {
	kept := make(map[string]bool, len(keep)+1)
	for _, n := range keep {
		kept[n] = true
	}
	kept[Unmatched], kept[ResourceMetadata] = true, true
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	for name, s := range m.routes {
		if !kept[name] {
			s.forget()
			delete(m.routes, name)
		}
	}
}

// AuthFailure is the portcullis_auth_failures_total series of an issuer
// name (UnknownIssuer when none) and a reason, resolved once.
func (m *Metrics) AuthFailure(issuer, reason string) prometheus.Counter {
	k := [2]string{issuer, reason}
	if c, ok := m.failures.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.failures.LoadOrStore(k, m.AuthFailures.WithLabelValues(issuer, reason))
	return c.(prometheus.Counter)
}
