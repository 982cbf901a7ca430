package attack_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// idpYAML trusts one identity provider, whose key set is served by a
// server the test turns hostile.
const idpYAML = `
issuers:
  - name: corp
    issuer: "{{.Issuer}}"
    jwks_uri: "{{.JWKS}}"
    audiences: ["orders-api"]
    algorithms: ["RS256", "ES256"]
    refresh_interval: 1h
    min_refresh_interval: 1s
routes:
  - name: private
    match: {path_prefix: /}
    upstream: "{{.Upstream}}"
    auth: {mode: required}
`

// hostileIdP serves the real key set until told to do something else, and
// counts what it wrote.
type hostileIdP struct {
	*httptest.Server
	behaviour atomic.Pointer[http.HandlerFunc]
	written   atomic.Int64 // body bytes written by the streaming behaviours
}

func newHostileIdP(t *testing.T, good []byte) *hostileIdP {
	h := &hostileIdP{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b := h.behaviour.Load(); b != nil && r.URL.Path == "/jwks" {
			(*b)(w, r)
			return
		}
		switch r.URL.Path {
		case "/jwks", "/jwks-again":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(good)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hostileIdP) become(f http.HandlerFunc) { h.behaviour.Store(&f) }

// stream writes n bytes of filler in 32 KiB writes until the client stops
// reading, counting what went out.
func (h *hostileIdP) stream(w http.ResponseWriter, n int64) {
	chunk := []byte(strings.Repeat(`{"keys":[`, 32<<10/9))
	for sent := int64(0); sent < n; {
		m, err := w.Write(chunk)
		h.written.Add(int64(m))
		sent += int64(m)
		if err != nil {
			return
		}
	}
}

// TestHostileIdentityProvider: whatever the identity provider's key set
// endpoint does after a good start (garbage, errors, huge or endless
// bodies, redirects elsewhere, keys that must never verify anything), the
// gateway stays up, keeps serving the last good keys, and says why: in the
// error of the refresh, in a warning log line and in
// portcullis_jwks_refresh_total{result="error"}, with
// portcullis_jwks_keys still counting the good set.
func TestHostileIdentityProvider(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	suiteKeys()
	attacker := newAttacker(t)
	weak := tokentest.RSA("weak", 1024)
	enc := tokentest.RSA("enc", 2048)
	_ = enc.Public.Set(jwk.KeyUsageKey, "enc")
	offCurve := tokentest.EC("off-curve", "ES256")
	var ecPub map[string]any
	_ = json.Unmarshal(jwkJSON(offCurve), &ecPub)
	y, _ := base64.RawURLEncoding.DecodeString(ecPub["y"].(string))
	ecPub["y"] = base64.RawURLEncoding.EncodeToString(new(big.Int).Add(new(big.Int).SetBytes(y), big.NewInt(1)).FillBytes(make([]byte, 32)))
	set := func(keys ...any) []byte {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return b
	}
	asMap := func(k *tokentest.Key) map[string]any {
		var m map[string]any
		_ = json.Unmarshal(jwkJSON(k), &m)
		return m
	}
	body := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		}
	}

	cases := []struct {
		name      string
		ref       string
		behaviour func(h *hostileIdP) http.HandlerFunc
		err       string // in the refresh error and the warning
		dropped   string // a "jwks key dropped" reason, when keys are the problem
	}{
		{name: "garbage instead of JSON", ref: "CWE-20",
			behaviour: func(*hostileIdP) http.HandlerFunc { return body([]byte("\x00\xffnot json at all")) }, err: "not a JWK Set"},
		{name: "an HTML page with 200", ref: "CWE-20",
			behaviour: func(*hostileIdP) http.HandlerFunc { return body([]byte("<html><body>Maintenance</body></html>")) }, err: "not a JWK Set"},
		{name: "keys that is not an array", ref: "RFC 7517 §5.1",
			behaviour: func(*hostileIdP) http.HandlerFunc { return body([]byte(`{"keys":"all of them"}`)) }, err: "not a JWK Set"},
		{name: "an empty key set", ref: "RFC 7517 §5",
			behaviour: func(*hostileIdP) http.HandlerFunc { return body([]byte(`{"keys":[]}`)) }, err: "no usable signing key"},
		{name: "500", ref: "RFC 9110 §15.6.1",
			behaviour: func(*hostileIdP) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }
			}, err: "status 500"},
		{name: "a 50 MB body with its Content-Length", ref: "CWE-400",
			behaviour: func(h *hostileIdP) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", itoa(50<<20))
					h.stream(w, 50<<20)
				}
			}, err: "exceeds the 1048576-byte limit"},
		{name: "a 50 MB chunked body", ref: "CWE-400",
			behaviour: func(h *hostileIdP) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { h.stream(w, 50<<20) }
			}, err: "exceeds the 1048576-byte limit"},
		{name: "a redirect to another host", ref: "RFC 8725 §3.10 (keys only from the configured origin); CWE-918",
			behaviour: func(*hostileIdP) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, attacker.URL+"/jwks", http.StatusFound)
				}
			}, err: "another origin"},
		{name: "a redirect loop on its own host", ref: "CWE-835",
			behaviour: func(*hostileIdP) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/jwks", http.StatusFound) }
			}, err: "redirects"},
		{name: "only a symmetric key", ref: "RFC 8725 §3.1; CVE-2016-10555",
			behaviour: func(*hostileIdP) http.HandlerFunc {
				return body(set(map[string]any{"kty": "oct", "kid": "oct", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(pkixPEM(rsaKey))}))
			}, err: "no usable signing key", dropped: "symmetric"},
		{name: "only a use: enc key", ref: "RFC 7517 §4.2",
			behaviour: func(*hostileIdP) http.HandlerFunc { return body(set(asMap(enc))) }, err: "no usable signing key", dropped: `use "enc"`},
		{name: "only a 1024-bit RSA key", ref: "RFC 7518 §3.3; NIST SP 800-131A",
			behaviour: func(*hostileIdP) http.HandlerFunc { return body(set(asMap(weak))) }, err: "no usable signing key", dropped: "1024 bits"},
		{name: "only an EC key off its curve", ref: "RFC 8725 §3.4 (invalid curve)",
			behaviour: func(*hostileIdP) http.HandlerFunc { return body(set(ecPub)) }, err: "no usable signing key", dropped: "not on its curve"},
		{name: "only a key whose alg is none", ref: "RFC 8725 §3.1",
			behaviour: func(*hostileIdP) http.HandlerFunc {
				k := asMap(rsaKey)
				k["alg"], k["kid"] = "none", "none-key"
				return body(set(k))
			}, err: "no usable signing key", dropped: "allow-list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := newIdPTarget(t)
			contacted := attacker.hits.Load()
			tg.idp.become(tc.behaviour(tg.idp))
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err := tg.gw.KeySet("corp").Refresh(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("refresh error %v, want one about %q", err, tc.err)
			}
			tg.stillServing(t, tc.err)
			if tc.dropped != "" && !logged(tg.logs, "jwks key dropped", tc.dropped) {
				t.Errorf("no \"jwks key dropped\" line with %q", tc.dropped)
			}
			if n := tg.idp.written.Load(); n >= 50<<20 {
				t.Errorf("the gateway read the whole %d-byte body", n)
			}
			if n := attacker.hits.Load() - contacted; n != 0 {
				t.Errorf("the attacker's server was contacted %d times", n)
			}
		})
	}

	t.Run("a set mixing good and bad keys: the bad ones are dropped and verify nothing", func(t *testing.T) {
		tg := newIdPTarget(t)
		oct := map[string]any{"kty": "oct", "kid": "oct", "k": base64.RawURLEncoding.EncodeToString(pkixPEM(rsaKey))}
		tg.idp.become(body(set(asMap(rsaKey), oct, asMap(enc), asMap(weak), ecPub)))
		if err := tg.gw.KeySet("corp").Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(tg.m.JWKSKeys.WithLabelValues("corp")); got != 1 {
			t.Errorf("portcullis_jwks_keys = %v, want 1", got)
		}
		claims := tokentest.Standard(tg.issuer, audience, "alice", "", time.Hour)
		for _, tc := range []struct {
			name, tok, reason string
		}{
			{"the 1024-bit key", weak.Sign(claims), "unknown_key"},
			{"the use: enc key", enc.Sign(claims), "unknown_key"},
			{"the off-curve key's private half", offCurve.Sign(claims), "unknown_key"},
			{"HS256 with the symmetric key", hmacToken("HS256", pkixPEM(rsaKey), header("alg", "HS256", "kid", "oct"), payloadJSON(claims)), "bad_algorithm"},
		} {
			t.Run(tc.name+" is refused", func(t *testing.T) {
				tg.refused(t, request("/x", bearer(tc.tok)), http.StatusUnauthorized, "corp", tc.reason)
			})
		}
		tg.allowed(t, request("/x", bearer(rsaKey.Sign(claims))))
	})

	t.Run("a slow body does not hold requests with known keys", func(t *testing.T) {
		tg := newIdPTarget(t)
		started := make(chan struct{})
		var once atomic.Bool
		tg.idp.become(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"keys":[`))
			http.NewResponseController(w).Flush()
			if once.CompareAndSwap(false, true) {
				close(started)
			}
			for range 100 { // a byte every 100ms, up to 10s
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				http.NewResponseController(w).Flush()
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		refreshed := make(chan error, 1)
		go func() { refreshed <- tg.gw.KeySet("corp").Refresh(ctx) }()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("the refresh never reached the identity provider")
		}
		// The fetch is now stalled in the body; a request whose key is
		// known must be answered from the current set without waiting.
		claims := tokentest.Standard(tg.issuer, audience, "alice", "", time.Hour)
		tg.allowed(t, request("/x", bearer(rsaKey.Sign(claims))))
		select {
		case err := <-refreshed:
			t.Fatalf("the stalled fetch ended (%v) before the request was served: the test proves nothing", err)
		default:
		}
		select {
		case err := <-refreshed:
			if err == nil {
				t.Fatal("a stalled fetch reported success")
			}
			tg.stillServing(t, "deadline")
		case <-time.After(10 * time.Second):
			t.Fatal("the refresh did not give up at its deadline")
		}
	})
}

// TestHostileDiscovery: a discovery document whose issuer is not the
// configured one (OpenID Connect Discovery 1.0 §4.3), or whose jwks_uri is
// not http(s), is refused: the gateway never loads keys from it, answers
// 503 rather than trusting anything, and says why.
func TestHostileDiscovery(t *testing.T) {
	suiteKeys()
	for _, tc := range []struct {
		name string
		doc  func(is *tokentest.Issuer) map[string]any
		err  string
	}{
		{"an issuer that is not the configured one", func(is *tokentest.Issuer) map[string]any {
			return map[string]any{"issuer": "https://evil.example"}
		}, "does not match configured issuer"},
		{"the configured issuer with a trailing slash", func(is *tokentest.Issuer) map[string]any {
			return map[string]any{"issuer": is.URL() + "/"}
		}, "does not match configured issuer"},
		{"a jwks_uri on the local file system", func(is *tokentest.Issuer) map[string]any {
			return map[string]any{"jwks_uri": "file:///etc/passwd"}
		}, `scheme "file" refused`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := tokentest.NewIssuer(rsaKey)
			t.Cleanup(is.Close)
			is.SetDiscovery(tc.doc(is))
			up := gatewaytest.NewUpstream(t)
			cfg := parseConfig(t, strings.Replace(idpYAML, `jwks_uri: "{{.JWKS}}"`, "discovery: true", 1),
				map[string]string{"Issuer": is.URL(), "Upstream": up.URL})
			tg := &target{t: t, up: up, cfg: cfg}
			tg.start(false)
			deadline := time.Now().Add(5 * time.Second)
			for testutil.ToFloat64(tg.m.JWKSRefresh.WithLabelValues("corp", "error")) < 1 {
				if time.Now().After(deadline) {
					t.Fatal("no failed fetch was counted within 5s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !logged(tg.logs, "jwks fetch failed; no key set was ever loaded, so this issuer's tokens are refused with 503 until one is", tc.err) {
				t.Errorf("no warning saying %q", tc.err)
			}
			claims := tokentest.Standard(is.URL(), audience, "alice", "", time.Hour)
			res := tg.refused(t, request("/x", bearer(rsaKey.Sign(claims))), http.StatusServiceUnavailable, "", "")
			if res.json["error"] != "temporarily_unavailable" {
				t.Errorf("body %s", res.body)
			}
			rec := httptest.NewRecorder()
			tg.gw.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "corp") {
				t.Errorf("/readyz: %d %s", rec.Code, rec.Body)
			}
			if is.JWKSFetches() != 0 {
				t.Errorf("the key set was fetched %d times from a refused discovery", is.JWKSFetches())
			}
		})
	}
}

// idpTarget is a gateway in front of a hostile IdP that started out good.
type idpTarget struct {
	*target
	idp    *hostileIdP
	issuer string
}

func newIdPTarget(t *testing.T) *idpTarget {
	t.Helper()
	suiteKeys()
	idp := newHostileIdP(t, tokentest.JWKS(rsaKey))
	up := gatewaytest.NewUpstream(t)
	issuer := idp.URL
	cfg := parseConfig(t, idpYAML, map[string]string{"Issuer": issuer, "JWKS": idp.URL + "/jwks", "Upstream": up.URL})
	tg := &target{t: t, up: up, cfg: cfg}
	tg.build(false)
	return &idpTarget{target: tg, idp: idp, issuer: issuer}
}

// stillServing asserts what a failed refresh must leave behind: a warning
// that says why, the error counted, the good key still counted and still
// verifying, and /readyz still 200.
func (tg *idpTarget) stillServing(t *testing.T, why string) {
	t.Helper()
	if !logged(tg.logs, "jwks fetch failed; serving the last good set", why) {
		t.Errorf("no warning saying %q", why)
	}
	if got := testutil.ToFloat64(tg.m.JWKSRefresh.WithLabelValues("corp", "error")); got < 1 {
		t.Errorf("portcullis_jwks_refresh_total{result=error} = %v", got)
	}
	if got := testutil.ToFloat64(tg.m.JWKSKeys.WithLabelValues("corp")); got != 1 {
		t.Errorf("portcullis_jwks_keys = %v, want the last good set's 1", got)
	}
	claims := tokentest.Standard(tg.issuer, audience, "alice", "", time.Hour)
	tg.allowed(t, request("/x", bearer(rsaKey.Sign(claims))))
	rec := httptest.NewRecorder()
	tg.gw.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != 200 {
		t.Errorf("/readyz = %d after a failed refresh, want 200 (the last good set is served)", rec.Code)
	}
}

// logged reports whether a log line with message msg has a field whose
// value contains text.
func logged(logs *observer.ObservedLogs, msg, text string) bool {
	for _, e := range logs.FilterMessage(msg).All() {
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, text) {
				return true
			}
		}
	}
	return false
}
