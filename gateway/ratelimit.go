package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/ratelimit"
	"github.com/portcullis/portcullis/remote"
)

// rateLimits are the process's rate-limit counters: built once, from the
// first configuration's rate_limit_store, and handed to every runtime, so
// that a reload neither resets a quota nor reconnects. Changing
// rate_limit_store needs a restart (needsRestart).
type rateLimits struct {
	store ratelimit.Store  // what runtimes spend against
	redis *ratelimit.Redis // nil without a shared store
	// healthy is whether the last call to Redis succeeded, so that only a
	// change is logged, not every failed call.
	healthy atomic.Bool
}

// newRateLimits builds the store of cfg: a Local store alone, or Redis
// guarded by on_store_error with a Local store as its fallback. explain
// (g.dryRun) never touches a shared store: a dry run must not spend
// anyone's quota.
func (g *Gateway) newRateLimits(cfg config.RateLimitStore) (*rateLimits, error) {
	local := ratelimit.NewLocal(ratelimit.LocalOptions{})
	rl := &rateLimits{store: local}
	rl.healthy.Store(true)
	if !cfg.Enabled() || g.dryRun {
		return rl, nil
	}
	opts := ratelimit.RedisOptions{URL: cfg.URL, Timeout: cfg.Timeout.D()}
	if cfg.PasswordFile != "" {
		pw, err := remote.SecretFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("rate_limit_store.password_file: %w", err)
		}
		opts.Password = pw
	}
	if cfg.TLS.Enabled() {
		t, err := storeTLS(cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("rate_limit_store.tls: %w", err)
		}
		opts.TLS = t
	}
	r, err := ratelimit.NewRedis(opts)
	if err != nil {
		return nil, fmt.Errorf("rate_limit_store.url: %w", err)
	}
	rl.redis = r
	log := g.log
	ratelimit.SetDriverLog(func(msg string) { log.Debug("redis driver", zap.String("message", msg)) })
	rl.store = ratelimit.NewGuarded(r, ratelimit.OnError(cfg.OnStoreError), local, ratelimit.Hooks{
		StoreCall: func(d time.Duration, err error) {
			g.metrics.RateLimitStoreCall(d, err)
			rl.observe(g.log, err, cfg.OnStoreError)
		},
		Fallback: func(mode ratelimit.OnError) { g.metrics.RateLimitFallback(string(mode)) },
	})
	return rl, nil
}

// observe logs the store's changes of health: the first failure after a
// success, and the first success after a failure.
func (rl *rateLimits) observe(log *zap.Logger, err error, onError string) {
	ok := err == nil
	// A load first: this runs on every store call, and a swap that
	// changes nothing would still write the shared cache line each time.
	if rl.healthy.Load() == ok || rl.healthy.Swap(ok) == ok {
		return
	}
	if ok {
		log.Info("rate-limit store answers again: limits are shared across instances")
		return
	}
	log.Warn("rate-limit store failed: limits fall back to on_store_error until it answers",
		zap.String("on_store_error", onError), zap.Error(err))
}

// ping checks once that Redis answers, and says so in the log. A store
// that does not answer does not stop the gateway, nor keep /readyz from
// answering 200: on_store_error is what the operator chose for that.
func (rl *rateLimits) ping(ctx context.Context, log *zap.Logger) {
	if rl.redis == nil {
		return
	}
	if err := rl.redis.Ping(ctx); err != nil {
		rl.healthy.Store(false)
		log.Warn("rate-limit store does not answer at start: limits fall back to on_store_error until it does", zap.Error(err))
		return
	}
	log.Info("rate-limit store answers")
}

// close closes the connections to Redis.
func (rl *rateLimits) close() {
	if rl != nil && rl.redis != nil {
		_ = rl.redis.Close()
	}
}

// storeTLS is the client TLS configuration of rate_limit_store.tls, built
// as routes' upstream TLS is: remote.TLSConfig for the files, then the
// server name and the acknowledged skip of verification.
func storeTLS(t config.UpstreamTLS) (*tls.Config, error) {
	c, err := remote.TLSConfig(t.CAFile, t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	c.ServerName = t.ServerName
	c.InsecureSkipVerify = t.InsecureSkipVerify && t.InsecureSkipVerifyAcknowledged
	return c, nil
}
