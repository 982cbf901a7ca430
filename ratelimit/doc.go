// Package ratelimit owns portcullis's rate limits: the generic cell rate
// algorithm (GCRA) and the stores that keep its state, in process (Local)
// or in Redis shared by every instance (Redis), and the guard that decides
// what happens when the shared store fails (Guarded).
//
// It decides whether a request may spend quota; it never sees HTTP, routes or
// tokens. The caller names what is limited with Key, from a namespace of its
// configuration and a value of the request, and maps a refusal to a
// response.
//
// # Algorithm
//
// A Limit of Count per Period with Burst has the emission interval
// T = Period/Count (in whole microseconds) and the tolerance T*(Burst-1). A
// key's state is its theoretical arrival time (TAT). A request at now is
// allowed when max(TAT, now) - now <= tolerance, and then moves the TAT to
// max(TAT, now) + T. So an idle key allows Burst requests at once, then one
// every T. A key whose TAT is past is idle: it holds nothing a new key would
// not, so stores drop it (Local by sweeping, Redis by expiry at its TAT).
//
// Take spends every limit of one incoming request together: all are allowed
// and spent, or none is, so a request refused by one limit costs nothing
// under the others. Result.Remaining counts the requests still allowed now
// (an idle key shows Burst-1 after one request), Result.Reset is the time
// until the key is back to its full burst, and Result.RetryAfter, for a
// refusal, the time until one request would be allowed.
//
// # What the stores hold
//
// Key hashes the namespace and the value with SHA-256 (128 bits, base64url,
// behind the prefix "portcullis:rl:"): a store holds no subject, IP address
// or issuer in clear, and every key has the same short length. The hash is
// not keyed, so it does not stop one who can read the store and guess
// identities (IPv4 addresses can be enumerated) from confirming a guess. A
// value is the TAT in Unix microseconds.
//
// # Redis
//
// RedisOptions.URL takes these forms:
//
//	redis://[[user]:password@]host:port[/db][?option=value...]
//	rediss://...                        the same, over TLS
//	redis+sentinel://[[user]:password@]sentinel:port[/db]?master_name=NAME[&addr=sentinel2:port...]
//	rediss+sentinel://...               the same, over TLS
//	redis+cluster://[[user]:password@]node:port[?addr=node2:port...]
//	rediss+cluster://...                the same, over TLS
//
// The query options are go-redis's (redis.ParseURL, redis.ParseFailoverURL,
// redis.ParseClusterURL): pool_size, client_name, protocol and so on. In a
// Sentinel URL the user information authenticates to the sentinels; the
// data nodes take RedisOptions.Password. RedisOptions.Password overrides the
// URL's, and RedisOptions.TLS, when set, is used to connect whatever the
// scheme. Errors never quote the URL or the password.
//
// Every call is bounded by RedisOptions.Timeout (default 100ms): the
// context deadline, and go-redis's dial, read, write and pool timeouts, so a
// hung Redis never hangs a request. Calls are never retried: the script is
// not idempotent, and a retry after a lost reply would spend twice.
//
// A Take is one round trip: a Lua script (EVALSHA, falling back to EVAL on
// NOSCRIPT) checks every key, then spends all of them or none, on Redis's
// clock (TIME), so instances whose clocks disagree still agree on every
// key. It sets each key to expire at its TAT, so idle keys vanish and
// Redis's memory follows the active keys.
//
// In Cluster mode (redis+cluster) the keys of one Take may live in
// different hash slots, which one script cannot touch together. There Take
// runs one script per key, all in one pipeline: each key is exact and
// atomic on its own, but all-or-nothing across the limits of one request
// no longer holds; a request refused by one limit may have spent quota
// under the others.
//
// # When Redis fails
//
// Guarded wraps the shared store with the operator's fallback (OnError):
// allow everything, deny everything, or spend against a Local store, which
// holds the limits per instance (N instances allow up to N times the rate).
// After a failure it uses the fallback for MinBackoff (250ms) before one
// Take probes the store again, doubling the interval on every failed probe
// up to MaxBackoff (5s), so requests do not each wait for the timeout while
// Redis is down, and it returns to Redis on its own within MaxBackoff of
// Redis's return. Hooks report every store call's latency and outcome and
// every fallback answer, for metrics.
package ratelimit
