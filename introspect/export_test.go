package introspect

import (
	"crypto/sha256"
)

// Waiting is how many requests wait for the call in flight for token.
func (c *Client) Waiting(token string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[sha256.Sum256([]byte(token))]; ok {
		return f.waiting
	}
	return 0
}

// CacheLen is how many answers the cache holds.
func (c *Client) CacheLen() int { return c.cache.len() }
