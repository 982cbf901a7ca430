package proxy_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/ratelimit"
	"github.com/portcullis/portcullis/ratelimit/redistest"
)

// BenchmarkRateLimit is BenchmarkHandlerAllowed's cached RS256 request on
// a route without limits ("none", the baseline), and on the same route
// limited by subject and by client address (two limits, two phases: the
// address before verification, the subject after), their counters in this
// process ("local") or in a real Redis on loopback ("redis", guarded with
// the local fallback as the gateway runs it). The limits are high enough
// never to refuse: what is measured is the cost of a decision.
func BenchmarkRateLimit(b *testing.B) {
	const limits = "[{key: client_ip, rate: 1000000/s}, {key: sub, rate: 1000000/s}]"
	run := func(b *testing.B, o benchOptions) {
		p := newBenchPath(b, o)
		tok := benchKeys()["RS256"].Sign(p.claims("orders:read"))
		p.loop(b, http.StatusOK, "Bearer "+tok)
	}
	b.Run("none", func(b *testing.B) { run(b, benchOptions{}) })
	b.Run("local", func(b *testing.B) { run(b, benchOptions{rateLimit: limits}) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		r, err := ratelimit.NewRedis(ratelimit.RedisOptions{URL: srv.URL, Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		var failed int
		store := ratelimit.NewGuarded(r, ratelimit.OnErrorLocal, ratelimit.NewLocal(ratelimit.LocalOptions{}),
			ratelimit.Hooks{StoreCall: func(_ time.Duration, err error) {
				if err != nil {
					failed++
				}
			}})
		run(b, benchOptions{rateLimit: limits, limiter: store})
		if failed > 0 {
			b.Fatalf("%d calls to Redis failed: the figure is the fallback's", failed)
		}
	})
}
