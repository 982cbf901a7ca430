package proxy

import (
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/metrics"
)

// Requests that resolve a route's series while a reload forgets the route
// never leave the handler holding a series that the vector no longer has:
// every series it hands out afterwards is the one /metrics shows.
func TestForgetRouteLeavesNoOrphanedSeries(t *testing.T) {
	for attempt := range 1000 {
		h := New(nil, metrics.New(), nil)
		h.counter(seriesKey{vec: vecRequests, route: "gone", label: "GET", code: 200}).Inc()
		h.observer(vecDuration, "gone").Observe(1)
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				h.counter(seriesKey{vec: vecRequests, route: "gone", label: "GET", code: 200})
				h.observer(vecDuration, "gone")
			}
		}()
		h.forgetRoute("gone")
		stop.Store(true)
		<-done
		if h.counter(seriesKey{vec: vecRequests, route: "gone", label: "GET", code: 200}) != h.metrics.Requests.WithLabelValues("gone", "GET", "200") {
			t.Fatalf("attempt %d: the handler counts requests in a series /metrics does not show", attempt)
		}
		if h.observer(vecDuration, "gone") != h.metrics.RequestDuration.WithLabelValues("gone") {
			t.Fatalf("attempt %d: the handler observes durations in a series /metrics does not show", attempt)
		}
	}
}
