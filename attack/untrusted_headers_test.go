package attack_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Client-address headers other than X-Forwarded-* are removed from an
// untrusted client's request: an upstream that reads X-Real-IP or
// True-Client-IP (chi's middleware.RealIP prefers them to X-Forwarded-For;
// nginx real_ip_header X-Real-IP) would otherwise take the client's word
// that the gateway refused to take in X-Forwarded-For. X-Original-URL and
// X-Rewrite-URL (IIS, legacy Symfony: read as the path) are removed from
// every client, a trusted proxy too: the upstream would route on a path
// that no route judged.
func TestUntrustedClientAddressHeadersAreRemoved(t *testing.T) {
	tg := newCatchAllTarget(t)
	clientAddress := []string{"X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "Forwarded", "X-Forwarded-Port",
		"Cf-Connecting-Ip", "Fastly-Client-Ip", "X-Cluster-Client-Ip", "X-Forwarded-Prefix", "X-Forwarded-Scheme"}
	urlOverride := []string{"X-Original-Url", "X-Rewrite-Url"}
	send := func(t *testing.T, peer, name string) http.Header {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "http://api.example.com/anything", nil)
		req.RemoteAddr = peer
		req.Header[name] = []string{"10.0.0.1"}
		return tg.allowed(t, req).Header
	}
	for _, h := range append(clientAddress, urlOverride...) {
		t.Run("from an untrusted client "+h+" is removed", func(t *testing.T) {
			if v := send(t, "192.0.2.1:1234", h).Get(h); v != "" {
				t.Errorf("untrusted client's %s: %q reached the upstream", h, v)
			}
		})
	}
	t.Run("from an untrusted client X_Real_IP is removed", func(t *testing.T) {
		for k, v := range send(t, "192.0.2.1:1234", "X_Real_IP") {
			if http.CanonicalHeaderKey(k) == "X_real_ip" {
				t.Errorf("untrusted client's %s: %q reached the upstream", k, v)
			}
		}
	})
	t.Run("from a trusted proxy X-Real-IP is kept", func(t *testing.T) {
		if v := send(t, "198.51.100.7:4000", "X-Real-Ip").Get("X-Real-Ip"); v != "10.0.0.1" {
			t.Errorf("trusted proxy's X-Real-IP reached the upstream as %q", v)
		}
	})
	for _, h := range urlOverride {
		t.Run("from a trusted proxy "+h+" is removed", func(t *testing.T) {
			if v := send(t, "198.51.100.7:4000", h).Get(h); v != "" {
				t.Errorf("trusted proxy's %s: %q reached the upstream", h, v)
			}
		})
	}
}

// On an optional route, an Authorization value that an upstream could read
// as a bearer credential but that is not a well-formed one ("Bearer<TAB>",
// a list with Bearer after another scheme) is refused as malformed: it is
// not forwarded anonymously with a token nobody verified (here signed by
// the attacker's key) to an upstream that splits on any white space or
// reads a credential list.
func TestOptionalRouteRefusesMalformedBearer(t *testing.T) {
	tg := newTarget(t)
	forged := attackerRSA.Sign(tg.claims("admin").With("sub", "root"))
	for name, a := range map[string]string{
		"Bearer and a tab":             "Bearer\t" + forged,
		"Bearer after Basic":           "Basic x, Bearer " + forged,
		"bearer after Basic, no space": "Basic x,bearer " + forged,
	} {
		t.Run(name, func(t *testing.T) {
			tg.refused(t, request("/profile", []string{a}), http.StatusUnauthorized, "unknown", "malformed")
		})
	}
	t.Run("Basic credentials alone are still forwarded anonymously", func(t *testing.T) {
		up := tg.allowed(t, request("/profile", []string{"Basic YWxpY2U6c2VjcmV0"}))
		if got := up.Header.Get("Authorization"); got != "Basic YWxpY2U6c2VjcmV0" {
			t.Errorf("Authorization = %q", got)
		}
	})
}
