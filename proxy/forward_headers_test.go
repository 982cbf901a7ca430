package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// clientClaimHeaders are headers in which a proxy tells its upstream the
// client's address, scheme, port or path prefix: kept from a trusted proxy,
// removed from anyone else (forward.go, clientClaims).
var clientClaimHeaders = []string{
	"X-Real-IP", "True-Client-IP", "X-Client-IP", "CF-Connecting-IP",
	"Fastly-Client-IP", "X-Cluster-Client-IP", "X-Forwarded", "Forwarded-For",
	"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server",
	"X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Protocol",
	"Front-End-Https", "X-Url-Scheme",
}

// urlOverrideHeaders are read by some upstreams as the request's path:
// removed from every client, trusted proxies too.
var urlOverrideHeaders = []string{"X-Original-URL", "X-Rewrite-URL"}

// spellings are the ways a client may write name that some upstream reads
// as name: as Go canonicalizes it, in lower case, and with '_' for '-'
// (CGI, WSGI, nginx with underscores_in_headers fold the two).
func spellings(name string) []string {
	return []string{
		http.CanonicalHeaderKey(name),
		strings.ToLower(name),
		strings.ReplaceAll(name, "-", "_"),
	}
}

// received reports the values the upstream got for any spelling of name.
func received(h http.Header, name string) []string {
	fold := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "-")) }
	var got []string
	for k, v := range h {
		if fold(k) == fold(name) {
			got = append(got, v...)
		}
	}
	return got
}

func TestClientAddressAndURLHeaders(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.Server.TrustedProxies = []string{"10.0.0.0/8"} })
	send := func(t *testing.T, peer, name string) http.Header {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "http://api.example.com/anything", nil)
		req.RemoteAddr = peer
		req.Header[name] = []string{"10.9.9.9"}
		before := f.up.Count()
		if res := f.do(req); res.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", res.StatusCode, res.body)
		}
		if f.up.Count() != before+1 {
			t.Fatal("the upstream was not reached")
		}
		return f.up.Last().Header
	}

	for _, h := range clientClaimHeaders {
		for _, name := range spellings(h) {
			t.Run("an untrusted client's "+name+" is removed", func(t *testing.T) {
				if got := received(send(t, "192.0.2.10:4000", name), h); len(got) != 0 {
					t.Errorf("upstream got %s: %q", h, got)
				}
			})
		}
		t.Run("a trusted proxy's "+h+" is kept", func(t *testing.T) {
			if got := received(send(t, "10.1.2.3:4000", h), h); len(got) != 1 || got[0] != "10.9.9.9" {
				t.Errorf("upstream got %s: %q, want the proxy's value", h, got)
			}
		})
	}
	for _, h := range urlOverrideHeaders {
		for _, name := range spellings(h) {
			for peer, who := range map[string]string{"192.0.2.10:4000": "an untrusted client", "10.1.2.3:4000": "a trusted proxy"} {
				t.Run(who+"'s "+name+" is removed", func(t *testing.T) {
					if got := received(send(t, peer, name), h); len(got) != 0 {
						t.Errorf("upstream got %s: %q for a path the gateway never matched", h, got)
					}
				})
			}
		}
	}
	// X-Forwarded-For, -Host and -Proto are the gateway's own (rewrite sets
	// them); a client's header that folds to one of them but is spelled
	// otherwise is another header to Go, and one to CGI-style upstreams.
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		name := strings.ReplaceAll(h, "-", "_")
		for peer, who := range map[string]string{"192.0.2.10:4000": "an untrusted client", "10.1.2.3:4000": "a trusted proxy"} {
			t.Run(who+"'s "+name+" is removed", func(t *testing.T) {
				got := send(t, peer, name)
				for k, v := range got {
					if k != h && strings.EqualFold(strings.ReplaceAll(k, "_", "-"), h) {
						t.Errorf("upstream got %s: %q beside the gateway's %s", k, v, h)
					}
				}
			})
		}
	}
	t.Run("other headers from an untrusted client are kept", func(t *testing.T) {
		for _, name := range []string{"X-Request-Source", "X-Forwarded-Client-Cert-Note", "Real-IP-Note"} {
			if got := received(send(t, "192.0.2.10:4000", name), name); len(got) != 1 {
				t.Errorf("upstream got %s: %q, want it forwarded", name, got)
			}
		}
	})
}
