package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// gatewayConfig trusts one Hydra, found by discovery, and refreshes its
// keys every second so that rotation is observed within the test.
func gatewayConfig(issuer, upstream string) func(listen, admin string) string {
	return func(listen, admin string) string {
		return fmt.Sprintf(`
server:
  listen: %q
  admin_listen: %q
  shutdown_grace: 1s
log:
  level: info
issuers:
  - name: hydra
    issuer: %q
    discovery: true
    audiences: ["orders-api"]
    algorithms: ["RS256"]
    refresh_interval: 1s
    min_refresh_interval: 1s
    clock_skew: 1s
    required_claims: ["exp", "sub", "client_id"]
routes:
  - name: orders-read
    match:
      path_prefix: /orders
      methods: [GET, HEAD]
    upstream: %q
    auth:
      scopes:
        all_of: ["orders:read"]
    forward:
      claims_to_headers:
        X-Client-Id: client_id
        X-User-Id: sub
        X-Scopes: scp
  - name: orders-write
    match:
      path_prefix: /orders
    upstream: %q
    auth:
      scopes:
        all_of: ["orders:write"]
    forward:
      claims_to_headers:
        X-Client-Id: client_id
`, listen, admin, issuer, upstream, upstream)
	}
}

// TestHydra runs portcullis in front of a real Hydra. The steps share one
// Hydra and one gateway and run in order, because rotation changes the
// state that later steps see; each step's name is what it shows.
func TestHydra(t *testing.T) {
	needHydra(t)

	idp := startHydra(t, "hydra", "")
	// A second Hydra that claims the first one's issuer but has keys of
	// its own: an impostor that the gateway must tell apart by signature.
	// It starts up while the first one generates its keys.
	impostor := launchHydra(t, "impostor-hydra", idp.issuer)

	svc := idp.createClient(t, "orders-service", "orders:read orders:write", "orders-api")
	shortLived := idp.createClient(t, "short-lived", "orders:read", "orders-api")
	idp.setLifespan(t, shortLived, 6*time.Second)

	// The first token and the first key set request make Hydra generate
	// its access-token and ID-token keys (RSA 4096: seconds, more on a busy
	// machine); doing both before the gateway starts keeps the gateway's
	// first key fetch within its timeout.
	readTok := idp.token(t, svc, "orders:read", "orders-api")
	idp.publishedKids(t)
	hdr, claims := jwtParts(t, readTok)
	firstKid, _ := hdr["kid"].(string)

	up := gatewaytest.NewUpstream(t)
	gw := startGateway(t, up, gatewayConfig(idp.issuer, up.URL))

	ready := t.Run("keys are found through Hydra's openid-configuration and the gateway becomes ready", func(t *testing.T) {
		gw.waitReady(t, 60*time.Second)
		published := idp.publishedKids(t)
		if !slices.Contains(published, firstKid) {
			t.Fatalf("Hydra's JWKS %v lacks the token's kid %q", published, firstKid)
		}
		// The configuration names no jwks_uri: the one in use came from
		// Hydra's discovery document.
		if want := `"jwks_uri":"` + idp.public + `/.well-known/jwks.json"`; !strings.Contains(gw.Output(), want) {
			t.Errorf("the gateway's log does not show keys loaded from %s", want)
		}
		if n, ok := gw.metric(t, `portcullis_jwks_keys{issuer="hydra"}`); !ok || int(n) != len(published) {
			t.Errorf("portcullis_jwks_keys = %v (present %v), want %d: every key Hydra publishes", n, ok, len(published))
		}
	})
	if !ready {
		t.FailNow() // every later step needs a ready gateway
	}

	t.Run("Hydra issues the shape the documentation describes: typ JWT, aud and scp arrays", func(t *testing.T) {
		if hdr["typ"] != "JWT" || hdr["alg"] != "RS256" || firstKid == "" {
			t.Errorf("header = %v", hdr)
		}
		aud, _ := claims["aud"].([]any)
		scp, _ := claims["scp"].([]any)
		if len(aud) != 1 || aud[0] != "orders-api" || len(scp) != 1 || scp[0] != "orders:read" ||
			claims["client_id"] != "orders-service" || claims["iss"] != idp.issuer {
			t.Errorf("claims = %v", claims)
		}
	})

	t.Run("a token with the route's scope is forwarded with its claims as headers", func(t *testing.T) {
		r := gw.do(t, http.MethodGet, "/orders/42", readTok, "X-Client-Id", "spoofed")
		if r.status != http.StatusOK || r.seen == nil {
			t.Fatalf("status %d, forwarded %v: %s", r.status, r.seen != nil, r.body)
		}
		for name, want := range map[string]string{"X-Client-Id": "orders-service", "X-User-Id": "orders-service", "X-Scopes": "orders:read"} {
			if got := r.seen.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("%s at the upstream = %q, want %q", name, got, want)
			}
		}
	})

	t.Run("a token without the route's scope gets 403 insufficient_scope", func(t *testing.T) {
		r := gw.do(t, http.MethodPost, "/orders", readTok)
		if r.status != http.StatusForbidden || r.seen != nil {
			t.Fatalf("status %d, forwarded %v: %s", r.status, r.seen != nil, r.body)
		}
		if !strings.Contains(r.challenge, `error="insufficient_scope"`) || !strings.Contains(r.challenge, `scope="orders:write"`) {
			t.Errorf("WWW-Authenticate = %q", r.challenge)
		}
	})

	t.Run("a token with both scopes may write", func(t *testing.T) {
		tok := idp.token(t, svc, "orders:read orders:write", "orders-api")
		if r := gw.do(t, http.MethodPost, "/orders", tok); r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})

	t.Run("a token requested without the API's audience gets 401", func(t *testing.T) {
		tok := idp.token(t, svc, "orders:read", "")
		r := gw.do(t, http.MethodGet, "/orders", tok)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.challenge, "audience is not accepted") {
			t.Fatalf("status %d, WWW-Authenticate %q", r.status, r.challenge)
		}
	})

	// A short-lived token is taken now and checked again at the end, so
	// that its expiry overlaps the other steps instead of adding a wait.
	shortTok := idp.token(t, shortLived, "orders:read", "orders-api")
	_, shortClaims := jwtParts(t, shortTok)
	t.Run("a short-lived token is accepted while it is valid", func(t *testing.T) {
		if r := gw.do(t, http.MethodGet, "/orders", shortTok); r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})

	impostor = impostor.ready(t)

	t.Run("a token from a second Hydra with another key under the same kid gets 401 bad signature", func(t *testing.T) {
		impostor.addSigningKey(t, firstKid)
		c := impostor.createClient(t, "orders-service", "orders:read", "orders-api")
		tok := impostor.token(t, c, "orders:read", "orders-api")
		if h, p := jwtParts(t, tok); h["kid"] != firstKid || p["iss"] != idp.issuer {
			t.Fatalf("the impostor's token does not mimic the real one: header %v, iss %v", h, p["iss"])
		}
		r := gw.do(t, http.MethodGet, "/orders", tok)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.challenge, "signature is invalid") {
			t.Fatalf("status %d, WWW-Authenticate %q", r.status, r.challenge)
		}
	})

	t.Run("a token from a second Hydra under a kid of its own gets 401 unknown key", func(t *testing.T) {
		impostor.addSigningKey(t, "impostor-key")
		c := impostor.createClient(t, "reader", "orders:read", "orders-api")
		tok := impostor.token(t, c, "orders:read", "orders-api")
		r := gw.do(t, http.MethodGet, "/orders", tok)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.challenge, "signed by an unknown key") {
			t.Fatalf("status %d, WWW-Authenticate %q", r.status, r.challenge)
		}
		if n, _ := gw.metric(t, `portcullis_auth_failures_total{issuer="hydra",reason="unknown_key"}`); n < 1 {
			t.Errorf("portcullis_auth_failures_total{reason=unknown_key} = %v, want at least 1", n)
		}
	})

	const rotated = "rotated-1"
	var rotatedTok string
	t.Run("a signing key added in Hydra is picked up without a restart", func(t *testing.T) {
		idp.addSigningKey(t, rotated)
		rotatedTok = idp.token(t, svc, "orders:read", "orders-api")
		if h, _ := jwtParts(t, rotatedTok); h["kid"] != rotated {
			t.Fatalf("Hydra signed with kid %v, not the newest key %q", h["kid"], rotated)
		}
		r := eventually(t, 20*time.Second, func() result { return gw.do(t, http.MethodGet, "/orders", rotatedTok) },
			func(r result) bool { return r.status == http.StatusOK })
		if r.status != http.StatusOK {
			t.Fatalf("a token under the new key: status %d, WWW-Authenticate %q", r.status, r.challenge)
		}
	})

	t.Run("a token under the previous key is accepted while Hydra still publishes it", func(t *testing.T) {
		if r := gw.do(t, http.MethodGet, "/orders", readTok); r.status != http.StatusOK {
			t.Fatalf("status %d, WWW-Authenticate %q", r.status, r.challenge)
		}
	})

	// Before the key that signed it is removed: a token under an unknown
	// key is refused as such, whatever its exp.
	t.Run("a short-lived token gets 401 once it has expired", func(t *testing.T) {
		exp, _ := shortClaims["exp"].(float64)
		if exp == 0 {
			t.Fatalf("short-lived token without exp: %v", shortClaims)
		}
		// exp is whole seconds; past exp + clock_skew (1s) it is expired.
		wait := time.Until(time.Unix(int64(exp), 0).Add(1500 * time.Millisecond))
		if wait > 15*time.Second {
			t.Fatalf("the token lives %v more: its lifespan was not applied", wait)
		}
		time.Sleep(max(wait, 0))
		r := gw.do(t, http.MethodGet, "/orders", shortTok)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.challenge, "the token has expired") {
			t.Fatalf("status %d, WWW-Authenticate %q", r.status, r.challenge)
		}
	})

	t.Run("a key removed from Hydra is refused after the next refresh", func(t *testing.T) {
		idp.deleteSigningKey(t, firstKid)
		if slices.Contains(idp.publishedKids(t), firstKid) {
			t.Fatalf("Hydra still publishes %q after DELETE", firstKid)
		}
		r := eventually(t, 20*time.Second, func() result { return gw.do(t, http.MethodGet, "/orders", readTok) },
			func(r result) bool { return r.status != http.StatusOK })
		if r.status != http.StatusUnauthorized || !strings.Contains(r.challenge, "signed by an unknown key") {
			t.Fatalf("a token under the removed key: status %d, WWW-Authenticate %q", r.status, r.challenge)
		}
		if r := gw.do(t, http.MethodGet, "/orders", rotatedTok); r.status != http.StatusOK {
			t.Fatalf("the new key stopped working: status %d, WWW-Authenticate %q", r.status, r.challenge)
		}
	})

	if gw.Exited() {
		t.Fatal("the gateway exited during the test: rotation must not need a restart")
	}
}

// eventually calls try until done accepts its result or within passes
// (polling every 100ms), and returns the last result.
func eventually(t *testing.T, within time.Duration, try func() result, done func(result) bool) result {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := try()
		if done(r) || time.Now().After(deadline) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
}
