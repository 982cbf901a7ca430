package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// opaqueGatewayConfig trusts one Hydra that issues opaque tokens: no key
// set (discovery is off and there is no jwks_uri), only its introspection
// endpoint, which Hydra v2 serves on its admin API. Answers are cached for
// a second so that a revocation is observed within the test.
func opaqueGatewayConfig(issuer, endpoint, secretFile, upstream string) func(listen, admin string) string {
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
    discovery: false
    audiences: ["orders-api"]
    algorithms: ["RS256"]
    required_claims: ["exp", "sub", "client_id"]
    introspection:
      endpoint: %q
      client_id: portcullis
      client_secret_file: %q
      timeout: 2s
      cache_ttl: 1s
      negative_cache_ttl: 1s
routes:
  - name: orders-read
    match:
      path_prefix: /orders
      methods: [GET, HEAD]
    upstream: %q
    auth:
      issuers: ["hydra"]
      scopes:
        all_of: ["orders:read"]
    forward:
      claims_to_headers:
        X-User-Id: sub
        X-Client: client_id
`, listen, admin, issuer, endpoint, secretFile, upstream)
	}
}

// TestHydraOpaque runs portcullis in front of a Hydra that issues opaque
// access tokens, which the gateway can only judge by asking Hydra's
// introspection endpoint (RFC 7662). The steps share one Hydra and one
// gateway and run in order: revocation changes what later steps see.
func TestHydraOpaque(t *testing.T) {
	needHydra(t)

	idp := launchHydraStrategy(t, "hydra-opaque", "", "opaque").ready(t)
	svc := idp.registerClient(t, "orders-service", "orders:read orders:write", "opaque", "orders-api")

	readTok := idp.grant(t, svc, "orders:read", "orders-api")
	writeTok := idp.grant(t, svc, "orders:write", "orders-api")
	const madeUp = "ory_at_dGhpcyBpcyBub3QgYSB0b2tlbg.bm9yIGlzIHRoaXMgYSBzaWduYXR1cmU"

	// The gateway's own credentials for introspection. Hydra's admin API
	// does not check them; the gateway sends them all the same, and they
	// must never reach its log either.
	gatewaySecret := randomHex(t, 16)
	secretFile := gatewaytest.WriteFile(t, "introspection-secret", gatewaySecret+"\n")

	up := gatewaytest.NewUpstream(t)
	gw := startGateway(t, up, opaqueGatewayConfig(idp.issuer, idp.admin+"/admin/oauth2/introspect", secretFile, up.URL))

	ready := t.Run("an issuer with introspection and no key set becomes ready", func(t *testing.T) {
		gw.waitReady(t, 30*time.Second)
	})
	if !ready {
		t.FailNow() // every later step needs a ready gateway
	}

	t.Run("Hydra issues opaque tokens and introspects them as the documentation describes", func(t *testing.T) {
		for _, tok := range []string{readTok, writeTok} {
			// ory_at_<key>.<signature>: one dot, so never taken for a JWT.
			if !strings.HasPrefix(tok, "ory_at_") || strings.Count(tok, ".") == 2 {
				t.Fatalf("not an opaque Hydra access token: %d dots, prefix ory_at_ %v",
					strings.Count(tok, "."), strings.HasPrefix(tok, "ory_at_"))
			}
		}
		answer := idp.introspect(t, readTok)
		aud, _ := answer["aud"].([]any)
		if answer["active"] != true || answer["scope"] != "orders:read" || answer["client_id"] != svc.id ||
			answer["sub"] != svc.id || answer["iss"] != idp.issuer || len(aud) != 1 || aud[0] != "orders-api" ||
			answer["token_use"] != "access_token" {
			t.Errorf("introspection answer = %v", answer)
		}
	})

	t.Run("an opaque token with the route's scope is forwarded with its introspected claims as headers", func(t *testing.T) {
		r := gw.do(t, http.MethodGet, "/orders/42", readTok, "X-Client", "spoofed")
		if r.status != http.StatusOK || r.seen == nil {
			t.Fatalf("status %d, forwarded %v, WWW-Authenticate %q: %s", r.status, r.seen != nil, r.challenge, r.body)
		}
		for name, want := range map[string]string{
			"X-Client":      svc.id,
			"X-User-Id":     svc.id,
			"Authorization": "Bearer " + readTok,
		} {
			if got := r.seen.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("%s at the upstream = %q, want %q", name, got, want)
			}
		}
		if n, _ := gw.metric(t, `portcullis_introspection_requests_total{issuer="hydra",result="active"}`); n < 1 {
			t.Errorf(`portcullis_introspection_requests_total{result="active"} = %v, want at least 1`, n)
		}
	})

	t.Run("an opaque token without the route's scope gets 403 insufficient_scope", func(t *testing.T) {
		r := gw.do(t, http.MethodGet, "/orders/42", writeTok)
		if r.status != http.StatusForbidden || !strings.Contains(r.challenge, `error="insufficient_scope"`) {
			t.Fatalf("status %d, WWW-Authenticate %q: %s", r.status, r.challenge, r.body)
		}
	})

	t.Run("an opaque token revoked at Hydra gets 401 invalid_token once its cached answer lapses", func(t *testing.T) {
		idp.revoke(t, svc, readTok)
		if answer := idp.introspect(t, readTok); answer["active"] != false {
			t.Fatalf("Hydra still says the revoked token is active: %v", answer)
		}
		// cache_ttl is 1s: the gateway may serve its cached answer until
		// then, and must not after.
		r := eventually(t, 10*time.Second, func() result { return gw.do(t, http.MethodGet, "/orders/42", readTok) },
			func(r result) bool { return r.status != http.StatusOK })
		if r.status != http.StatusUnauthorized || !strings.Contains(r.challenge, `error="invalid_token"`) {
			t.Fatalf("the revoked token: status %d, WWW-Authenticate %q: %s", r.status, r.challenge, r.body)
		}
		if n, _ := gw.metric(t, `portcullis_auth_failures_total{issuer="hydra",reason="inactive"}`); n < 1 {
			t.Errorf(`portcullis_auth_failures_total{reason="inactive"} = %v, want at least 1`, n)
		}
		if n, _ := gw.metric(t, `portcullis_introspection_requests_total{issuer="hydra",result="inactive"}`); n < 1 {
			t.Errorf(`portcullis_introspection_requests_total{result="inactive"} = %v, want at least 1`, n)
		}
	})

	t.Run("a made-up opaque token gets 401 invalid_token", func(t *testing.T) {
		r := gw.do(t, http.MethodGet, "/orders/42", madeUp)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.challenge, `error="invalid_token"`) {
			t.Fatalf("status %d, WWW-Authenticate %q: %s", r.status, r.challenge, r.body)
		}
	})

	t.Run("the gateway's log holds no token and no secret", func(t *testing.T) {
		out := gw.Output()
		secrets := map[string]string{
			"the introspection client's secret": gatewaySecret,
			"the OAuth2 client's secret":        svc.secret,
		}
		for name, tok := range map[string]string{"the read token": readTok, "the write token": writeTok, "the made-up token": madeUp} {
			// Neither half of ory_at_<key>.<signature> may appear alone.
			key, sig, _ := strings.Cut(strings.TrimPrefix(tok, "ory_at_"), ".")
			secrets[name] = tok
			secrets[name+"'s key"] = key
			secrets[name+"'s signature"] = sig
		}
		for name, s := range secrets {
			if s == "" {
				t.Fatalf("%s is empty", name)
			}
			if strings.Contains(out, s) {
				t.Errorf("the gateway's log holds %s", name)
			}
		}
	})

	if gw.Exited() {
		t.Fatal("the gateway exited during the test")
	}
}
