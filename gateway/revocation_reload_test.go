package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/token/tokentest"
)

// A reload (SIGHUP) fetches the revocation lists it keeps at once: it is
// the operator's way to make a revocation published a moment ago take
// effect without waiting for the next poll, an hour away here.
func TestReloadFetchesKeptRevocationListsNow(t *testing.T) {
	w := newWorld(t)
	var doc atomic.Value
	doc.Store(`{"entries": []}`)
	lists := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprint(rw, doc.Load().(string))
	}))
	t.Cleanup(lists.Close)
	revocation := fmt.Sprintf("    revocation: {uri: %q, refresh_interval: 1h}\n", lists.URL+"/revoked.json")
	g, srv := start(t, w.file(t, revocation, ""))

	tok := w.corpKey.Sign(tokentest.Standard(w.corp.URL(), "api", "alice", "", time.Hour).With("jti", "jti-1"))
	if code, body := get(t, srv.URL+"/orders/1", tok); code != http.StatusOK {
		t.Fatalf("before the revocation: %d %s", code, body)
	}
	doc.Store(fmt.Sprintf(`{"entries": [{"jti": "jti-1", "exp": %d}]}`, time.Now().Add(time.Hour).Unix()))
	if code, _ := get(t, srv.URL+"/orders/1", tok); code != http.StatusOK {
		t.Fatalf("revoked before the reload or the next poll: %d (the test measures nothing)", code)
	}
	if err := g.Reload(context.Background(), w.file(t, revocation, "")); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, srv.URL+"/orders/1", tok); code != http.StatusUnauthorized {
		t.Fatalf("after the reload the revoked token gets %d, want 401: the reload kept the list without fetching it", code)
	}
}
