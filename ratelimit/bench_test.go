package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/ratelimit/redistest"
)

// benchLimit never refuses within a benchmark's run.
var benchLimit = Limit{Count: 1_000_000, Period: time.Second, Burst: 1_000_000}

// benchKeys are 1024 distinct keys, as many clients would give.
var benchKeys = func() []string {
	k := make([]string, 1024)
	for i := range k {
		k[i] = Key("bench", strconv.Itoa(i))
	}
	return k
}()

func benchTake(b *testing.B, s Store, limits int) {
	b.ReportAllocs()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		reqs := make([]Request, limits)
		for pb.Next() {
			n := next.Add(1)
			for i := range reqs {
				reqs[i] = Request{Key: benchKeys[(n+int64(i)*7)%int64(len(benchKeys))], Limit: benchLimit}
			}
			if _, err := s.Take(context.Background(), reqs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Key("route-a", "sub-1234567890")
	}
}

func BenchmarkLocalTake(b *testing.B) {
	for _, limits := range []int{1, 3} {
		b.Run(strconv.Itoa(limits)+"-limits", func(b *testing.B) {
			benchTake(b, NewLocal(LocalOptions{}), limits)
		})
	}
}

func BenchmarkRedisTake(b *testing.B) {
	srv := redistest.Start(b)
	for _, limits := range []int{1, 3} {
		b.Run(strconv.Itoa(limits)+"-limits", func(b *testing.B) {
			benchTake(b, newRedis(b, RedisOptions{URL: srv.URL, Timeout: time.Second}), limits)
		})
	}
}

func BenchmarkGuardedTake(b *testing.B) {
	b.Run("redis-up", func(b *testing.B) {
		srv := redistest.Start(b)
		r := newRedis(b, RedisOptions{URL: srv.URL, Timeout: time.Second})
		benchTake(b, NewGuarded(r, OnErrorLocal, NewLocal(LocalOptions{}), Hooks{}), 1)
	})
	b.Run("backing-off-to-local", func(b *testing.B) {
		g := NewGuarded(&fakeStore{err: errDown}, OnErrorLocal, NewLocal(LocalOptions{}), Hooks{})
		benchTake(b, g, 1)
	})
}
