package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Limit is one rate: Count requests per Period, with bursts of up to Burst at
// once from idle (Burst >= 1).
type Limit struct {
	Count  int64
	Period time.Duration
	Burst  int64
}

// MaxTolerance bounds a limit's Period/Count*Burst, the span of time one key's
// state covers. It keeps every value the stores compute, in nanoseconds here
// and in microseconds in Redis's Lua (whose numbers are doubles, exact below
// 2^53), far from overflow. A limit that needs more is a configuration error.
const MaxTolerance = 366 * 24 * time.Hour

// ErrInvalidLimit is the reason of every error Validate returns.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// Validate reports whether the stores can enforce l. Configuration should
// call it at load time: Take refuses a request with an invalid limit with an
// error, which is too late to tell an operator anything useful.
func (l Limit) Validate() error {
	switch {
	case l.Count < 1:
		return fmt.Errorf("%w: count must be at least 1, got %d", ErrInvalidLimit, l.Count)
	case l.Period <= 0:
		return fmt.Errorf("%w: period must be positive, got %s", ErrInvalidLimit, l.Period)
	case l.Burst < 1:
		return fmt.Errorf("%w: burst must be at least 1, got %d", ErrInvalidLimit, l.Burst)
	}
	if l.Period/time.Duration(l.Count) < time.Microsecond {
		return fmt.Errorf("%w: %d per %s is more than one request per microsecond", ErrInvalidLimit, l.Count, l.Period)
	}
	t := l.Interval()
	// The tolerance, T*(Burst-1), is what must stay within MaxTolerance:
	// config bounds the same product, and a limit it accepts must never
	// be refused here (Take would then not apply it at all).
	if l.Burst-1 > int64(MaxTolerance/t) {
		return fmt.Errorf("%w: burst %d at %d per %s spans more than %s", ErrInvalidLimit, l.Burst, l.Count, l.Period, MaxTolerance)
	}
	return nil
}

// monotonicNow is a clock that moves with the monotonic one: the wall time
// at its making plus the time since, so that a step of the wall clock (an
// NTP correction, a VM resumed) moves no counter. Read through UnixNano, as
// the stores do, time.Now would lose the monotonic reading: a step back of
// an hour would refuse every held key for that hour, and hold a Guarded
// store's back-off, with on_store_error deny, for as long.
func monotonicNow() func() time.Time {
	start := time.Now()
	return func() time.Time { return start.Add(time.Since(start)) }
}

// Interval is the emission interval T = Period/Count: the time one request
// costs. It is rounded up to whole microseconds, the resolution of Redis's
// clock, so that every store computes the same answers, and so that no
// store lets through more than the rate (700000/s is kept as 500000/s, not
// as 1000000/s: rates that fine lose their precision either way).
func (l Limit) Interval() time.Duration {
	if l.Count < 1 {
		return 0
	}
	return CeilMicrosecond(l.Period / time.Duration(l.Count))
}

// CeilMicrosecond rounds d up to a whole microsecond.
func CeilMicrosecond(d time.Duration) time.Duration {
	if r := d % time.Microsecond; r != 0 {
		d += time.Microsecond - r
	}
	return d
}

// Tolerance is how far ahead of now a key's theoretical arrival time may be
// for a request to be allowed: T*(Burst-1).
func (l Limit) Tolerance() time.Duration {
	return l.Interval() * time.Duration(l.Burst-1)
}

// Request is one limit to spend against: Key is already namespaced and
// hashed (see Key).
type Request struct {
	Key   string
	Limit Limit
}

// Result is what one Request's limit says after Take.
type Result struct {
	Allowed bool
	// Remaining is the number of requests still allowed right now under this
	// limit: after this one, if it was spent. When another limit of the same
	// Take refused, nothing was spent, and Remaining counts this one too.
	Remaining int64
	// RetryAfter is, when not allowed, the time until one request would be
	// allowed; 0 when allowed.
	RetryAfter time.Duration
	// Reset is the time until the key is back to its full burst.
	Reset time.Duration
}

// Store spends quota. Take evaluates every request of one incoming HTTP
// request atomically: all of them are allowed and spent, or none is spent (a
// request denied by one limit costs nothing under the others). Results are in
// the order of reqs.
type Store interface {
	Take(ctx context.Context, reqs []Request) ([]Result, error)
}

// Allowed reports whether every result allowed: whether Take spent the
// quota and the request may go on.
func Allowed(results []Result) bool {
	for _, r := range results {
		if !r.Allowed {
			return false
		}
	}
	return true
}

// Tightest folds the results of one Take into the one a response should
// report: allowed only if all allowed, the smallest Remaining, the largest
// RetryAfter (after which every limit allows) and the Reset of the limit with
// the smallest Remaining (ties: the longest). Zero results give the zero
// Result.
func Tightest(results []Result) Result {
	if len(results) == 0 {
		return Result{}
	}
	t := results[0]
	for _, r := range results[1:] {
		t.Allowed = t.Allowed && r.Allowed
		t.RetryAfter = max(t.RetryAfter, r.RetryAfter)
		if r.Remaining < t.Remaining || (r.Remaining == t.Remaining && r.Reset > t.Reset) {
			t.Remaining, t.Reset = r.Remaining, r.Reset
		}
	}
	return t
}

// KeyPrefix starts every key Key returns, so that an operator can tell
// portcullis's keys apart in a shared Redis (SCAN MATCH portcullis:rl:*).
const KeyPrefix = "portcullis:rl:"

// Key returns the store key for a value under a namespace (a route or policy
// name from the configuration, never request data). Namespace and value (a
// subject, an IP, an issuer) are hashed together with SHA-256, truncated to
// 128 bits and written in base64url, so that the store never holds
// identities in clear and every key is 36 bytes long however long its inputs.
//
// The hash is not keyed: it hides identities from a casual reader of the
// store, not from one who can guess them (IPv4 addresses can be enumerated).
// Protect the store as you would protect access logs.
func Key(namespace, value string) string {
	h := sha256.New()
	// Length-prefix the namespace so that ("a", "bc") and ("ab", "c") differ.
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(namespace)))])
	h.Write([]byte(namespace))
	h.Write([]byte(value))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var out [len(KeyPrefix) + 22]byte
	copy(out[:], KeyPrefix)
	base64.RawURLEncoding.Encode(out[len(KeyPrefix):], sum[:16])
	return string(out[:])
}

// validate checks every request of one Take.
func validate(reqs []Request) error {
	for i, r := range reqs {
		if err := r.Limit.Validate(); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
	}
	return nil
}

// cell is one GCRA evaluation, in integer units of some clock (nanoseconds
// for Local, microseconds for Redis). tat is the key's theoretical arrival
// time, already raised to now when it was in the past.
type cell struct {
	now, tat, interval, tolerance int64
}

// conforms reports whether the limit allows one more request now.
func (c cell) conforms() bool { return c.tat-c.now <= c.tolerance }

// result is the Result of c, spent (the whole Take was allowed, and the key's
// TAT moves on by one interval) or not.
func (c cell) result(spent bool, unit time.Duration) Result {
	if !c.conforms() {
		return Result{
			RetryAfter: time.Duration(c.tat-c.tolerance-c.now) * unit,
			Reset:      time.Duration(c.tat-c.now) * unit,
		}
	}
	tat := c.tat
	if spent {
		tat += c.interval
	}
	// Requests still allowed: k such that tat+(k-1)*T-now <= tolerance.
	// tat-now <= tolerance+T, so the numerator is never negative.
	return Result{
		Allowed:   true,
		Remaining: (c.tolerance + c.interval - (tat - c.now)) / c.interval,
		Reset:     time.Duration(tat-c.now) * unit,
	}
}
