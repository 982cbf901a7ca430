package metrics

import (
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Requests that resolve a route's series while a reload forgets the route
// never bring the route's series back: once RetainRoutes returns, /metrics
// shows none of them, whatever requests still in flight count; and a route
// of that name configured again counts in series /metrics shows.
func TestRetainRoutesLeavesNoOrphanedSeries(t *testing.T) {
	for attempt := range 500 {
		m := New()
		old := m.Route("gone")
		old.Request("GET", 200, ViaProxy).Inc()
		old.Duration(ViaProxy).Observe(1)
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; !stop.Load(); i++ {
				old.Request("GET", 200+i%50, ViaProxy).Inc()
				old.Decision("allowed", ModeEnforce, ViaProxy).Inc()
				old.Upstream().Observe(1)
			}
		}()
		m.RetainRoutes(nil)
		stop.Store(true)
		<-done
		for name, n := range map[string]int{
			"requests":  testutil.CollectAndCount(m.Requests),
			"decisions": testutil.CollectAndCount(m.AuthDecisions),
			"durations": testutil.CollectAndCount(m.RequestDuration),
			"upstream":  testutil.CollectAndCount(m.UpstreamDuration),
		} {
			if n != 0 {
				t.Fatalf("attempt %d: %d %s series of a forgotten route are still shown", attempt, n, name)
			}
		}
		again := m.Route("gone")
		if again == old {
			t.Fatalf("attempt %d: a forgotten route's series were handed out again", attempt)
		}
		again.Request("GET", 200, ViaProxy).Inc()
		if got := testutil.ToFloat64(m.Requests.WithLabelValues("gone", "GET", "200", "proxy")); got != 1 {
			t.Fatalf("attempt %d: the route configured again counts %v in the shown series, want 1", attempt, got)
		}
	}
}

// A route kept by a reload keeps its series, and the unmatched series are
// never forgotten.
func TestRetainRoutesKeepsNamedRoutes(t *testing.T) {
	m := New()
	kept, unmatched := m.Route("kept"), m.Route(Unmatched)
	kept.Request("GET", 200, ViaProxy).Inc()
	unmatched.Request("GET", 404, ViaProxy).Inc()
	m.RetainRoutes([]string{"kept"})
	if m.Route("kept") != kept || m.Route(Unmatched) != unmatched {
		t.Fatal("RetainRoutes replaced the series of a kept route")
	}
	if got := testutil.CollectAndCount(m.Requests); got != 2 {
		t.Fatalf("%d request series shown, want 2", got)
	}
}

// Method and code map to their label values, and a method a client made
// up is counted as OTHER, never under its own name.
func TestRequestSeriesLabels(t *testing.T) {
	m := New()
	s := m.Route("r")
	s.Request("BREW", 418, ViaProxy).Inc()
	s.Request("GET", 1200, ViaProxy).Inc()
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("r", "OTHER", "418", "proxy")); got != 1 {
		t.Fatalf("BREW 418 counted %v under OTHER, want 1", got)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("r", "GET", "000", "proxy")); got != 1 {
		t.Fatalf("an impossible code counted %v under 000, want 1", got)
	}
}
