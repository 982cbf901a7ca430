// Package introspect asks an issuer's authorization server whether an opaque
// access token is active (OAuth 2.0 Token Introspection, RFC 7662), and
// remembers the answer for a short while.
//
// It is its own top-level package because an opaque token is verified by
// asking, not with keys: token/ checks JWS signatures and jwks/ holds the
// keys for them, and neither has anything to say about a token that is just
// a random string. Like token/, this package is one stage with one entry
// point, Client.Introspect, that returns a plain value: the answer's members
// as claims, decoded exactly as token/ decodes a JWT payload, so that the
// gateway's claim policy reads both alike. Deciding what an active token may
// do is the policy's job, not this package's.
//
// It must never log or return the token or the client secret (errors carry
// a status code and a sanitized snippet at most), never cache an error (an
// endpoint that fails is asked again by the next request), never follow
// a redirect (the request carries the token and the client's credentials,
// and a redirect would carry them wherever the server points), and never
// hold more than Options.MaxConcurrent calls to the server at once (a call
// outlives the requests that gave up on it, so the gateway's own bound on
// requests does not bound calls).
//
// One concern a file: introspect.go is Introspect, the hot path, and the
// sharing of one call among concurrent requests and of the server among
// calls; options.go validates the configuration; request.go finds the
// endpoint, authenticates the client and makes the call; response.go reads
// and judges the answer; cache.go remembers answers; log.go says why calls
// fail.
package introspect

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/portcullis/portcullis/metrics"
)

// MaxLength is the longest token sent to the authorization server, the same
// bound token/ applies to JWTs. A longer one is refused with ErrMalformed
// without a call, so that a client cannot make the gateway post megabytes.
const MaxLength = 8 << 10

// ErrUnavailable is every failure of the introspection endpoint: it could not
// be found or reached, it did not answer within the timeout, it answered
// with a status other than 200, or its answer was not a JSON object with a
// boolean "active". Such a token is neither active nor inactive: the gateway
// does not know. Returned errors wrap it, with detail that is safe to log.
var ErrUnavailable = errors.New("introspect: introspection endpoint unavailable")

// ErrMalformed is a token that is not asked about at all: empty, or longer
// than MaxLength.
var ErrMalformed = errors.New("introspect: token is empty or too long to introspect")

// Response is the authorization server's answer about one token. It may be
// shared by every request that presents the same token (the cache hands out
// the same Claims map): never modify it.
type Response struct {
	// Active is the answer's "active" member.
	Active bool
	// Claims are every member of an active answer (active, scope, client_id,
	// username, exp, sub, aud, iss and any extension), decoded with
	// json.Number for numbers. Nil when the token is not active: the other
	// members of such an answer are not to be trusted (RFC 7662 §2.2).
	Claims map[string]any
	// Expiry is the answer's exp, zero when absent.
	Expiry time.Time
}

// Client introspects the tokens of one issuer. It is safe for concurrent use.
type Client struct {
	issuer  string
	timeout time.Duration
	now     func() time.Time
	m       *metrics.IntrospectionIssuer

	// What request.go needs to make a call.
	endpoint  atomic.Pointer[string] // nil until known
	resolve   func(context.Context) (string, error)
	resolving chan struct{} // one Resolve at a time
	auth      authenticator
	http      *http.Client
	hidden    []string // the secret as it may be echoed: cut out of error snippets

	// What the cache remembers, and for how long.
	cache       *cache // nil: caching is off
	activeTTL   time.Duration
	negativeTTL time.Duration

	// slots holds a token for each call in flight: a request takes one
	// before it starts a call, and the call gives it back when it ends.
	slots  chan struct{}
	queued atomic.Int64 // requests waiting for a slot (tests watch it)

	failures *failureLog // nil: failures are not logged

	mu      sync.Mutex
	flights map[tokenHash]*flight
}

// flight is one call to the endpoint, shared by every request for the same
// token that arrives while it is in progress.
type flight struct {
	done    chan struct{} // closed when resp and err are set
	resp    Response
	err     error
	waiting int // requests waiting for it, under Client.mu (tests watch it)
}

// Introspect returns what the authorization server says of token: a Response
// whose Active tells, or an error wrapping ErrUnavailable when it could not
// be asked, ErrMalformed for a token not worth asking about, or ctx's error
// when ctx ended first.
//
// Concurrent requests for the same token share one call. That call runs
// under its own context, bounded by Options.Timeout: a request whose ctx
// ends stops waiting, but the call goes on for the others, and its answer is
// cached for the next. At most Options.MaxConcurrent calls run at once: a
// request that would start one more waits for one to end, within its ctx
// and at most Options.Timeout, and otherwise fails with ErrUnavailable.
func (c *Client) Introspect(ctx context.Context, token string) (Response, error) {
	if token == "" || len(token) > MaxLength {
		return Response{}, ErrMalformed
	}
	// The string's bytes are hashed in place: Sum256 only reads them.
	h := tokenHash(sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token))))
	if r, ok := c.cache.get(h, c.now()); ok {
		c.m.CacheHit()
		return r, nil
	}
	c.m.CacheMiss()
	if err := ctx.Err(); err != nil {
		return Response{}, c.stopped(err)
	}

	c.mu.Lock()
	f, ok := c.flights[h]
	if !ok {
		// Looked up again under the lock: a flight caches its answer before
		// it leaves c.flights, so a request that finds no flight here finds
		// the answer of the last one, and never asks twice.
		if r, ok := c.cache.get(h, c.now()); ok {
			c.mu.Unlock()
			return r, nil
		}
		c.mu.Unlock()
		if err := c.takeSlot(ctx); err != nil {
			return Response{}, err
		}
		// Both looked up again: while this request waited for its slot,
		// another may have started the flight, or ended it and cached its
		// answer.
		c.mu.Lock()
		f, ok = c.flights[h]
		if !ok {
			if r, ok := c.cache.get(h, c.now()); ok {
				c.mu.Unlock()
				<-c.slots
				return r, nil
			}
			f = &flight{done: make(chan struct{})}
			c.flights[h] = f
			// The flight owns the slot from here, and gives it back.
			go c.fly(context.WithoutCancel(ctx), h, token, f)
		} else {
			<-c.slots
		}
	}
	f.waiting++
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.resp, f.err
	case <-ctx.Done():
		c.mu.Lock()
		f.waiting--
		c.mu.Unlock()
		return Response{}, c.stopped(ctx.Err())
	}
}

// PublishSize sets the issuer's cache gauge to this client's cache size: a
// reload that replaced the issuer's client (and its cache) must not leave
// the old one's count standing, since both publish under the issuer's name.
func (c *Client) PublishSize() { c.cache.publish() }

// takeSlot takes one of the slots of the calls in flight, for a call the
// request is about to start. When every slot is taken it waits for one, as
// long as ctx lasts and at most Timeout: the request is the one waiting, so
// waiting requests are bounded by the gateway's bound on requests, and no
// goroutine waits on their behalf.
func (c *Client) takeSlot(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	c.queued.Add(1)
	defer c.queued.Add(-1)
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return c.stopped(ctx.Err())
	case <-t.C:
		err := c.unavailable("too many introspection calls in flight: none of the %d (max_concurrent) ended within %v", cap(c.slots), c.timeout)
		c.m.Overloaded()
		c.failures.failed(err)
		return err
	}
}

// fly makes the shared call of f and publishes its answer: first to the
// cache, then to its waiters; then it gives back the slot its request took.
// base carries the first request's values but not its cancellation.
func (c *Client) fly(base context.Context, h tokenHash, token string, f *flight) {
	// Given back last, once the answer is cached and f gone from
	// c.flights: a request for the same token that waited for a slot
	// finds the cached answer, never a flight that is over.
	defer func() { <-c.slots }()
	ctx, cancel := context.WithTimeout(base, c.timeout)
	defer cancel()
	start := time.Now()
	resp, err := c.ask(ctx, token)
	result := metrics.IntrospectionError
	switch {
	case err != nil:
	case resp.Active:
		result = metrics.IntrospectionActive
	default:
		result = metrics.IntrospectionInactive
	}
	c.m.Called(result, time.Since(start))
	if err == nil {
		c.remember(h, resp)
	} else {
		c.failures.failed(err)
	}
	c.mu.Lock()
	delete(c.flights, h)
	f.resp, f.err = resp, err
	c.mu.Unlock()
	close(f.done)
}

// remember caches an answer: an active one until CacheTTL or its exp,
// whichever comes first (one whose exp has passed is not cached at all), an
// inactive one for NegativeTTL.
func (c *Client) remember(h tokenHash, r Response) {
	now := c.now()
	ttl := c.negativeTTL
	if r.Active {
		ttl = c.activeTTL
	}
	if ttl <= 0 {
		return
	}
	expires := now.Add(ttl)
	if r.Active && !r.Expiry.IsZero() && r.Expiry.Before(expires) {
		expires = r.Expiry
	}
	if expires.After(now) {
		c.cache.put(h, r, expires, now)
	}
}

// stopped is the error of a request whose own context ended: not the
// endpoint's failure, so it does not wrap ErrUnavailable.
func (c *Client) stopped(err error) error {
	return fmt.Errorf("introspect: issuer %s: stopped waiting: %w", c.issuer, err)
}
