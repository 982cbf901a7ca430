package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/ratelimit/redistest"
)

// newRedis is a store on srv, closed when the test ends.
func newRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	r, err := NewRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRedisGCRAMatchesLocal(t *testing.T) {
	srv := redistest.Start(t)
	runSequences(t, func(t *testing.T, c *clock) Store {
		return newRedis(t, RedisOptions{URL: srv.URL, Now: c.Now})
	})
}

func TestRedisAllOrNothing(t *testing.T) {
	srv := redistest.Start(t)
	c := newClock()
	allOrNothing(t, newRedis(t, RedisOptions{URL: srv.URL, Now: c.Now}))
}

func TestRedisLoosenedLimit(t *testing.T) {
	srv := redistest.Start(t)
	c := newClock()
	loosenedLimit(t, newRedis(t, RedisOptions{URL: srv.URL, Now: c.Now}), c)
}

func TestRedisExactAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	// Two gateway instances, each with its own client, on Redis's clock.
	instances := []*Redis{
		newRedis(t, RedisOptions{URL: srv.URL, Timeout: 2 * time.Second}),
		newRedis(t, RedisOptions{URL: srv.URL, Timeout: 2 * time.Second}),
	}
	limit := Limit{Count: 1, Period: time.Hour, Burst: 25}
	reqs := []Request{{Key: Key("instances", "shared"), Limit: limit}}
	var allowed, errs atomic.Int64
	var wg sync.WaitGroup
	for _, r := range instances {
		for range 16 {
			wg.Go(func() {
				for range 10 {
					got, err := r.Take(context.Background(), reqs)
					if err != nil {
						errs.Add(1)
						continue
					}
					if got[0].Allowed {
						allowed.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	if errs.Load() != 0 {
		t.Fatalf("%d Takes failed", errs.Load())
	}
	if got := allowed.Load(); got != limit.Burst {
		t.Errorf("two instances, 320 Takes: %d allowed, want exactly %d in total", got, limit.Burst)
	}
}

func TestRedisKeysExpireAtTheirTAT(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisOptions{URL: srv.URL})
	key := Key("expiry", "idle")
	reqs := []Request{{Key: key, Limit: Limit{Count: 1, Period: 300 * time.Millisecond, Burst: 2}}}
	for range 2 {
		if got, err := r.Take(context.Background(), reqs); err != nil || !got[0].Allowed {
			t.Fatalf("Take: %+v, %v", got, err)
		}
	}
	pttl, err := srv.Do(time.Second, "PTTL", key)
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := strconv.Atoi(pttl); ms <= 400 || ms > 600 {
		t.Fatalf("PTTL after two requests = %s ms, want the TAT, 600ms ahead (a little less)", pttl)
	}
	time.Sleep(700 * time.Millisecond)
	if n, err := srv.Do(time.Second, "EXISTS", key); err != nil || n != "0" {
		t.Fatalf("EXISTS once the key is idle = %q, %v; want 0: idle keys must vanish", n, err)
	}
}

func TestRedisRunsTheScriptAfterAFlush(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisOptions{URL: srv.URL})
	reqs := []Request{{Key: Key("flush", "x"), Limit: Limit{Count: 1, Period: time.Hour, Burst: 2}}}
	if _, err := r.Take(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(time.Second, "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	got, err := r.Take(context.Background(), reqs)
	if err != nil || !got[0].Allowed || got[0].Remaining != 0 {
		t.Fatalf("Take after SCRIPT FLUSH: %+v, %v; want allowed, remaining 0 (EVAL after NOSCRIPT)", got, err)
	}
}

func TestRedisDownFailsWithinTheTimeout(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisOptions{URL: srv.URL, Timeout: 100 * time.Millisecond})
	reqs := []Request{{Key: Key("down", "x"), Limit: Limit{Count: 10, Period: time.Second, Burst: 10}}}
	if _, err := r.Take(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	start := time.Now()
	_, err := r.Take(context.Background(), reqs)
	var se *StoreError
	if !errors.As(err, &se) {
		t.Fatalf("Take with Redis killed: err = %v, want a *StoreError", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Take with Redis killed took %s, want about the timeout (100ms)", d)
	}
	srv.Restart()
	if _, err := r.Take(context.Background(), reqs); err != nil {
		t.Fatalf("Take after Restart: %v", err)
	}
}

func TestRedisHungTimesOut(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisOptions{URL: srv.URL, Timeout: 100 * time.Millisecond})
	reqs := []Request{{Key: Key("hung", "x"), Limit: Limit{Count: 10, Period: time.Second, Burst: 10}}}
	if _, err := r.Take(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(time.Second, "CLIENT", "PAUSE", "1500", "ALL"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := r.Take(context.Background(), reqs)
	d := time.Since(start)
	var se *StoreError
	if !errors.As(err, &se) || !se.Timeout() {
		t.Fatalf("Take with Redis paused: err = %v, want a *StoreError that is a timeout", err)
	}
	if d > 600*time.Millisecond {
		t.Fatalf("Take with Redis paused took %s, want about the timeout (100ms), not the pause (1.5s)", d)
	}
}

func TestRedisPassword(t *testing.T) {
	const password = "s3cret-Pa55word"
	srv := redistest.Start(t, "--requirepass", password)
	reqs := []Request{{Key: Key("auth", "x"), Limit: Limit{Count: 1, Period: time.Second, Burst: 1}}}

	r := newRedis(t, RedisOptions{URL: srv.URL, Password: password})
	if err := r.Ping(context.Background()); err != nil {
		t.Fatalf("Ping with the password: %v", err)
	}
	if _, err := r.Take(context.Background(), reqs); err != nil {
		t.Fatalf("Take with the password: %v", err)
	}

	// The option overrides the URL's password.
	withURLPassword := strings.Replace(srv.URL, "redis://", "redis://:not-it@", 1)
	if err := newRedis(t, RedisOptions{URL: withURLPassword, Password: password}).Ping(context.Background()); err != nil {
		t.Fatalf("Ping with a wrong URL password overridden by Password: %v", err)
	}

	for name, opts := range map[string]RedisOptions{
		"wrong password":     {URL: srv.URL, Password: "wrong-" + password},
		"wrong URL password": {URL: strings.Replace(srv.URL, "redis://", "redis://:wrong-"+password+"@", 1)},
		"no password":        {URL: srv.URL},
	} {
		err := newRedis(t, opts).Ping(context.Background())
		if err == nil {
			t.Errorf("%s: Ping succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("%s: the error quotes the password: %v", name, err)
		}
		if !strings.Contains(err.Error(), "WRONGPASS") && !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("%s: error %q does not say authentication failed", name, err)
		}
	}
}

// TestRedisClusterSpendsPerKey runs a one-node Redis Cluster that owns
// every slot: keys of one Take still live in different slots, so a single
// script cannot take them, and Take falls back to one script per key.
func TestRedisClusterSpendsPerKey(t *testing.T) {
	srv := redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	if _, err := srv.Do(time.Second, "CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _ := srv.Do(time.Second, "CLUSTER", "INFO")
		if strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok: %s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := newClock()
	r := newRedis(t, RedisOptions{URL: "redis+cluster://" + srv.Addr, Now: c.Now, Timeout: time.Second})
	if !r.cluster {
		t.Fatal("redis+cluster URL did not make a cluster client")
	}
	wide := Request{Key: Key("cluster", "wide"), Limit: Limit{Count: 5, Period: time.Second, Burst: 5}}
	narrow := Request{Key: Key("cluster", "narrow"), Limit: Limit{Count: 1, Period: time.Second, Burst: 1}}
	ctx := context.Background()
	got, err := r.Take(ctx, []Request{wide, narrow})
	if err != nil {
		t.Fatalf("Take over two slots: %v", err)
	}
	if !Allowed(got) || got[0].Remaining != 4 || got[1].Remaining != 0 {
		t.Fatalf("first Take: %+v", got)
	}
	if _, err := srv.Do(time.Second, "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	got, err = r.Take(ctx, []Request{wide, narrow})
	if err != nil {
		t.Fatalf("Take after SCRIPT FLUSH: %v", err)
	}
	if Allowed(got) || !got[0].Allowed || got[1].Allowed {
		t.Fatalf("second Take: %+v, want the narrow limit to refuse", got)
	}
	// The documented caveat: the refused request spent under the wide limit.
	got, _ = r.Take(ctx, []Request{wide})
	if got[0].Remaining != 2 {
		t.Fatalf("wide after a refused Take in cluster mode: remaining %d, want 2 (spent per key)", got[0].Remaining)
	}
}

func TestNewRedisURLs(t *testing.T) {
	const password = "hunter2-secret"
	for _, tc := range []struct {
		url     string
		cluster bool
		tls     bool
		err     string
	}{
		{url: "redis://127.0.0.1:6379/0"},
		{url: "redis://user:" + password + "@127.0.0.1:6379/2"},
		{url: "rediss://cache.example:6380", tls: true},
		{url: "redis+sentinel://127.0.0.1:26379/0?master_name=mymaster&addr=127.0.0.1:26380"},
		{url: "rediss+sentinel://127.0.0.1:26379?master_name=mymaster", tls: true},
		{url: "redis+sentinel://127.0.0.1:26379", err: "master_name"},
		{url: "redis+cluster://127.0.0.1:7000?addr=127.0.0.1:7001", cluster: true},
		{url: "rediss+cluster://127.0.0.1:7000", cluster: true, tls: true},
		{url: "memcached://127.0.0.1:11211", err: "unknown scheme"},
		{url: "redis://127.0.0.1:6379/x", err: "database"},
		{url: "redis://:" + password + "@127.0.0.1:port/0", err: "redis URL"},
		{url: "redis://127.0.0.1:6379/0?no_such_option=1", err: "no_such_option"},
		{url: "/just/a/path", err: "no host"},
		// go-redis's own switch off of certificate verification: only
		// RedisOptions.TLS (an acknowledged config) may do that.
		{url: "rediss://cache.example:6380/0?skip_verify=true", err: "skip_verify"},
		{url: "rediss+sentinel://127.0.0.1:26379?master_name=mymaster&skip_verify=true", err: "skip_verify"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			r, err := NewRedis(RedisOptions{URL: tc.url})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.err)
				}
				if strings.Contains(err.Error(), password) {
					t.Fatalf("the error quotes the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.cluster != tc.cluster {
				t.Errorf("cluster = %v, want %v", r.cluster, tc.cluster)
			}
			// What newRedisClient sets, read back from whichever option
			// type the client has (sentinel clients are *redis.Client).
			type settings struct {
				tls, retries                    bool
				dialerRetries                   int
				dial, read, write, pool         time.Duration
				contextTimeout, disableIdentity bool
			}
			var got settings
			switch c := r.client.(type) {
			case *redis.Client:
				o := c.Options()
				got = settings{o.TLSConfig != nil, o.MaxRetries > 0, o.DialerRetries,
					o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.ContextTimeoutEnabled, o.DisableIdentity}
			case *redis.ClusterClient:
				o := c.Options()
				got = settings{o.TLSConfig != nil, o.MaxRetries > 0, o.DialerRetries,
					o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.ContextTimeoutEnabled, o.DisableIdentity}
			default:
				t.Fatalf("client %T", c)
			}
			d := DefaultRedisTimeout
			if want := (settings{tc.tls, false, 1, d, d, d, d, true, true}); got != want {
				t.Errorf("client options %+v, want %+v", got, want)
			}
		})
	}
}

func TestRedisNoRequests(t *testing.T) {
	r, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := r.Take(context.Background(), nil); got != nil || err != nil {
		t.Fatalf("Take(nil) = %v, %v; want nothing, and no call", got, err)
	}
	_, err = r.Take(context.Background(), []Request{{Key: "k", Limit: Limit{Count: 1, Period: time.Second}}})
	if !errors.Is(err, ErrInvalidLimit) {
		t.Fatalf("Take with burst 0: %v, want ErrInvalidLimit before any call", err)
	}
}

func TestRedisTLS(t *testing.T) {
	const password = "tls-Pa55word"
	srv := redistest.StartTLS(t, "--requirepass", password)
	reqs := []Request{{Key: Key("tls", "x"), Limit: Limit{Count: 1, Period: time.Second, Burst: 1}}}
	for name, opts := range map[string]RedisOptions{
		"rediss URL with the test CA":          {URL: srv.TLSURL, TLS: srv.TLSConfig(), Password: password},
		"TLS option on a redis URL forces TLS": {URL: "redis://" + srv.TLSAddr, TLS: srv.TLSConfig(), Password: password},
	} {
		// A new connection's handshake under -race on a busy machine can
		// take longer than the default timeout.
		opts.Timeout = 2 * time.Second
		r := newRedis(t, opts)
		if got, err := r.Take(context.Background(), reqs); err != nil || len(got) != 1 {
			t.Fatalf("%s: Take: %+v, %v", name, got, err)
		}
	}
	// The system roots do not know the test CA: refused, within the timeout
	// (a generous one: loading the system roots the first time is slow).
	start := time.Now()
	err := newRedis(t, RedisOptions{URL: srv.TLSURL, Password: password, Timeout: 2 * time.Second}).Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Ping with an untrusted certificate: %v, want a certificate error", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Fatalf("the error quotes the password: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the refused handshake took %s", d)
	}
}

// A rediss URL's skip_verify query option (go-redis's) must not make the
// store accept a certificate nobody trusts: that is RedisOptions.TLS's
// choice alone, which the configuration allows only when acknowledged.
// Before this was refused, the store below sent its password to a server
// whose certificate the system roots do not know, and Ping succeeded.
func TestRedisURLCannotSkipVerification(t *testing.T) {
	const password = "tls-Pa55word"
	srv := redistest.StartTLS(t, "--requirepass", password)
	r, err := NewRedis(RedisOptions{URL: srv.TLSURL + "?skip_verify=true", Password: password, Timeout: 2 * time.Second})
	if err == nil {
		defer r.Close()
		if perr := r.Ping(context.Background()); perr == nil {
			t.Fatal("skip_verify=true in the URL: the store talked to (and authenticated with) a server whose certificate is not trusted")
		}
		t.Fatal("skip_verify=true in the URL was accepted")
	}
	if !strings.Contains(err.Error(), "skip_verify") {
		t.Errorf("err = %v, want one naming skip_verify", err)
	}
}

func TestRedisSentinel(t *testing.T) {
	const password = "sentinel-Pa55"
	master := redistest.Start(t, "--requirepass", password)
	sentinel := redistest.StartSentinel(t, master)
	url := "redis+sentinel://" + sentinel.Addr + "/0?master_name=" + redistest.SentinelMaster
	r := newRedis(t, RedisOptions{URL: url, Password: password, Timeout: time.Second})
	c := newClock()
	r.now = c.Now
	allOrNothing(t, r)
	// The keys are on the master.
	if n, err := master.Do(time.Second, "EXISTS", Key("all-or-nothing", "wide")); err != nil || n != "1" {
		t.Fatalf("EXISTS on the master = %q, %v", n, err)
	}
}

// TestRedisMatchesLocalOnRandomTraffic feeds Local and Redis the same random
// Takes over a few keys and limits, on the same clock: every Result must be
// the same.
func TestRedisMatchesLocalOnRandomTraffic(t *testing.T) {
	srv := redistest.Start(t)
	c := newClock()
	local := NewLocal(LocalOptions{Now: c.Now})
	shared := newRedis(t, RedisOptions{URL: srv.URL, Now: c.Now, Timeout: time.Second})
	r := rand.New(rand.NewPCG(7, 7))
	limits := []Limit{
		{Count: 5, Period: time.Second, Burst: 3},
		{Count: 3, Period: time.Second, Burst: 1},
		{Count: 100, Period: time.Minute, Burst: 20},
	}
	keys := []string{Key("random", "a"), Key("random", "b"), Key("random", "c")}
	for i := range 500 {
		c.Advance(time.Duration(r.Int64N(int64(300 * time.Millisecond))).Truncate(time.Microsecond))
		reqs := make([]Request, 1+r.IntN(3))
		for j := range reqs {
			reqs[j] = Request{Key: keys[r.IntN(len(keys))], Limit: limits[r.IntN(len(limits))]}
		}
		want, err := local.Take(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := shared.Take(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("take %d, request %d of %+v: Redis %+v, Local %+v", i, j, reqs, got[j], want[j])
			}
		}
	}
}
