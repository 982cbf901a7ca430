package ratelimit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisTimeout bounds every call to Redis when RedisOptions.Timeout
// is 0. A rate limit sits on every request: it must answer in a few
// milliseconds or not at all.
const DefaultRedisTimeout = 100 * time.Millisecond

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// URL locates Redis; see the package documentation for its forms.
	URL string
	// Password, when set, overrides the URL's (so that the URL can live in
	// the configuration file and the password in a secret).
	Password string
	// TLS, when set, is used to connect, whatever the URL's scheme; rediss
	// URLs without it use the system roots and the URL's host name.
	TLS *tls.Config
	// Timeout bounds every call, dial included (0: DefaultRedisTimeout). It
	// overrides the URL's dial_timeout, read_timeout, write_timeout and
	// pool_timeout. A call that needs a new connection spends its set-up
	// (TCP, TLS, AUTH) in it too: where Redis is more than a few
	// milliseconds away over TLS, raise it, or new connections never
	// complete and every call fails.
	Timeout time.Duration
	// Now, when set, is the clock instead of Redis's own (TIME). Tests use
	// it; production should not: Redis's clock is the one every instance of
	// the gateway agrees on, whatever the skew of their own.
	Now func() time.Time
}

// Redis is a GCRA store in Redis, shared by every instance of the gateway.
// One Take is one round trip: a Lua script that checks every key, then
// spends all of them or none, on Redis's clock (except in Cluster mode; see
// the package documentation).
type Redis struct {
	client  redis.UniversalClient
	cluster bool
	timeout time.Duration
	now     func() time.Time
}

// NewRedis creates a client for opts.URL. It does not connect: the first
// Take or Ping does (call Ping at start-up to fail early).
func NewRedis(opts RedisOptions) (*Redis, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	client, err := newRedisClient(opts, timeout)
	if err != nil {
		return nil, err
	}
	_, cluster := client.(*redis.ClusterClient)
	return &Redis{client: client, cluster: cluster, timeout: timeout, now: opts.Now}, nil
}

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

// Ping checks that Redis answers, within the timeout.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		return storeError("ping", err)
	}
	return nil
}

// takeScript is GCRA over every key, check all then commit, in microseconds.
//
// KEYS are the keys. ARGV[1] is now in Unix microseconds, or empty for
// Redis's clock; ARGV[2i] and ARGV[2i+1] are the interval and the tolerance
// of KEYS[i]. It returns {allowed (1 or 0), now, tat_1, ..., tat_n}, where
// tat_i is KEYS[i]'s TAT before this request (at least now) or, for a key
// given twice, after the requests before it. Every value stays below 2^53
// (Limit.Validate bounds the tolerance), so Lua's doubles hold them exactly;
// they are written with %.0f, never Lua's default %.14g.
var takeScript = redis.NewScript(`
-- Redis before 5 replicates whole scripts, which may not write after TIME;
-- replicate the writes instead (a no-op from Redis 5 on).
if redis.replicate_commands then redis.replicate_commands() end
local now
if ARGV[1] == '' then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
	now = tonumber(ARGV[1])
end
local out = {1, now}
local pending = {}
for i, key in ipairs(KEYS) do
	local tat = pending[key]
	if tat == nil then
		tat = tonumber(redis.call('GET', key)) or now
		if tat < now then tat = now end
		-- At most what this limit can leave (a key counted under a
		-- stricter limit before a reload), kept, as the local store does.
		local most = now + tonumber(ARGV[2 * i + 1]) + tonumber(ARGV[2 * i])
		if tat > most then
			tat = most
			local ttl = math.max(1, math.ceil((tat - now) / 1000))
			redis.call('SET', key, string.format('%.0f', tat), 'PX', string.format('%.0f', ttl))
		end
	end
	out[i + 2] = tat
	if tat - now > tonumber(ARGV[2 * i + 1]) then out[1] = 0 end
	pending[key] = tat + tonumber(ARGV[2 * i])
end
if out[1] == 1 then
	for i, key in ipairs(KEYS) do
		local tat = out[i + 2] + tonumber(ARGV[2 * i])
		local ttl = math.max(1, math.ceil((tat - now) / 1000))
		redis.call('SET', key, string.format('%.0f', tat), 'PX', string.format('%.0f', ttl))
	end
end
return out
`)

// Take evaluates reqs in one round trip, within the timeout. A store that
// fails or does not answer in time gives an error (see StoreError); the
// caller decides what that means (see Guarded).
func (r *Redis) Take(ctx context.Context, reqs []Request) ([]Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if err := validate(reqs); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	now := ""
	if r.now != nil {
		now = strconv.FormatInt(r.now().UnixMicro(), 10)
	}
	if r.cluster {
		return r.takeEach(ctx, reqs, now)
	}
	keys := make([]string, len(reqs))
	args := make([]any, 1+2*len(reqs))
	args[0] = now
	for i, q := range reqs {
		keys[i] = q.Key
		args[1+2*i] = q.Limit.Interval().Microseconds()
		args[2+2*i] = q.Limit.Tolerance().Microseconds()
	}
	v, err := takeScript.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, storeError("take", err)
	}
	if len(v) != 2+len(reqs) {
		return nil, storeError("take", fmt.Errorf("script returned %d values for %d keys", len(v), len(reqs)))
	}
	results := make([]Result, len(reqs))
	for i, q := range reqs {
		results[i] = cellOf(v[1], v[2+i], q.Limit).result(v[0] == 1, time.Microsecond)
	}
	return results, nil
}

// takeEach is Take in Cluster mode, where the keys of one Take may live in
// different slots, which one script cannot touch: one script call per key,
// all in one pipeline (one round trip per node). Each key is all or nothing
// on its own, but a request denied by one limit may have spent quota under
// the others.
func (r *Redis) takeEach(ctx context.Context, reqs []Request, now string) ([]Result, error) {
	cmds := make([]*redis.Cmd, len(reqs))
	run := func(pending []int, eval bool) error {
		pipe := r.client.Pipeline()
		for _, i := range pending {
			q := reqs[i]
			keys := []string{q.Key}
			interval, tolerance := q.Limit.Interval().Microseconds(), q.Limit.Tolerance().Microseconds()
			if eval {
				cmds[i] = takeScript.Eval(ctx, pipe, keys, now, interval, tolerance)
			} else {
				cmds[i] = takeScript.EvalSha(ctx, pipe, keys, now, interval, tolerance)
			}
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	all := make([]int, len(reqs))
	for i := range all {
		all[i] = i
	}
	if err := run(all, false); err != nil {
		// A node that has not seen the script (new, restarted, flushed)
		// answers NOSCRIPT without running it: send those in full.
		var missing []int
		for i, c := range cmds {
			if c.Err() != nil {
				if !redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
					return nil, storeError("take", c.Err())
				}
				missing = append(missing, i)
			}
		}
		if len(missing) == 0 {
			return nil, storeError("take", err)
		}
		if err := run(missing, true); err != nil {
			return nil, storeError("take", err)
		}
	}
	results := make([]Result, len(reqs))
	for i, q := range reqs {
		v, err := cmds[i].Int64Slice()
		if err == nil && len(v) != 3 {
			err = fmt.Errorf("script returned %d values for 1 key", len(v))
		}
		if err != nil {
			return nil, storeError("take", err)
		}
		results[i] = cellOf(v[1], v[2], q.Limit).result(v[0] == 1, time.Microsecond)
	}
	return results, nil
}

// cellOf is the GCRA state the script returned for one limit, in
// microseconds.
func cellOf(now, tat int64, l Limit) cell {
	return cell{now: now, tat: tat, interval: l.Interval().Microseconds(), tolerance: l.Tolerance().Microseconds()}
}

// StoreError is an error of a shared store: it failed, or did not answer
// within its timeout (Timeout reports which; metrics label them apart).
type StoreError struct {
	Op  string // "take", "ping"
	Err error
}

func (e *StoreError) Error() string { return "ratelimit: redis " + e.Op + ": " + e.Err.Error() }

func (e *StoreError) Unwrap() error { return e.Err }

// Timeout reports whether the store did not answer in time: a deadline, a
// network timeout, or no free connection in the pool in time.
func (e *StoreError) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, context.DeadlineExceeded) ||
		errors.Is(e.Err, redis.ErrPoolTimeout) ||
		(errors.As(e.Err, &ne) && ne.Timeout())
}

func storeError(op string, err error) error { return &StoreError{Op: op, Err: err} }

// SetDriverLog sends the Redis driver's own log lines (go-redis writes
// "failed to dial" and the like to standard error by default) to logf, so
// that a down Redis does not mix unstructured lines into the gateway's
// JSON log; the gateway's own lines report the store's health. The driver's
// logger is process-wide: the last call wins.
func SetDriverLog(logf func(msg string)) {
	redis.SetLogger(driverLog(logf))
}

type driverLog func(msg string)

func (l driverLog) Printf(_ context.Context, format string, v ...any) { l(fmt.Sprintf(format, v...)) }
