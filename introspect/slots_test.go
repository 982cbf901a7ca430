package introspect_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/introspect"
	"github.com/portcullis/portcullis/metrics"
)

// A client that sends new tokens one at a time and gives up on each after
// 5ms keeps one request in flight at the gateway, so server.max_in_flight
// never trips; the calls it leaves behind go on for Timeout. They are at
// most MaxConcurrent: the requests past it wait for a slot, and give up
// as their own context says.
func TestCallsThatRequestsGaveUpOnAreBounded(t *testing.T) {
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		answer(`{"active":false}`)(w, r)
	})
	defer close(release) // before the server's Close, which waits for the handlers
	o := options(s.endpoint())
	o.Timeout = time.Minute // no call ends during the test
	c := mustNew(t, o)

	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, err := c.Introspect(ctx, fmt.Sprintf("flood-token-%04d-xxxxxxxxxxxxxxxx", i))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("request %d: err = %v, want its own deadline, not ErrUnavailable", i, err)
		}
	}
	// No call ends before the test does: those in flight now are every
	// call it started.
	n := c.Flights()
	if n > introspect.DefaultMaxConcurrent {
		t.Fatalf("%d calls in flight after 200 abandoned requests, want at most MaxConcurrent (%d)", n, introspect.DefaultMaxConcurrent)
	}
	waitFor(t, func() bool { return inFlight.Load() == int64(n) })
	if got := peak.Load(); got > introspect.DefaultMaxConcurrent {
		t.Errorf("the endpoint saw %d concurrent introspection calls, want at most %d", got, introspect.DefaultMaxConcurrent)
	}
}

// A request that finds every slot taken waits for one, and gets its answer
// when a call ends.
func TestARequestWaitingForASlotIsAnsweredWhenOneFrees(t *testing.T) {
	release := newGate()
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.PostForm.Get("token"), "slow") {
			<-release.C
		}
		answer(`{"active":true}`)(w, r)
	})
	t.Cleanup(release.Open)
	o := options(s.endpoint())
	o.MaxConcurrent = 1
	o.Timeout = 10 * time.Second // the wait ends when the slot frees, not at Timeout
	c := mustNew(t, o)

	slow := introspectAsync(c, "slow-token-0123456789abcdef")
	waitFor(t, func() bool { return s.calls.Load() == 1 })
	waiting := introspectAsync(c, "waiting-token-0123456789abcdef")
	waitFor(t, func() bool { return c.Queued() == 1 })
	if n := s.calls.Load(); n != 1 {
		t.Fatalf("%d calls with MaxConcurrent 1, want 1", n)
	}

	release.Open()
	for name, res := range map[string]chan result{"the slow request": slow, "the waiting request": waiting} {
		if r := <-res; r.err != nil || !r.resp.Active {
			t.Errorf("%s: %+v, %v; want active", name, r.resp, r.err)
		}
	}
	if n := s.calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

// Requests for one token that waited for a slot never ask twice: the one
// that gets a slot second finds the call the first started, or the answer
// it cached, and gives its slot back.
func TestRequestsForOneTokenThatWaitedForASlotShareOneCall(t *testing.T) {
	const shared = "shared-token-0123456789abcdef"
	tests := []struct {
		name string
		// slots is MaxConcurrent, each held by a blocker while the two
		// requests for the shared token queue.
		slots int
		// sharedBlocks holds the shared call until the end, so that the
		// second request can only join it (else it answers at once, so
		// that the second can only find its answer cached).
		sharedBlocks bool
	}{
		{name: "the second finds the call the first started", slots: 2, sharedBlocks: true},
		{name: "the second finds the answer the first's call cached", slots: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			releases := map[string]*gate{shared: newGate()}
			for i := range tt.slots {
				releases[fmt.Sprintf("blocker-%d-0123456789abcdef", i)] = newGate()
			}
			var sharedCalls atomic.Int64
			s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
				tok := r.PostForm.Get("token")
				if tok == shared {
					sharedCalls.Add(1)
					if !tt.sharedBlocks {
						answer(`{"active":true}`)(w, r)
						return
					}
				}
				<-releases[tok].C
				answer(`{"active":true}`)(w, r)
			})
			for _, g := range releases {
				t.Cleanup(g.Open)
			}
			o := options(s.endpoint())
			o.MaxConcurrent = tt.slots
			o.Timeout = time.Minute
			c := mustNew(t, o)

			var blockers []chan result
			for i := range tt.slots {
				blockers = append(blockers, introspectAsync(c, fmt.Sprintf("blocker-%d-0123456789abcdef", i)))
			}
			waitFor(t, func() bool { return s.calls.Load() == int64(tt.slots) })
			first, second := introspectAsync(c, shared), introspectAsync(c, shared)
			waitFor(t, func() bool { return c.Queued() == 2 })

			// Each blocker that ends frees one slot for one of the two.
			for i := range tt.slots {
				releases[fmt.Sprintf("blocker-%d-0123456789abcdef", i)].Open()
				if r := <-blockers[i]; r.err != nil {
					t.Fatal(r.err)
				}
			}
			if tt.sharedBlocks {
				waitFor(t, func() bool { return c.Waiting(shared) == 2 })
			}
			releases[shared].Open()
			for _, res := range []chan result{first, second} {
				if r := <-res; r.err != nil || !r.resp.Active {
					t.Errorf("a request for the shared token: %+v, %v; want active", r.resp, r.err)
				}
			}
			if n := sharedCalls.Load(); n != 1 {
				t.Errorf("%d calls for the shared token, want 1", n)
			}
		})
	}
}

// A request that gets no slot within Timeout fails closed, as an endpoint
// that does not answer does, without a call; the slot's call ending frees
// it for the next request.
func TestARequestThatGetsNoSlotWithinTimeoutIsUnavailable(t *testing.T) {
	s := newIDP(t, answer(`{"active":true}`))
	// The transport holds the first call past Timeout, as one that does
	// not honour the request's context would: the slot stays taken.
	release := newGate()
	t.Cleanup(release.Open)
	var calls atomic.Int64
	o := options(s.endpoint())
	o.MaxConcurrent = 1
	o.Timeout = 100 * time.Millisecond
	m := metrics.NewIntrospection()
	o.Metrics = m
	o.Client = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if calls.Add(1) == 1 {
			<-release.C
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := mustNew(t, o)

	held := introspectAsync(c, "held-token-0123456789abcdef")
	waitFor(t, func() bool { return calls.Load() == 1 })
	// Its own deadline is far: only Timeout can end its wait.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Introspect(ctx, "refused-token-0123456789abcdef")
	if !errors.Is(err, introspect.ErrUnavailable) || !strings.Contains(err.Error(), "too many introspection calls in flight") {
		t.Fatalf("err = %v, want ErrUnavailable: too many introspection calls in flight", err)
	}
	assertNoSecrets(t, err.Error())
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1: the refused request called", n)
	}
	// Counted where alerts look, as overloaded: no call was made.
	for result, want := range map[string]float64{metrics.IntrospectionOverloaded: 1, metrics.IntrospectionError: 0} {
		if got := testutil.ToFloat64(m.Requests.WithLabelValues("idp", result)); got != want {
			t.Errorf("portcullis_introspection_requests_total{result=%q} = %v, want %v", result, got, want)
		}
	}

	release.Open()
	<-held
	if r, err := c.Introspect(ctx, "next-token-0123456789abcdef"); err != nil || !r.Active {
		t.Errorf("after the call ended: %+v, %v; want active", r, err)
	}
}

// gate holds an endpoint's answers until the test opens it, which it does
// at the latest in a cleanup registered after the server's: a test that
// fails does not leave handlers blocked, which the server's Close waits for.
type gate struct {
	C    chan struct{}
	once sync.Once
}

func newGate() *gate { return &gate{C: make(chan struct{})} }

func (g *gate) Open() { g.once.Do(func() { close(g.C) }) }

// result is what one Introspect returned.
type result struct {
	resp introspect.Response
	err  error
}

// introspectAsync asks about token in a goroutine of its own.
func introspectAsync(c *introspect.Client, token string) chan result {
	res := make(chan result, 1)
	go func() {
		r, err := c.Introspect(context.Background(), token)
		res <- result{r, err}
	}()
	return res
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
