package introspect

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/portcullis/portcullis/metrics"
)

// tokenHash keys the cache and the calls in flight: SHA-256 of the token.
// The token itself is never stored, so a heap dump of the gateway holds no
// usable token, and two tokens share an entry only if they collide in
// SHA-256.
type tokenHash [sha256.Size]byte

// evictionSample is how many entries a full cache looks at to choose the one
// to drop.
const evictionSample = 8

// entry is one remembered answer and when it stops being one.
type entry struct {
	resp    Response
	expires time.Time
}

// cache remembers answers, at most max of them.
//
// It is a map with an expiry per entry, not an LRU: a hit takes only the
// read lock and moves nothing, so concurrent hits do not queue on one
// another, and it allocates nothing. When the map is full, a new answer
// evicts from a sample of evictionSample arbitrary entries (Go randomizes
// where a map's iteration starts) every one that has expired, or else the
// one that expires first. The bound is therefore hard, whatever arrives: a
// flood of one-shot tokens cannot grow memory past max. What the sample
// gives up against an LRU is that such a flood also evicts tokens that are
// in use; each of those then costs one more call, and answers live for a
// minute at most anyway. Expired entries are dropped when they are looked
// up or sampled: none outlives its bound for long in a full cache, and one
// that is not full may keep them, within max.
type cache struct {
	mu      sync.RWMutex
	entries map[tokenHash]entry
	max     int
	m       *metrics.IntrospectionIssuer
}

func newCache(max int, m *metrics.IntrospectionIssuer) *cache {
	return &cache{entries: make(map[tokenHash]entry), max: max, m: m}
}

// publish sets the cache's gauge to its size. A nil cache holds nothing.
func (c *cache) publish() {
	if c == nil {
		return
	}
	c.mu.RLock()
	n := len(c.entries)
	c.mu.RUnlock()
	c.m.CacheEntries(n)
}

// get returns the answer remembered for h, if it still holds at now. A nil
// cache holds nothing.
func (c *cache) get(h tokenHash, now time.Time) (Response, bool) {
	if c == nil {
		return Response{}, false
	}
	c.mu.RLock()
	e, ok := c.entries[h]
	c.mu.RUnlock()
	if !ok {
		return Response{}, false
	}
	if now.Before(e.expires) {
		return e.resp, true
	}
	c.mu.Lock()
	if e, ok := c.entries[h]; ok && !now.Before(e.expires) {
		delete(c.entries, h)
		c.m.CacheEntries(len(c.entries))
	}
	c.mu.Unlock()
	return Response{}, false
}

// put remembers r for h until expires, making room first when the cache is
// full.
func (c *cache) put(h tokenHash, r Response, expires, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[h]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[h] = entry{resp: r, expires: expires}
	c.m.CacheEntries(len(c.entries))
}

// evict drops the expired entries of a sample, or else its entry that
// expires first. It is called with c.mu held, on a full cache, so it always
// drops at least one.
func (c *cache) evict(now time.Time) {
	var (
		soonest         tokenHash
		soonestAt       time.Time
		seen            int
		dropped, living bool
	)
	for h, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, h)
			dropped = true
		} else if !living || e.expires.Before(soonestAt) {
			soonest, soonestAt, living = h, e.expires, true
		}
		if seen++; seen == evictionSample {
			break
		}
	}
	if !dropped && living {
		delete(c.entries, soonest)
	}
}

// len is how many answers the cache holds, expired ones included.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
