package jwks

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/remote"
)

// fetchTimeout bounds one whole fetch (discovery, the key set, and a
// re-discovery when the key set fails), whatever the client's own timeouts,
// so that nobody waiting on a fetch can wait longer than this.
const fetchTimeout = 30 * time.Second

// errTooSoon: a refetch was refused because the last attempt is more recent
// than MinRefreshInterval.
var errTooSoon = errors.New("jwks: refetch not allowed yet")

// run is the background loop of Start.
func (k *KeySet) run(ctx context.Context) {
	remote.Poll(ctx, k.src.RefreshInterval, func(ctx context.Context) error {
		return k.refetch(ctx, ctx, false)
	})
}

// refetch joins the shared fetch in progress, or starts one. When limited
// (a request asking), it starts one only if the last attempt of any kind
// began at least MinRefreshInterval ago, and answers errTooSoon otherwise:
// this is what keeps tokens with made-up kids from turning the gateway into
// a load generator against the identity provider. The fetch runs under base
// (bounded by fetchTimeout), not under ctx: it is shared, and one caller
// giving up must not fail it for the others. ctx bounds only this caller's
// wait.
//
// The decision to start or join and the reservation of the attempt are made
// under one lock, so that N concurrent callers cause exactly one fetch. Each
// shared fetch has its own singleflight key, which it clears (under the same
// lock) before it returns: a caller that sees the key set is therefore sure
// to join that very fetch, never to start a second one under an old key.
func (k *KeySet) refetch(ctx, base context.Context, limited bool) error {
	k.mu.Lock()
	key := k.flight
	if key == "" {
		now := k.now()
		if limited && !k.lastAttempt.IsZero() && now.Sub(k.lastAttempt) < k.src.MinRefreshInterval {
			k.mu.Unlock()
			return errTooSoon
		}
		k.generation++
		key = strconv.FormatUint(k.generation, 10)
		k.flight = key
		k.lastAttempt = now
	}
	ch := k.group.DoChan(key, func() (any, error) {
		defer func() {
			k.mu.Lock()
			if k.flight == key {
				k.flight = ""
			}
			k.mu.Unlock()
		}()
		fctx, cancel := context.WithTimeout(base, fetchTimeout)
		defer cancel()
		return nil, k.fetch(fctx)
	})
	k.mu.Unlock()
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch loads the set once and, on success, publishes it. Every attempt is
// recorded in the metrics and the log, and counts for the rate limit.
func (k *KeySet) fetch(ctx context.Context) error {
	select {
	case k.fetchSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-k.fetchSem }()

	k.mu.Lock()
	k.lastAttempt = k.now()
	k.mu.Unlock()

	ctx, span := k.startFetchSpan(ctx)
	snap, uri, err := k.load(ctx)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		// Stopped: a reload replaced or removed this set. Nothing failed,
		// and the issuer's series are another set's by now, or gone.
		endFetchSpan(span, 0, err)
		return err
	}
	if err == nil {
		snap.fetched = k.now()
		snap.version = 1
		if prev := k.current.Load(); prev != nil {
			snap.version = prev.version
			if prev.fingerprint != snap.fingerprint {
				snap.version++
			}
		}
		k.current.Store(snap)
	}
	var (
		n    int
		last time.Time
	)
	if cur := k.current.Load(); cur != nil {
		n, last = len(cur.keys), cur.fetched
	}
	k.m.JWKSRefreshed(k.src.Issuer, err, n, last)
	endFetchSpan(span, n, err)
	if err != nil {
		if last.IsZero() {
			// Nothing was ever loaded: there is no good set to serve, and
			// the issuer's tokens get 503 until a fetch succeeds.
			k.log.Warn("jwks fetch failed; no key set was ever loaded, so this issuer's tokens are refused with 503 until one is",
				zap.Error(err))
			return err
		}
		k.log.Warn("jwks fetch failed; serving the last good set",
			zap.Error(err), zap.Int("keys", n), zap.Time("last_success", last))
		return err
	}
	kids := make([]string, 0, len(snap.keys))
	for _, key := range snap.keys {
		kids = append(kids, remote.Clip(key.KeyID()))
	}
	k.log.Info("jwks loaded", zap.String("jwks_uri", uri), zap.Int("keys", n), zap.Strings("kids", kids))
	return nil
}

// Republish sets the issuer's key gauges from the set this one serves: a
// refused reload's set for the same issuer may have written over them.
func (k *KeySet) Republish() {
	if cur := k.current.Load(); cur != nil {
		k.m.JWKSServing(k.src.Issuer, len(cur.keys), cur.fetched)
	}
}
