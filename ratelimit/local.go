package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"
)

// DefaultMaxKeys is the key cap of a Local whose MaxKeys is 0: about 100 MiB
// at most, which no idle key counts against.
const DefaultMaxKeys = 1 << 20

// LocalOptions configure NewLocal.
type LocalOptions struct {
	// MaxKeys caps the number of keys held (0: DefaultMaxKeys). Keys are
	// spread over shards and the cap is enforced per shard, at
	// MaxKeys/shards each, so that the total never exceeds it. A key that is
	// idle (back to its full burst) costs nothing and is dropped when its
	// shard needs room, or by the periodic sweep. When a shard is full of
	// keys that are not idle, a request for a new key there is refused (see
	// Local).
	MaxKeys int
	// Now is the clock (nil: time.Now). Tests inject one.
	Now func() time.Time
}

// Local is an in-process GCRA store: exact under concurrency, bounded in
// memory, and private to this process (N instances of the gateway behind a
// load balancer each allow the full rate).
//
// When a new key arrives at a shard that is full of keys that are not idle,
// Local refuses the request (not allowed, RetryAfter until the shard's first
// key turns idle) rather than evicting a live key: an evicted key would get a
// fresh burst, so whoever can mint new keys (new client IPs, new subjects)
// could reset the limits of others by flooding. Size MaxKeys for the number
// of distinct keys active within your longest period, and watch Len.
type Local struct {
	now      func() time.Time
	seed     maphash.Seed
	shards   []shard
	perShard int
}

// shard is one lock and the TATs (Unix nanoseconds) of the keys behind it.
type shard struct {
	mu   sync.Mutex
	tats map[string]int64
	// minTAT is at most the earliest TAT held (math.MaxInt64 when empty): no
	// key can be idle before it, so a sweep before then would find nothing.
	minTAT int64
	// nextSweep is when the periodic sweep may run next.
	nextSweep int64
	_         [32]byte // pad to 64 bytes: neighbouring shards' locks off one cache line
}

// sweepEvery is how often, at most, a shard drops its idle keys when it is
// not full. A full shard sweeps whenever a key may have turned idle.
const sweepEvery = int64(time.Second)

// NewLocal creates an empty in-process store.
func NewLocal(opts LocalOptions) *Local {
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	// Shards hold at least 1024 keys each, so that a small cap is not
	// fragmented into shards of a few keys; at most 64 shards.
	n := 1
	for n < 64 && maxKeys/(n*2) >= 1024 {
		n *= 2
	}
	l := &Local{
		now:      opts.Now,
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		perShard: maxKeys / n,
	}
	if l.now == nil {
		l.now = monotonicNow()
	}
	for i := range l.shards {
		l.shards[i].tats = make(map[string]int64)
		l.shards[i].minTAT = math.MaxInt64
	}
	return l
}

// shardOf is the index of key's shard.
func (l *Local) shardOf(key string) int {
	if len(l.shards) == 1 {
		return 0
	}
	return int(maphash.String(l.seed, key) & uint64(len(l.shards)-1))
}

// Take evaluates reqs atomically: it locks every shard that holds one of
// their keys, in index order (so that two Takes never deadlock), checks every
// limit, and spends all of them or none. A key given twice is spent twice.
// It returns an error only for an invalid limit.
func (l *Local) Take(_ context.Context, reqs []Request) ([]Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if err := validate(reqs); err != nil {
		return nil, err
	}
	now := l.now().UnixNano()
	results := make([]Result, len(reqs))

	var (
		shardBuf [8]int
		lockBuf  [8]int
		cellBuf  [8]cell
		stateBuf [8]uint8
	)
	shards := shardBuf[:0]
	for _, r := range reqs {
		shards = append(shards, l.shardOf(r.Key))
	}
	locks := append(lockBuf[:0], shards...)
	slices.Sort(locks)
	locks = slices.Compact(locks)
	for _, s := range locks {
		sh := &l.shards[s]
		sh.mu.Lock()
		if now >= sh.minTAT && (now >= sh.nextSweep || len(sh.tats) >= l.perShard) {
			sh.sweep(now)
		}
	}

	cells := cellBuf[:0]
	states := stateBuf[:0]
	allowed := true
	for i, r := range reqs {
		sh := &l.shards[shards[i]]
		c := cell{now: now, interval: int64(r.Limit.Interval()), tolerance: int64(r.Limit.Tolerance())}
		state := held
		if j := lastIndex(reqs[:i], r.Key); j >= 0 {
			// The same key earlier in this Take: start where it left off.
			c.tat = cells[j].tat + cells[j].interval
		} else if tat, ok := sh.tats[r.Key]; ok {
			c.tat = max(tat, now)
			// At most what this limit can leave (a spent burst): a key
			// counted under a stricter limit before a reload (1/24h
			// raised to 1000/s) waits one interval of the new one, not
			// the rest of the old one's period. Kept, refused or not,
			// or every later look would start from the old value again.
			if most := now + c.tolerance + c.interval; c.tat > most {
				c.tat = most
				sh.tats[r.Key] = most
				sh.minTAT = min(sh.minTAT, most)
			}
		} else {
			c.tat = now
			state = created
			if len(sh.tats)+newKeys(reqs[:i], states, shards, shards[i]) >= l.perShard {
				state = refused
			}
		}
		cells = append(cells, c)
		states = append(states, state)
		if state == refused || !c.conforms() {
			allowed = false
		}
	}

	for i, r := range reqs {
		sh := &l.shards[shards[i]]
		if states[i] == refused {
			// No key of the shard is idle, and none turns idle before
			// sh.minTAT (a lower bound, exact when the sweep above ran):
			// a client retrying then may find room, or be refused again.
			wait := time.Duration(max(sh.minTAT-now, 1))
			results[i] = Result{RetryAfter: wait, Reset: wait}
			continue
		}
		results[i] = cells[i].result(allowed, time.Nanosecond)
		if allowed {
			tat := cells[i].tat + cells[i].interval
			sh.tats[r.Key] = tat
			sh.minTAT = min(sh.minTAT, tat)
		}
	}
	for _, s := range locks {
		l.shards[s].mu.Unlock()
	}
	return results, nil
}

// What Take found of one request's key.
const (
	held    uint8 = iota // the key exists, or an earlier request of this Take created it
	created              // the key is new
	refused              // the key is new and its shard is full
)

// lastIndex is the index of the last request for key in reqs, or -1.
func lastIndex(reqs []Request, key string) int {
	for j := len(reqs) - 1; j >= 0; j-- {
		if reqs[j].Key == key {
			return j
		}
	}
	return -1
}

// newKeys counts the keys that the requests so far would create in shard s.
func newKeys(reqs []Request, states []uint8, shards []int, s int) int {
	n := 0
	for j := range reqs {
		if shards[j] == s && states[j] == created {
			n++
		}
	}
	return n
}

// sweep drops the idle keys of sh, whose lock is held, and makes minTAT
// exact.
func (sh *shard) sweep(now int64) {
	least := int64(math.MaxInt64)
	for k, tat := range sh.tats {
		if tat <= now {
			delete(sh.tats, k)
			continue
		}
		least = min(least, tat)
	}
	sh.minTAT = least
	sh.nextSweep = now + sweepEvery
}

// Sweep drops every idle key now. Take already does this as it goes, at
// most once a second per shard; Sweep is for a caller that wants the memory
// back at once (a test, or a ticker in a process whose traffic stopped).
func (l *Local) Sweep() {
	now := l.now().UnixNano()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		sh.sweep(now)
		sh.mu.Unlock()
	}
}

// Len is the number of keys held, idle ones that no sweep has dropped yet
// included.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.tats)
		sh.mu.Unlock()
	}
	return n
}

// MaxKeys is the most keys l holds at once.
func (l *Local) MaxKeys() int { return l.perShard * len(l.shards) }
