package attack_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/token/tokentest"
)

// TestTokenCacheGrantsNothingOnItsOwn: the verified-token cache skips the
// signature check for a token seen before, and nothing else. A cached
// token is still held to each route's issuers, scopes and claims, still
// expires, is forgotten when the key that verified it leaves the issuer's
// key set, and a token that differs from a cached one in any byte is
// verified in full (RFC 8725 §3.3: every cryptographic operation is
// validated, a cache must not become a way around one).
func TestTokenCacheGrantsNothingOnItsOwn(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t)
	tg.noExplain = true // explain verifies through the same caches, which this test counts
	hits := func() float64 { return testutil.ToFloat64(tg.m.TokenCacheHits.WithLabelValues("corp")) }
	tok := tg.rsa.Sign(tg.claims("orders:read"))
	tg.allowed(t, request("/orders/1", bearer(tok)))
	before := hits()
	tg.allowed(t, request("/orders/1", bearer(tok)))
	if hits() != before+1 {
		t.Fatalf("the second request was not a cache hit (hits %v -> %v): the cases below would not test the cache", before, hits())
	}

	t.Run("a cached token is refused on a route that does not accept its issuer", func(t *testing.T) {
		tg.refused(t, request("/slash", bearer(tok)), http.StatusUnauthorized, "corp", "bad_issuer")
	})
	t.Run("a cached token is refused on a route that needs another scope", func(t *testing.T) {
		req := request("/orders/1", bearer(tok))
		req.Method = http.MethodPost
		tg.refused(t, req, http.StatusForbidden, "corp", "insufficient_scope")
	})
	t.Run("the cached token's payload under another signature is verified in full", func(t *testing.T) {
		forged := tok[:len(tok)-8] + "AAAAAAAA"
		tg.refused(t, request("/orders/1", bearer(forged)), http.StatusUnauthorized, "corp", "bad_signature")
	})
	t.Run("a cached token that expires while cached is refused", func(t *testing.T) {
		// exp one second ahead, less the 30s skew: valid for the rest of
		// this second only.
		now := time.Now()
		short := tg.rsa.Sign(tg.claims("orders:read").With("exp", now.Add(-skew+time.Second).Unix()))
		res := tg.do(request("/orders/1", bearer(short)))
		if res.status != http.StatusOK || time.Now().Unix() != now.Unix() {
			t.Skipf("the clock ticked before the first request was answered (status %d)", res.status)
		}
		time.Sleep(time.Until(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
		tg.refused(t, request("/orders/1", bearer(short)), http.StatusUnauthorized, "corp", "expired")
	})
	t.Run("a cached token is refused once its key leaves the key set", func(t *testing.T) {
		tg.corp.SetBody(tokentest.JWKS(tg.bare, tg.ec, tg.ed)) // rsa-1 is gone
		if err := tg.gw.KeySet("corp").Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		tg.refused(t, request("/orders/1", bearer(tok)), http.StatusUnauthorized, "corp", "unknown_key")
	})
}
