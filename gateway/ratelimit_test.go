package gateway_test

import (
	"context"
	"net/http"
	"testing"
)

// A reload keeps the rate-limit counters: a quota spent before it is still
// spent after it, so that reloading is no way to reset limits.
func TestReloadKeepsRateLimitCounters(t *testing.T) {
	w := newWorld(t)
	limited := "    rate_limit: [{key: sub, rate: 2/h}]\n"
	g, srv := start(t, w.file(t, "", limited))
	tok := w.token(w.corpKey, w.corp)
	for i := range 2 {
		if code, body := get(t, srv.URL+"/orders/1", tok); code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	if err := g.Reload(context.Background(), w.file(t, w.partnerIssuer(w.partner.JWKSURL()), limited+w.partnerRoute())); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, srv.URL+"/orders/1", tok); code != http.StatusTooManyRequests {
		t.Errorf("after the reload: %d, want 429 (the quota spent before it)", code)
	}
	// A route the reload left without limits is no longer limited.
	if err := g.Reload(context.Background(), w.file(t, "", "")); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, srv.URL+"/orders/1", tok); code != http.StatusOK {
		t.Errorf("limits removed by a reload: %d, want 200", code)
	}
}
