package remote

import (
	"context"
	"math/rand/v2"
	"time"
)

// MaxBackoff caps the retry delay after failures (the refresh interval caps
// it too, when shorter): a source that comes back is noticed within a
// minute.
const MaxBackoff = time.Minute

// Poll calls fetch at once and then keeps calling it until ctx is done: every
// interval after a success; after a failure 1s, 2s, 4s and so on, up to the
// smaller of interval and MaxBackoff. Every wait is jittered by ±10% so that
// many gateways restarted together do not fetch in lockstep. It returns when
// ctx is done, without waiting out the current wait.
//
// fetch runs under ctx; bounding one attempt is fetch's own business.
func Poll(ctx context.Context, interval time.Duration, fetch func(context.Context) error) {
	failures := 0
	for {
		err := fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := interval
		if err != nil {
			wait = backoff(failures, min(interval, MaxBackoff))
			failures++
		} else {
			failures = 0
		}
		t := time.NewTimer(jitter(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is the delay after failures consecutive failures before this one:
// 1s, 2s, 4s ... up to limit.
func backoff(failures int, limit time.Duration) time.Duration {
	return min(time.Second<<min(failures, 16), limit)
}

// jitter spreads d by ±10%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
