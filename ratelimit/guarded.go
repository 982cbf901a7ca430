package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// OnError is what a Guarded store does while its shared store fails.
type OnError string

// The fallbacks of a Guarded store.
const (
	// OnErrorAllow lets every request through: availability over limits.
	OnErrorAllow OnError = "allow"
	// OnErrorDeny refuses every request: limits over availability. Every
	// route behind the limit answers 429 until the store is back.
	OnErrorDeny OnError = "deny"
	// OnErrorLocal spends against this process's own Local store: limits
	// hold per instance, so N instances allow up to N times the rate.
	OnErrorLocal OnError = "local"
)

// Valid reports whether m is one of the fallbacks.
func (m OnError) Valid() bool {
	return m == OnErrorAllow || m == OnErrorDeny || m == OnErrorLocal
}

// Hooks observe a Guarded store. Either may be nil. They are called on the
// request path and must be quick.
type Hooks struct {
	// StoreCall is called after every call to the shared store, with its
	// latency and error (nil when it answered); not for a call its caller
	// cancelled, which says nothing about the store.
	StoreCall func(d time.Duration, err error)
	// Fallback is called for every Take answered by the fallback.
	Fallback func(mode OnError)
}

// The back-off of a Guarded store after a failure: the first failure sends
// Takes to the fallback for MinBackoff, each further failed probe doubles it,
// up to MaxBackoff.
const (
	MinBackoff = 250 * time.Millisecond
	MaxBackoff = 5 * time.Second
)

// Guarded is a shared store (Redis) with the operator's fallback when it
// fails: allow (let everything through: results allowed, with Remaining
// Burst-1 and Reset 0, as from an idle key, since the store's state is
// unknown), deny (refuse everything: results not allowed, with a RetryAfter
// until the next probe, at least 1s) or local (spend against the in-process
// store instead).
//
// After a failure it does not make every request wait for the store's
// timeout: it answers from the fallback for MinBackoff, then lets one Take
// probe the store (the others keep using the fallback meanwhile). A probe
// that fails doubles the interval, up to MaxBackoff; one that succeeds
// returns every Take to the store. So it recovers on its own when the store
// comes back, within MaxBackoff.
type Guarded struct {
	shared  Store
	onError OnError
	local   *Local
	hooks   Hooks
	now     func() time.Time

	// retryAt is when the next probe may run, in Unix nanoseconds; 0 while
	// the store is healthy.
	retryAt atomic.Int64
	// probing is held by the one Take that probes.
	probing atomic.Bool
	// failures counts consecutive failed calls; it sets the back-off.
	failures atomic.Int32
}

// NewGuarded guards shared with the fallback onError. local is the store of
// OnErrorLocal; it may be nil for the other modes. An unknown mode, or
// OnErrorLocal without a local store, panics: configuration validates the
// mode at load time.
func NewGuarded(shared Store, onError OnError, local *Local, hooks Hooks) *Guarded {
	if !onError.Valid() {
		panic(fmt.Sprintf("ratelimit: unknown on_error %q", onError))
	}
	if onError == OnErrorLocal && local == nil {
		panic("ratelimit: on_error local needs a local store")
	}
	return &Guarded{shared: shared, onError: onError, local: local, hooks: hooks, now: monotonicNow()}
}

// Take asks the shared store, or the fallback while the store is failing or
// backing off. It returns an error only for an invalid limit or when ctx is
// done before the store answered (the client went away: that is no failure
// of the store).
func (g *Guarded) Take(ctx context.Context, reqs []Request) ([]Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if err := validate(reqs); err != nil {
		return nil, err
	}
	probe := false
	if at := g.retryAt.Load(); at != 0 {
		if g.now().UnixNano() < at || !g.probing.CompareAndSwap(false, true) {
			return g.fallback(ctx, reqs)
		}
		defer g.probing.Store(false)
		probe = true
	}
	start := time.Now()
	results, err := g.shared.Take(ctx, reqs)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		// Cancelled by the caller (the client went away): no verdict on
		// the store, so neither a failure nor a call to report.
		return nil, ctx.Err()
	}
	if g.hooks.StoreCall != nil {
		g.hooks.StoreCall(time.Since(start), err)
	}
	if err == nil {
		if probe {
			g.failures.Store(0)
			g.retryAt.Store(0)
		}
		return results, nil
	}
	switch {
	case probe:
		g.retryAt.Store(g.now().Add(backoff(g.failures.Add(1))).UnixNano())
	case g.retryAt.CompareAndSwap(0, g.now().Add(MinBackoff).UnixNano()):
		// The first failure seen while healthy; the calls that were in
		// flight with it and fail too do not lengthen the back-off.
		g.failures.Store(1)
	}
	return g.fallback(ctx, reqs)
}

// backoff is the interval after n consecutive failures.
func backoff(n int32) time.Duration {
	d := MinBackoff
	for i := int32(1); i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// fallback answers reqs by the operator's choice.
func (g *Guarded) fallback(ctx context.Context, reqs []Request) ([]Result, error) {
	if g.hooks.Fallback != nil {
		g.hooks.Fallback(g.onError)
	}
	switch g.onError {
	case OnErrorLocal:
		return g.local.Take(ctx, reqs)
	case OnErrorDeny:
		wait := time.Second
		if at := g.retryAt.Load(); at != 0 {
			wait = max(time.Duration(at-g.now().UnixNano()), time.Second)
		}
		results := make([]Result, len(reqs))
		for i := range results {
			results[i] = Result{RetryAfter: wait, Reset: wait}
		}
		return results, nil
	default: // OnErrorAllow
		results := make([]Result, len(reqs))
		for i, r := range reqs {
			results[i] = Result{Allowed: true, Remaining: r.Limit.Burst - 1}
		}
		return results, nil
	}
}

// Healthy reports whether the shared store answered the last call (false
// while Guarded is backing off).
func (g *Guarded) Healthy() bool { return g.retryAt.Load() == 0 }
