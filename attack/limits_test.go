package attack_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// TestInFlightCap: past server.max_in_flight a request is refused at once
// with 503 and Retry-After (CWE-770), before any signature is checked, so
// that a flood of forged tokens past the cap costs no cryptography.
func TestInFlightCap(t *testing.T) {
	tg := newTarget(t, func(s *settings) { s.MaxInFlight = 2 })
	held := tg.up.Hold(t)
	done := make(chan int, 2)
	for range 2 {
		go func() { done <- tg.do(request("/anything", nil)).status }()
	}
	held.Wait(t, 2)

	forged := tg.rsa.Sign(tg.claims("orders:read"))
	forged = forged[:len(forged)-4] + "AAAA"
	// reason "": no auth failure is counted, so no signature was checked.
	res := tg.refused(t, request("/private/x", bearer(forged)), http.StatusServiceUnavailable, "", "")
	if res.header.Get("Retry-After") != "1" || res.json["error"] != "temporarily_unavailable" {
		t.Errorf("past the cap: Retry-After %q, body %s", res.header.Get("Retry-After"), res.body)
	}
	held.Release()
	for range 2 {
		select {
		case code := <-done:
			if code != 200 {
				t.Errorf("a request within the cap got %d", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the requests within the cap never finished")
		}
	}
	tg.allowed(t, request("/anything", nil))
}

// TestUpstreamResponseHeaderTimeout: an upstream that accepts a request and
// never answers holds it for the route's timeout only (504), but a response
// whose headers came in time streams for as long as it needs.
func TestUpstreamResponseHeaderTimeout(t *testing.T) {
	t.Parallel()       // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t) // the slow route's timeout is 300ms
	t.Run("no response headers within the route timeout is 504", func(t *testing.T) {
		defer tg.up.Hold(t).Release()
		was := tg.allFailures(t)
		res := tg.do(request("/slow/x", nil))
		if res.status != http.StatusGatewayTimeout || res.json["error"] != "gateway_timeout" {
			t.Fatalf("status %d, body %s", res.status, res.body)
		}
		if got := testutil.ToFloat64(tg.m.Requests.WithLabelValues("slow", "GET", "504", "proxy")); got != 1 {
			t.Errorf("requests_total{slow,GET,504} = %v", got)
		}
		// A slow upstream is no client's authentication failure: counting
		// it would page whoever watches auth failures for an outage.
		if got := tg.allFailures(t); got != was {
			t.Errorf("portcullis_auth_failures_total went from %v to %v for an upstream timeout", was, got)
		}
	})
	t.Run("an upstream that breaks the connection is 502 and no auth failure", func(t *testing.T) {
		tg.up.SetHandler(func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
		defer tg.up.SetHandler(nil)
		was := tg.allFailures(t)
		tok := tg.rsa.Sign(tg.claims("orders:read"))
		res := tg.do(request("/orders/1", bearer(tok)))
		if res.status != http.StatusBadGateway || res.json["error"] != "bad_gateway" {
			t.Fatalf("status %d, body %s", res.status, res.body)
		}
		if got := tg.allFailures(t); got != was {
			t.Errorf("portcullis_auth_failures_total went from %v to %v for an upstream failure", was, got)
		}
	})
	t.Run("a body that streams past the route timeout is not cut", func(t *testing.T) {
		tg.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			for i := range 6 {
				_, _ = io.WriteString(w, "chunk"+itoa(int64(i))+";")
				http.NewResponseController(w).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		})
		defer tg.up.SetHandler(nil)
		res := tg.do(request("/slow/x", nil))
		if res.status != 200 || string(res.body) != "chunk0;chunk1;chunk2;chunk3;chunk4;chunk5;" {
			t.Fatalf("status %d, body %q", res.status, res.body)
		}
	})
}

// TestNoGrowthAcrossRejectedRequests: 100,000 rejected requests of every
// kind (no token, malformed, forged, expired, unknown issuer and kid,
// oversized, bad path, insufficient scope) leave no goroutine and no heap
// behind (CWE-401, CWE-400). Under the race detector the count is 10,000.
//
// It counts every goroutine of the process, so it must not run beside
// another test: it is not parallel, and the tests that are call t.Parallel
// before anything else, so that they wait, holding nothing, until the
// sequential tests (this one included) have finished.
func TestNoGrowthAcrossRejectedRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	n := 100_000
	if gatewaytest.RaceEnabled {
		n = 10_000
	}
	tg := newTarget(t, func(s *settings) { s.discardLogs = true })
	claims := tg.claims("orders:read")
	good := tg.ed.Sign(claims)
	type kind struct {
		name   string
		req    *http.Request
		status int
	}
	// Refusals that cost no signature check, sent most of the time ...
	cheap := []kind{
		{"no token", request("/private/x", nil), 401},
		{"malformed", request("/private/x", []string{"Bearer abc.def"}), 401},
		{"alg none", request("/private/x", bearer(tokentest.Compact(header("alg", "none"), payloadJSON(claims), nil)+"AAAA")), 401},
		{"unknown issuer", request("/private/x", bearer(tg.ed.Sign(claims.With("iss", "https://evil.example/")))), 401},
		{"unknown kid", request("/private/x", bearer(tokentest.Ed25519("ghost").Sign(claims))), 401},
		{"HMAC with the public key", request("/private/x", bearer(hmacToken("HS256", pkixPEM(tg.rsa), header("alg", "HS256", "kid", "rsa-1"), payloadJSON(claims)))), 401},
		{"100 KB token", request("/private/x", []string{"Bearer " + strings.Repeat("a", 100<<10)}), 401},
		{"encoded slash", httptest.NewRequest(http.MethodGet, "http://"+apiHost+"/private%2Fx", nil), 400},
	}
	// ... and refusals after a signature check, one request in sixteen, so
	// that the test measures leaks rather than Ed25519.
	verified := []kind{
		{"bad signature", request("/private/x", bearer(good[:len(good)-4]+"AAAA")), 401},
		{"expired", request("/private/x", bearer(tg.ed.Sign(claims.With("exp", time.Now().Add(-time.Hour).Unix())))), 401},
		{"insufficient scope", request("/orders/1", bearer(tg.ed.Sign(claims.With("scope", "profile")))), 403},
	}
	serve := func(i int) {
		k := cheap[i%len(cheap)]
		if i%16 == 15 {
			k = verified[(i/16)%len(verified)]
		}
		rec := httptest.NewRecorder()
		tg.h.ServeHTTP(rec, k.req)
		if rec.Code != k.status {
			t.Fatalf("%s: status %d, want %d: %s", k.name, rec.Code, k.status, rec.Body)
		}
	}
	for i := range 400 { // warm up: pools, metric children, the IdP connection
		serve(i)
	}
	goroutines, heap := settle()

	start := time.Now()
	for i := range n {
		serve(i)
	}
	elapsed := time.Since(start)

	// Goroutines that a request started (a shared key fetch for an unknown
	// kid) may take a moment to end; give them a bounded while.
	var g int
	for deadline := time.Now().Add(3 * time.Second); ; {
		if g = runtime.NumGoroutine(); g <= goroutines || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, after := settle()
	t.Logf("%d rejected requests in %v (%v each); goroutines %d -> %d; heap %d KiB -> %d KiB",
		n, elapsed.Round(time.Millisecond), elapsed/time.Duration(n), goroutines, g, heap>>10, after>>10)
	if g > goroutines {
		t.Errorf("goroutines grew from %d to %d across %d rejected requests", goroutines, g, n)
	}
	// 2 MiB of slack: a GC cycle's timing and runtime caches move the
	// figure by a few hundred KiB; a per-request leak of even 32 bytes over
	// 100,000 requests would be 3 MiB.
	if after > heap+2<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB across %d rejected requests", heap>>10, after>>10, n)
	}
	if c := tg.up.Count(); c != 0 {
		t.Errorf("%d rejected requests reached the upstream", c)
	}
}

// settle collects garbage until the heap stops shrinking and reports the
// goroutines and live heap bytes.
func settle() (goroutines int, heap uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	prev := ms.HeapAlloc
	for range 5 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc >= prev {
			break
		}
		prev = ms.HeapAlloc
	}
	return runtime.NumGoroutine(), ms.HeapAlloc
}
