package token

import (
	"crypto/sha256"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/metrics"
)

// CacheOptions bound one issuer's verified-token cache.
type CacheOptions struct {
	// MaxEntries bounds the number of tokens remembered; 0 turns it off.
	MaxEntries int
	// MaxTTL bounds how long one verification is remembered.
	MaxTTL time.Duration
}

// tokenHash keys the cache: SHA-256 of the whole compact token. Two tokens
// that differ in any byte (a re-signed payload, another signature, another
// header) never share an entry; finding a collision is finding one for
// SHA-256.
type tokenHash [sha256.Size]byte

// verified is what the cache remembers of a token: the outcome of a full
// verification, never a route's decision. Routes still authorize every
// request, and expiry is checked again on every hit.
type verified struct {
	tok     *Token
	version uint64    // the key set's version when the signature was checked
	expires time.Time // exp + skew; zero when the token has no exp
	nbf     time.Time // nbf - skew; zero when the token has no nbf
}

// cache remembers one issuer's verified tokens. Eviction is otter's
// W-TinyLFU: a new entry is admitted only if it is likely to be used more
// than the one it would evict, so a flood of one-shot tokens cannot push out
// the tokens that clients reuse.
type cache struct {
	entries *otter.Cache[tokenHash, *verified]
	maxTTL  time.Duration

	hits, misses prometheus.Counter
	size         prometheus.Gauge
}

func newCache(issuer string, opts CacheOptions, m *metrics.Metrics) *cache {
	if opts.MaxEntries <= 0 {
		return nil
	}
	if m == nil {
		m = metrics.New()
	}
	c := &cache{
		maxTTL: opts.MaxTTL,
		hits:   m.TokenCacheHits.WithLabelValues(issuer),
		misses: m.TokenCacheMisses.WithLabelValues(issuer),
		size:   m.TokenCacheEntries.WithLabelValues(issuer),
	}
	if c.maxTTL <= 0 {
		c.maxTTL = 5 * time.Minute
	}
	evictions := m.TokenCacheEvictions.WithLabelValues(issuer)
	c.entries = otter.Must(&otter.Options[tokenHash, *verified]{
		MaximumSize: opts.MaxEntries,
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[tokenHash, *verified]) time.Duration {
			ttl := c.maxTTL
			if exp := e.Value.expires; !exp.IsZero() {
				ttl = min(ttl, time.Until(exp))
			}
			return max(ttl, time.Millisecond)
		}),
		OnDeletion: func(e otter.DeletionEvent[tokenHash, *verified]) {
			if e.Cause == otter.CauseOverflow {
				evictions.Inc()
			}
		},
	})
	return c
}

// get returns the remembered verification of the token hashed to h, if it
// still holds: the issuer's keys are those it was verified with (a key that
// left the set takes its tokens with it), and it is within exp and nbf now.
func (c *cache) get(h tokenHash, version uint64, now time.Time) (*Token, bool) {
	e, ok := c.entries.GetIfPresent(h)
	if !ok {
		return nil, false
	}
	if e.version != version || !inTime(e, now) {
		c.entries.Invalidate(h)
		c.size.Set(float64(c.entries.EstimatedSize()))
		return nil, false
	}
	c.hits.Inc()
	return e.tok, true
}

// inTime applies jwx's rules for exp and nbf (whole seconds, skew already
// folded into the bounds).
func inTime(e *verified, now time.Time) bool {
	now = now.Truncate(time.Second)
	if !e.expires.IsZero() && !now.Before(e.expires) {
		return false
	}
	if !e.nbf.IsZero() && now.Before(e.nbf) {
		return false
	}
	return true
}

func (c *cache) put(h tokenHash, e *verified) {
	c.entries.Set(h, e)
	c.size.Set(float64(c.entries.EstimatedSize()))
}

// PublishSizes sets each issuer's token_cache_entries gauge to its cache's
// size: a reload that installs v may have given an issuer a new, empty
// cache, whose gauge would show the old one's count until its first entry.
func (v *Verifier) PublishSizes() {
	for _, is := range v.cached {
		is.cache.size.Set(float64(is.cache.entries.EstimatedSize()))
	}
}
