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

// Flights is how many calls are in flight.
func (c *Client) Flights() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.flights)
}

// Queued is how many requests wait for a slot to start a call.
func (c *Client) Queued() int { return int(c.queued.Load()) }
