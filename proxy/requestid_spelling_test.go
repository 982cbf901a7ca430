package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// X-Request-Id is the gateway's own on the forwarded request (rewrite sets
// it to the request's id, a client's only when it is short and made of
// safe characters). A client's header that folds to it but is spelled
// otherwise (X_Request_Id, which CGI, WSGI and nginx with
// underscores_in_headers read as HTTP_X_REQUEST_ID, the same variable)
// would stand beside the gateway's, unchecked: an upstream would log, or
// correlate on, an id that the gateway never issued nor logged, with any
// characters in it. It goes, from every client, as the other spellings of
// X-Forwarded-* do.
func TestOtherSpellingsOfTheRequestIDAreRemoved(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.Server.TrustedProxies = []string{"10.0.0.0/8"} })
	for _, peer := range []string{"192.0.2.10:4000", "10.1.2.3:4000"} {
		for _, name := range []string{"X_Request_Id", "X-Request_Id", "x_request_id"} {
			req := httptest.NewRequest(http.MethodGet, "http://api.example.com/anything", nil)
			req.RemoteAddr = peer
			req.Header["X-Request-Id"] = []string{"edge-id-1"}
			req.Header[name] = []string{`forged id" level=admin`}
			res := f.do(req)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode, res.body)
			}
			got := f.up.Last().Header
			for k, v := range got {
				if k != "X-Request-Id" && strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "X-Request-Id") {
					t.Errorf("from %s, the upstream got %s: %q beside the gateway's X-Request-Id", peer, k, v)
				}
			}
			if v := got.Values("X-Request-Id"); len(v) != 1 || v[0] != "edge-id-1" {
				t.Errorf("from %s, X-Request-Id %q, want the client's safe edge-id-1", peer, v)
			}
		}
	}
}
