package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

// clock is a settable clock, at a whole microsecond so that Local and Redis
// (which counts in microseconds) compute the same values.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// step is one Take in a scripted sequence, after advancing the clock.
type step struct {
	advance time.Duration
	want    Result
}

// tenPerSecondBurst3 has T = 100ms and a tolerance of 200ms.
var tenPerSecondBurst3 = Limit{Count: 10, Period: time.Second, Burst: 3}

// gcraSequences are the arithmetic of GCRA for one key, as a specification.
var gcraSequences = []struct {
	name  string
	limit Limit
	steps []step
}{
	{
		name:  "an idle key allows a burst, then one request per interval",
		limit: tenPerSecondBurst3,
		steps: []step{
			{0, Result{Allowed: true, Remaining: 2, Reset: 100 * time.Millisecond}},
			{0, Result{Allowed: true, Remaining: 1, Reset: 200 * time.Millisecond}},
			{0, Result{Allowed: true, Remaining: 0, Reset: 300 * time.Millisecond}},
			{0, Result{Allowed: false, Remaining: 0, RetryAfter: 100 * time.Millisecond, Reset: 300 * time.Millisecond}},
			{100 * time.Millisecond, Result{Allowed: true, Remaining: 0, Reset: 300 * time.Millisecond}},
			{50 * time.Millisecond, Result{Allowed: false, RetryAfter: 50 * time.Millisecond, Reset: 250 * time.Millisecond}},
			{50*time.Millisecond - time.Microsecond, Result{Allowed: false, RetryAfter: time.Microsecond, Reset: 200*time.Millisecond + time.Microsecond}},
			{time.Microsecond, Result{Allowed: true, Remaining: 0, Reset: 300 * time.Millisecond}},
		},
	},
	{
		name:  "a key idle for longer than its reset is back to its full burst",
		limit: tenPerSecondBurst3,
		steps: []step{
			{0, Result{Allowed: true, Remaining: 2, Reset: 100 * time.Millisecond}},
			{0, Result{Allowed: true, Remaining: 1, Reset: 200 * time.Millisecond}},
			{time.Hour, Result{Allowed: true, Remaining: 2, Reset: 100 * time.Millisecond}},
		},
	},
	{
		name:  "quota comes back one interval at a time",
		limit: tenPerSecondBurst3,
		steps: []step{
			{0, Result{Allowed: true, Remaining: 2, Reset: 100 * time.Millisecond}},
			{0, Result{Allowed: true, Remaining: 1, Reset: 200 * time.Millisecond}},
			{0, Result{Allowed: true, Remaining: 0, Reset: 300 * time.Millisecond}},
			{250 * time.Millisecond, Result{Allowed: true, Remaining: 1, Reset: 150 * time.Millisecond}},
			{0, Result{Allowed: true, Remaining: 0, Reset: 250 * time.Millisecond}},
		},
	},
	{
		name:  "burst 1 is a steady rate with no burst",
		limit: Limit{Count: 2, Period: time.Second, Burst: 1},
		steps: []step{
			{0, Result{Allowed: true, Remaining: 0, Reset: 500 * time.Millisecond}},
			{499 * time.Millisecond, Result{Allowed: false, RetryAfter: time.Millisecond, Reset: time.Millisecond}},
			{time.Millisecond, Result{Allowed: true, Remaining: 0, Reset: 500 * time.Millisecond}},
			{time.Second, Result{Allowed: true, Remaining: 0, Reset: 500 * time.Millisecond}},
		},
	},
	{
		name:  "a period that does not divide by count is rounded up to whole microseconds",
		limit: Limit{Count: 3, Period: time.Second, Burst: 2},
		steps: []step{
			{0, Result{Allowed: true, Remaining: 1, Reset: 333334 * time.Microsecond}},
			{0, Result{Allowed: true, Remaining: 0, Reset: 666668 * time.Microsecond}},
			{0, Result{Allowed: false, RetryAfter: 333334 * time.Microsecond, Reset: 666668 * time.Microsecond}},
		},
	},
	{
		name:  "a long period with a large burst",
		limit: Limit{Count: 1000, Period: 24 * time.Hour, Burst: 1000},
		steps: []step{
			{0, Result{Allowed: true, Remaining: 999, Reset: 86400 * time.Millisecond}},
			{86400 * time.Millisecond, Result{Allowed: true, Remaining: 999, Reset: 86400 * time.Millisecond}},
		},
	},
}

// runSequences plays gcraSequences against the store a new function makes
// for each, on the clock it is given.
func runSequences(t *testing.T, newStore func(t *testing.T, c *clock) Store) {
	for _, tc := range gcraSequences {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			s := newStore(t, c)
			key := Key("sequence", tc.name)
			for i, st := range tc.steps {
				c.Advance(st.advance)
				got, err := s.Take(context.Background(), []Request{{Key: key, Limit: tc.limit}})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if len(got) != 1 || got[0] != st.want {
					t.Fatalf("step %d: got %+v, want %+v", i, got, st.want)
				}
			}
		})
	}
}

func TestLocalGCRA(t *testing.T) {
	runSequences(t, func(t *testing.T, c *clock) Store {
		return NewLocal(LocalOptions{Now: c.Now})
	})
}

// allOrNothing is the specification of Take over several limits.
func allOrNothing(t *testing.T, s Store) {
	ctx := context.Background()
	wide := Request{Key: Key("all-or-nothing", "wide"), Limit: Limit{Count: 5, Period: time.Second, Burst: 5}}
	narrow := Request{Key: Key("all-or-nothing", "narrow"), Limit: Limit{Count: 2, Period: time.Second, Burst: 2}}
	take := func(reqs ...Request) []Result {
		t.Helper()
		got, err := s.Take(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for i, want := range [][2]int64{{4, 1}, {3, 0}} {
		got := take(wide, narrow)
		if !Allowed(got) || got[0].Remaining != want[0] || got[1].Remaining != want[1] {
			t.Fatalf("take %d: got %+v, want allowed with remaining %v", i, got, want)
		}
	}
	got := take(wide, narrow)
	if Allowed(got) {
		t.Fatalf("third take: got %+v, want the narrow limit to refuse", got)
	}
	if !got[0].Allowed || got[0].Remaining != 3 || got[0].RetryAfter != 0 {
		t.Errorf("wide limit of a refused take: got %+v, want allowed, unspent, remaining 3 counting this one", got[0])
	}
	if got[1].Allowed || got[1].RetryAfter != 500*time.Millisecond {
		t.Errorf("narrow limit: got %+v, want refused, retry after 500ms", got[1])
	}
	// The refusal cost nothing under the wide limit.
	if got := take(wide); !got[0].Allowed || got[0].Remaining != 2 {
		t.Errorf("wide alone after the refusal: got %+v, want allowed with remaining 2", got[0])
	}
	// A key given twice in one Take is spent twice.
	twice := Request{Key: Key("all-or-nothing", "twice"), Limit: Limit{Count: 1, Period: time.Second, Burst: 2}}
	if got := take(twice, twice); !Allowed(got) || got[0].Remaining != 1 || got[1].Remaining != 0 {
		t.Errorf("a key twice: got %+v, want both allowed, remaining 1 then 0", got)
	}
	if got := take(twice, twice); Allowed(got) || got[1].Allowed {
		t.Errorf("a spent key twice: got %+v, want refused", got)
	}
}

func TestLocalAllOrNothing(t *testing.T) {
	c := newClock()
	allOrNothing(t, NewLocal(LocalOptions{Now: c.Now}))
}

func TestLocalExactUnderConcurrency(t *testing.T) {
	c := newClock() // frozen: no quota comes back during the test
	l := NewLocal(LocalOptions{Now: c.Now})
	limit := Limit{Count: 1, Period: time.Hour, Burst: 10}
	key := Key("concurrency", "one key")
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 100 {
				got, err := l.Take(context.Background(), []Request{{Key: key, Limit: limit}})
				if err != nil {
					t.Error(err)
					return
				}
				if got[0].Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != limit.Burst {
		t.Errorf("64 goroutines on one key: %d allowed, want exactly the burst, %d", got, limit.Burst)
	}
}

func TestLocalMultiKeyTakesDoNotDeadlock(t *testing.T) {
	c := newClock()
	l := NewLocal(LocalOptions{Now: c.Now}) // 64 shards
	limit := Limit{Count: 1, Period: time.Hour, Burst: 50}
	keys := make([]string, 16)
	for i := range keys {
		keys[i] = Key("deadlock", fmt.Sprint(i))
	}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 200 {
				// Every Take holds all 16 keys, in a different order each time.
				reqs := make([]Request, len(keys))
				for i, j := range r.Perm(len(keys)) {
					reqs[i] = Request{Key: keys[j], Limit: limit}
				}
				got, err := l.Take(context.Background(), reqs)
				if err != nil {
					t.Error(err)
					return
				}
				if Allowed(got) {
					allowed.Add(1)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Takes over the same keys in different orders did not finish: deadlock")
	}
	if got := allowed.Load(); got != limit.Burst {
		t.Errorf("%d Takes allowed, want %d", got, limit.Burst)
	}
}

func TestLocalMaxKeys(t *testing.T) {
	c := newClock()
	l := NewLocal(LocalOptions{MaxKeys: 4, Now: c.Now})
	if l.MaxKeys() != 4 {
		t.Fatalf("MaxKeys() = %d, want 4", l.MaxKeys())
	}
	limit := Limit{Count: 1, Period: time.Second, Burst: 1}
	take := func(value string) Result {
		t.Helper()
		got, err := l.Take(context.Background(), []Request{{Key: Key("max", value), Limit: limit}})
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	for i := range 4 {
		if r := take(fmt.Sprint(i)); !r.Allowed {
			t.Fatalf("key %d of 4: refused", i)
		}
		c.Advance(100 * time.Millisecond)
	}
	// Full of live keys: a new key is refused, no live key is evicted.
	r := take("new")
	if r.Allowed || r.RetryAfter != 600*time.Millisecond {
		t.Fatalf("a new key in a full store: got %+v, want refused until the first key is idle (600ms)", r)
	}
	if r := take("0"); r.Allowed {
		t.Fatalf("key 0, spent and not idle, was evicted: got %+v", r)
	}
	if l.Len() != 4 {
		t.Fatalf("Len() = %d, want 4", l.Len())
	}
	// Once key 0 is idle, it makes room.
	c.Advance(600 * time.Millisecond)
	if r := take("new"); !r.Allowed {
		t.Fatalf("a new key once another is idle: got %+v, want allowed", r)
	}
	if l.Len() > 4 {
		t.Fatalf("Len() = %d, want at most 4", l.Len())
	}
	// Idle keys cost nothing once swept.
	c.Advance(time.Hour)
	l.Sweep()
	if l.Len() != 0 {
		t.Fatalf("Len() after every key went idle and a sweep = %d, want 0", l.Len())
	}
}

func TestLocalDropsIdleKeysAsItGoes(t *testing.T) {
	c := newClock()
	l := NewLocal(LocalOptions{MaxKeys: 1000, Now: c.Now})
	limit := Limit{Count: 10, Period: time.Second, Burst: 5}
	// At most 100 keys are live at once, so a shard that needs room always
	// finds idle keys to drop: no new key may be refused, and none beyond
	// the cap held.
	for i := range 100_000 {
		got, err := l.Take(context.Background(), []Request{{Key: Key("churn", fmt.Sprint(i)), Limit: limit}})
		if err != nil {
			t.Fatal(err)
		}
		if !got[0].Allowed {
			t.Fatalf("key %d, with at most 100 keys live: got %+v, want allowed (idle keys must make room)", i, got[0])
		}
		c.Advance(time.Millisecond) // each key is idle 100ms after its one request
	}
	if n := l.Len(); n > l.MaxKeys() {
		t.Fatalf("Len() = %d, over MaxKeys %d", n, l.MaxKeys())
	}
	got, _ := l.Take(context.Background(), []Request{{Key: Key("churn", "last"), Limit: limit}})
	if !got[0].Allowed {
		t.Fatalf("a new key after churn: got %+v, want allowed (idle keys must make room)", got[0])
	}
}

// TestLocalNeverExceedsTheRate checks GCRA's promise on random traffic: in
// every window of time, at most Burst + window/T requests are allowed.
func TestLocalNeverExceedsTheRate(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 2))
		limit := Limit{Count: 1 + r.Int64N(20), Period: time.Duration(1+r.Int64N(2000)) * time.Millisecond, Burst: 1 + r.Int64N(10)}
		c := newClock()
		l := NewLocal(LocalOptions{Now: c.Now})
		req := []Request{{Key: "k", Limit: limit}}
		T := limit.Interval()
		var allowed []time.Duration
		var elapsed time.Duration
		for range 2000 {
			d := time.Duration(r.Int64N(int64(2 * T))).Truncate(time.Microsecond)
			c.Advance(d)
			elapsed += d
			got, err := l.Take(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Allowed {
				allowed = append(allowed, elapsed)
				continue
			}
			// A refusal is never for longer than one interval.
			if got[0].RetryAfter <= 0 || got[0].RetryAfter > T {
				t.Fatalf("seed %d: refusal with RetryAfter %s, want in (0, %s]", seed, got[0].RetryAfter, T)
			}
		}
		for i := range allowed {
			for j := i; j < len(allowed); j++ {
				window := allowed[j] - allowed[i]
				if n := int64(j - i + 1); n > limit.Burst+int64(window/T) {
					t.Fatalf("seed %d, %+v: %d allowed within %s, more than burst + window/T = %d",
						seed, limit, n, window, limit.Burst+int64(window/T))
				}
			}
		}
	}
}

func TestLocalRetryAfterIsExact(t *testing.T) {
	c := newClock()
	l := NewLocal(LocalOptions{Now: c.Now})
	req := []Request{{Key: "k", Limit: Limit{Count: 7, Period: time.Second, Burst: 4}}}
	for range 1000 {
		got, _ := l.Take(context.Background(), req)
		if got[0].Allowed {
			continue
		}
		wait := got[0].RetryAfter
		c.Advance(wait - time.Microsecond)
		if got, _ := l.Take(context.Background(), req); got[0].Allowed {
			t.Fatalf("allowed 1µs before RetryAfter %s", wait)
		}
		c.Advance(time.Microsecond)
		if got, _ := l.Take(context.Background(), req); !got[0].Allowed {
			t.Fatalf("refused at RetryAfter %s: %+v", wait, got[0])
		}
	}
}

func TestLocalRefusesInvalidLimits(t *testing.T) {
	l := NewLocal(LocalOptions{})
	_, err := l.Take(context.Background(), []Request{{Key: "k", Limit: Limit{Count: 0, Period: time.Second, Burst: 1}}})
	if err == nil || !strings.Contains(err.Error(), "count") {
		t.Fatalf("Take with count 0: err = %v, want an invalid-limit error naming count", err)
	}
}

// TestLocalRemainingCountsTheRequestsLeft checks Remaining against what it
// promises: after an allowed request that reports Remaining r, exactly r
// more are allowed at the same instant.
func TestLocalRemainingCountsTheRequestsLeft(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 3))
		limit := Limit{Count: 1 + r.Int64N(50), Period: time.Duration(1+r.Int64N(5000)) * time.Millisecond, Burst: 1 + r.Int64N(20)}
		c := newClock()
		l := NewLocal(LocalOptions{Now: c.Now})
		req := []Request{{Key: "k", Limit: limit}}
		for range 50 {
			c.Advance(time.Duration(r.Int64N(int64(limit.Interval()) * (limit.Burst + 1))).Truncate(time.Microsecond))
			first, _ := l.Take(context.Background(), req)
			if !first[0].Allowed {
				continue
			}
			var more int64
			for {
				got, _ := l.Take(context.Background(), req)
				if !got[0].Allowed {
					break
				}
				more++
			}
			if more != first[0].Remaining {
				t.Fatalf("seed %d, %+v: Remaining %d, but %d more were allowed", seed, limit, first[0].Remaining, more)
			}
		}
	}
}

// loosenedLimit: a key counted under a strict limit is judged by a looser
// one as soon as the limit changes (a reload that raises it): at worst as a
// key that spent the loose limit's whole burst, waiting one of its
// intervals, never what is left of the strict one's period.
func loosenedLimit(t *testing.T, s Store, c *clock) {
	t.Helper()
	ctx := context.Background()
	key := Key("loosened", "client")
	strict := Limit{Count: 1, Period: 24 * time.Hour, Burst: 1}
	loose := Limit{Count: 1000, Period: time.Second, Burst: 1000}
	if got, err := s.Take(ctx, []Request{{Key: key, Limit: strict}}); err != nil || !got[0].Allowed {
		t.Fatalf("the first request under 1/24h: %+v, %v", got, err)
	}
	if got, err := s.Take(ctx, []Request{{Key: key, Limit: strict}}); err != nil || got[0].Allowed {
		t.Fatalf("the second request under 1/24h: %+v, %v; want refused", got, err)
	}
	got, err := s.Take(ctx, []Request{{Key: key, Limit: loose}})
	if err != nil || (!got[0].Allowed && got[0].RetryAfter > loose.Interval()) {
		t.Fatalf("after the limit was raised to 1000/s: %+v, %v; want a wait of at most %s", got, err, loose.Interval())
	}
	c.Advance(loose.Interval())
	if got, err := s.Take(ctx, []Request{{Key: key, Limit: loose}}); err != nil || !got[0].Allowed {
		t.Fatalf("one interval of 1000/s later: %+v, %v; want allowed", got, err)
	}
}

func TestLocalLoosenedLimit(t *testing.T) {
	c := newClock()
	loosenedLimit(t, NewLocal(LocalOptions{Now: c.Now}), c)
}

// A burst that config accepts is one the stores enforce: config bounds the
// tolerance T*(burst-1) by MaxBurstSpan, and Validate by MaxTolerance (a
// limit it refused would not be applied at all). The largest burst config
// takes at 1/24h must validate, and one more must not.
func TestLimitValidateAgreesWithConfigAtTheBound(t *testing.T) {
	if MaxTolerance != config.MaxBurstSpan {
		t.Fatalf("MaxTolerance %s, config.MaxBurstSpan %s: one bound, written twice", MaxTolerance, config.MaxBurstSpan)
	}
	at := Limit{Count: 1, Period: 24 * time.Hour, Burst: int64(config.MaxBurstSpan/(24*time.Hour)) + 1}
	if _, err := config.Parse([]byte(fmt.Sprintf(`
routes:
  - name: r
    match: {path_prefix: /}
    upstream: "http://127.0.0.1:1"
    auth: {mode: public}
    rate_limit: [{key: client_ip, rate: 1/24h, burst: %d}]
`, at.Burst)), "t.yaml"); err != nil {
		t.Fatalf("config refuses burst %d at 1/24h: %v", at.Burst, err)
	}
	if err := at.Validate(); err != nil {
		t.Errorf("burst %d at 1/24h (tolerance exactly MaxTolerance): %v", at.Burst, err)
	}
	over := at
	over.Burst++
	if err := over.Validate(); err == nil {
		t.Errorf("burst %d at 1/24h: valid, want refused", over.Burst)
	}
}
