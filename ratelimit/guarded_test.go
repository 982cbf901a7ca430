package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/ratelimit/redistest"
)

// fakeStore is a shared store that fails while err is set, and blocks while
// block is set, until it is closed.
type fakeStore struct {
	mu    sync.Mutex
	err   error
	block chan struct{}
	calls atomic.Int64
	local *Local
}

func (f *fakeStore) Take(ctx context.Context, reqs []Request) ([]Result, error) {
	f.calls.Add(1)
	f.mu.Lock()
	err, block := f.err, f.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	if err != nil {
		return nil, err
	}
	return f.local.Take(ctx, reqs)
}

func (f *fakeStore) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// hookLog counts what Hooks report.
type hookLog struct {
	calls, failures atomic.Int64
	mu              sync.Mutex
	modes           map[OnError]int
}

func (h *hookLog) hooks() Hooks {
	return Hooks{
		StoreCall: func(_ time.Duration, err error) {
			h.calls.Add(1)
			if err != nil {
				h.failures.Add(1)
			}
		},
		Fallback: func(mode OnError) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.modes == nil {
				h.modes = map[OnError]int{}
			}
			h.modes[mode]++
		},
	}
}

func (h *hookLog) fallbacks(mode OnError) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.modes[mode]
}

var errDown = errors.New("store down")

func TestGuardedBacksOffAndProbes(t *testing.T) {
	c := newClock()
	shared := &fakeStore{local: NewLocal(LocalOptions{Now: c.Now})}
	var log hookLog
	g := NewGuarded(shared, OnErrorAllow, nil, log.hooks())
	g.now = c.Now
	reqs := []Request{{Key: "k", Limit: Limit{Count: 1, Period: time.Hour, Burst: 100}}}
	take := func() {
		t.Helper()
		if _, err := g.Take(context.Background(), reqs); err != nil {
			t.Fatal(err)
		}
	}

	take()
	if shared.calls.Load() != 1 || log.calls.Load() != 1 || !g.Healthy() {
		t.Fatalf("healthy: %d store calls, %d hooked, healthy %v; want 1, 1, true", shared.calls.Load(), log.calls.Load(), g.Healthy())
	}
	shared.fail(errDown)
	take() // fails, falls back, starts backing off
	for range 10 {
		take() // within the back-off: the store is not asked
	}
	if n := shared.calls.Load(); n != 2 {
		t.Fatalf("store called %d times, want 2: no call while backing off", n)
	}
	if n, f := log.calls.Load(), log.failures.Load(); n != 2 || f != 1 {
		t.Fatalf("StoreCall hooked %d calls, %d failed; want 2, 1 failed", n, f)
	}
	if n := log.fallbacks(OnErrorAllow); n != 11 {
		t.Fatalf("%d fallbacks, want 11", n)
	}
	// Each failed probe doubles the back-off, up to MaxBackoff.
	for _, wait := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		before := shared.calls.Load()
		c.Advance(wait - time.Millisecond)
		take()
		if shared.calls.Load() != before {
			t.Fatalf("probed 1ms before the back-off of %s ended", wait)
		}
		c.Advance(time.Millisecond)
		take()
		if shared.calls.Load() != before+1 {
			t.Fatalf("no probe after the back-off of %s", wait)
		}
	}
	// The store is back: the next probe returns every Take to it.
	shared.fail(nil)
	c.Advance(MaxBackoff)
	take()
	if !g.Healthy() {
		t.Fatal("a successful probe did not end the back-off")
	}
	before := shared.calls.Load()
	take()
	take()
	if shared.calls.Load() != before+2 {
		t.Fatal("after recovery, Takes do not reach the store")
	}
	// And a new failure starts again from the shortest back-off.
	shared.fail(errDown)
	take()
	c.Advance(MinBackoff)
	before = shared.calls.Load()
	take()
	if shared.calls.Load() != before+1 {
		t.Fatal("after a recovery, the back-off did not start again from MinBackoff")
	}
}

func TestGuardedProbesOneAtATime(t *testing.T) {
	c := newClock()
	shared := &fakeStore{local: NewLocal(LocalOptions{Now: c.Now})}
	g := NewGuarded(shared, OnErrorDeny, nil, Hooks{})
	g.now = c.Now
	reqs := []Request{{Key: "k", Limit: Limit{Count: 1, Period: time.Hour, Burst: 100}}}
	shared.fail(errDown)
	g.Take(context.Background(), reqs)
	c.Advance(MinBackoff)

	block := make(chan struct{})
	shared.mu.Lock()
	shared.block = block
	shared.mu.Unlock()
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		g.Take(context.Background(), reqs) // the probe, held by the store
	}()
	for shared.calls.Load() != 2 {
		time.Sleep(time.Millisecond)
	}
	// While the probe hangs, the others are answered at once.
	for range 10 {
		got, err := g.Take(context.Background(), reqs)
		if err != nil || got[0].Allowed {
			t.Fatalf("during the probe: %+v, %v; want the deny fallback", got, err)
		}
	}
	if n := shared.calls.Load(); n != 2 {
		t.Fatalf("%d store calls, want 2: only one probe at a time", n)
	}
	close(block)
	<-probed
}

func TestGuardedFallbacks(t *testing.T) {
	limit := Limit{Count: 1, Period: time.Hour, Burst: 3}
	reqs := []Request{{Key: "a", Limit: limit}, {Key: "b", Limit: limit}}
	for _, tc := range []struct {
		mode  OnError
		check func(t *testing.T, i int, got []Result)
	}{
		{OnErrorAllow, func(t *testing.T, i int, got []Result) {
			if !Allowed(got) || got[0].Remaining != 2 {
				t.Errorf("take %d: %+v, want allowed", i, got)
			}
		}},
		{OnErrorDeny, func(t *testing.T, i int, got []Result) {
			for _, r := range got {
				if r.Allowed || r.RetryAfter < time.Second {
					t.Errorf("take %d: %+v, want refused with a RetryAfter of at least 1s", i, got)
				}
			}
		}},
		{OnErrorLocal, func(t *testing.T, i int, got []Result) {
			// The local store enforces the limit itself: 3, then refusals.
			if Allowed(got) != (i < 3) {
				t.Errorf("take %d: %+v, want the local store's answer (burst 3)", i, got)
			}
		}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			c := newClock()
			shared := &fakeStore{local: NewLocal(LocalOptions{Now: c.Now}), err: errDown}
			var log hookLog
			g := NewGuarded(shared, tc.mode, NewLocal(LocalOptions{Now: c.Now}), log.hooks())
			g.now = c.Now
			for i := range 5 {
				got, err := g.Take(context.Background(), reqs)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(reqs) {
					t.Fatalf("%d results for %d requests", len(got), len(reqs))
				}
				tc.check(t, i, got)
			}
			if n := log.fallbacks(tc.mode); n != 5 {
				t.Errorf("%d fallbacks recorded, want 5", n)
			}
		})
	}
}

func TestGuardedCallerCancelIsNotAStoreFailure(t *testing.T) {
	shared := &fakeStore{local: NewLocal(LocalOptions{}), err: context.Canceled}
	calls := 0
	g := NewGuarded(shared, OnErrorAllow, nil, Hooks{StoreCall: func(time.Duration, error) { calls++ }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := g.Take(ctx, []Request{{Key: "k", Limit: Limit{Count: 1, Period: time.Second, Burst: 1}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Take with a cancelled context: %v, want context.Canceled", err)
	}
	if !g.Healthy() {
		t.Fatal("a caller's cancellation started a back-off")
	}
	if calls != 0 {
		t.Errorf("a caller's cancellation was reported as %d store call(s): it says nothing about the store", calls)
	}
}

func TestNewGuardedRefusesBadModes(t *testing.T) {
	for name, f := range map[string]func(){
		"unknown mode":        func() { NewGuarded(&fakeStore{}, "open", nil, Hooks{}) },
		"local without Local": func() { NewGuarded(&fakeStore{}, OnErrorLocal, nil, Hooks{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestGuardedRedisOutage lives through a real outage: Redis killed, the
// fallback answers within the timeout, Redis restarted, Guarded back on it.
func TestGuardedRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	limit := Limit{Count: 1, Period: time.Hour, Burst: 2}
	for _, mode := range []OnError{OnErrorAllow, OnErrorDeny, OnErrorLocal} {
		t.Run(string(mode), func(t *testing.T) {
			m := metrics.New()
			hooks := Hooks{
				StoreCall: m.RateLimitStoreCall,
				Fallback:  func(mode OnError) { m.RateLimitFallback(string(mode)) },
			}
			g := NewGuarded(newRedis(t, RedisOptions{URL: srv.URL, Timeout: 100 * time.Millisecond}), mode, NewLocal(LocalOptions{}), hooks)
			reqs := []Request{{Key: Key("outage", string(mode)), Limit: limit}}
			take := func() ([]Result, time.Duration) {
				t.Helper()
				start := time.Now()
				got, err := g.Take(context.Background(), reqs)
				if err != nil {
					t.Fatal(err)
				}
				return got, time.Since(start)
			}
			for i := range 3 {
				if got, _ := take(); got[0].Allowed != (i < 2) {
					t.Fatalf("take %d with Redis up: %+v", i, got[0])
				}
			}
			srv.Kill()
			got, d := take()
			if d > time.Second {
				t.Fatalf("first Take with Redis down took %s", d)
			}
			switch mode {
			case OnErrorAllow:
				if !got[0].Allowed {
					t.Fatalf("allow fallback refused: %+v", got[0])
				}
			case OnErrorDeny:
				if got[0].Allowed || got[0].RetryAfter <= 0 {
					t.Fatalf("deny fallback: %+v", got[0])
				}
			case OnErrorLocal:
				if !got[0].Allowed || got[0].Remaining != 1 {
					t.Fatalf("local fallback: %+v, want the local store's first answer", got[0])
				}
			}
			// Backing off: the next Takes do not wait for Redis at all.
			_, d = take()
			if d > 50*time.Millisecond {
				t.Fatalf("Take while backing off took %s", d)
			}
			if n := testutil.ToFloat64(m.RateLimitStore.Fallback.WithLabelValues(string(mode))); n != 2 {
				t.Errorf("fallback_total{mode=%s} = %v, want 2", mode, n)
			}
			if n := testutil.ToFloat64(m.RateLimitStore.StoreRequests.WithLabelValues("ok")); n != 3 {
				t.Errorf("store_requests_total{result=ok} = %v, want 3", n)
			}

			srv.Restart()
			deadline := time.Now().Add(2 * MaxBackoff)
			for !g.Healthy() || testutil.ToFloat64(m.RateLimitStore.StoreRequests.WithLabelValues("ok")) < 4 {
				if time.Now().After(deadline) {
					t.Fatalf("Guarded did not return to Redis within %s of its restart", 2*MaxBackoff)
				}
				take()
				time.Sleep(20 * time.Millisecond)
			}
			// Redis restarted empty: its answers are its own again.
			if got, _ := take(); !got[0].Allowed || !g.Healthy() {
				t.Fatalf("after recovery: %+v", got[0])
			}
		})
	}
}

func TestGuardedRedisHungTimesOutToTheFallback(t *testing.T) {
	srv := redistest.Start(t)
	m := metrics.New()
	hooks := Hooks{StoreCall: m.RateLimitStoreCall, Fallback: func(mode OnError) { m.RateLimitFallback(string(mode)) }}
	g := NewGuarded(newRedis(t, RedisOptions{URL: srv.URL, Timeout: 100 * time.Millisecond}), OnErrorDeny, nil, hooks)
	reqs := []Request{{Key: Key("hung", "guarded"), Limit: Limit{Count: 1, Period: time.Second, Burst: 5}}}
	if _, err := g.Take(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(time.Second, "CLIENT", "PAUSE", "1500", "ALL"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := g.Take(context.Background(), reqs)
	if d := time.Since(start); d > 600*time.Millisecond {
		t.Fatalf("Take with Redis paused took %s, want about the timeout", d)
	}
	if err != nil || got[0].Allowed {
		t.Fatalf("Take with Redis paused: %+v, %v; want the deny fallback", got, err)
	}
	if n := testutil.ToFloat64(m.RateLimitStore.StoreRequests.WithLabelValues("timeout")); n != 1 {
		t.Errorf("store_requests_total{result=timeout} = %v, want 1", n)
	}
	if n := testutil.ToFloat64(m.RateLimitStore.Fallback.WithLabelValues("deny")); n != 1 {
		t.Errorf("fallback_total{mode=deny} = %v, want 1", n)
	}
}
