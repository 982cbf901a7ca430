package providers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/token/tokentest"
)

// Keycloak publishes each realm key with alg, use, an x5c certificate and
// both thumbprints, and an RSA-OAEP encryption key beside it. Its access
// tokens have typ JWT in the header, typ Bearer in the payload, roles
// nested in realm_access and resource_access, and aud as an array once an
// Audience mapper is configured.
func TestKeycloak(t *testing.T) {
	reuseKeys()
	sig := rsaKey("PzmV9cSa0EsS6oGgQ0ECW3yR2GcYtVd3mB8n0Xl9k1Q")
	enc := rsaKey("t0kkWL1p4uYqRJZQ9bXhO0HGJt2yJ7kz1yR4vN3sM6E")
	c := selfSigned(t, sig, "acme")
	ce := selfSigned(t, enc, "acme")
	p := startProvider(t, "keycloak.yaml", jwksDoc(
		rsaJWK(sig, map[string]any{"kid": sig.KID, "alg": "RS256", "use": "sig",
			"x5c": c.x5c(), "x5t": c.x5t(), "x5t#S256": c.x5tS256()}),
		rsaJWK(enc, map[string]any{"kid": enc.KID, "alg": "RSA-OAEP", "use": "enc",
			"x5c": ce.x5c(), "x5t": ce.x5t(), "x5t#S256": ce.x5tS256()}),
	))
	iss := p.issuer("keycloak")
	if !strings.HasSuffix(iss, "/realms/acme") {
		t.Fatalf("the loopback issuer %q lost the realm path", iss)
	}

	// An access token for user alice via the orders-web client, with an
	// Audience mapper adding orders-api, as Keycloak 24-26 issue them.
	access := func(scope string, realmRoles []string, clientRoles []string) tokentest.Claims {
		return merge(times(hour), tokentest.Claims{
			"jti":                "onrtac:4f1c2d7e-0b39-4b8e-9f0d-3a6c2e1b5d7f",
			"iss":                iss,
			"aud":                []string{"orders-api", "account"},
			"sub":                "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
			"typ":                "Bearer",
			"azp":                "orders-web",
			"sid":                "9a2b7c1e-5d4f-4e3a-8b6c-0d1e2f3a4b5c",
			"acr":                "1",
			"allowed-origins":    []string{"https://orders.example.com"},
			"realm_access":       map[string]any{"roles": realmRoles},
			"resource_access":    map[string]any{"orders-api": map[string]any{"roles": clientRoles}, "account": map[string]any{"roles": []string{"manage-account", "view-profile"}}},
			"scope":              scope,
			"email_verified":     true,
			"name":               "Alice Liddell",
			"preferred_username": "alice",
			"given_name":         "Alice",
			"family_name":        "Liddell",
			"email":              "alice@example.com",
		})
	}
	defaultRoles := []string{"default-roles-acme", "offline_access", "uma_authorization"}
	reader := sig.Sign(access("openid profile email orders:read", defaultRoles, nil))
	admin := sig.Sign(access("openid profile email", append(defaultRoles, "orders-admin"), nil))
	manager := sig.Sign(access("openid profile email", defaultRoles, []string{"order-manager"}))
	idToken := sig.Sign(access("openid profile email orders:read", defaultRoles, nil).With("typ", "ID", "aud", "orders-api"))
	noMapper := sig.Sign(access("openid profile email orders:read", defaultRoles, nil).With("aud", "account"))

	p.check(t, []request{
		{name: "an access token with the orders:read client scope is forwarded with its identity",
			path: "/orders/1", token: reader, status: http.StatusOK,
			spoof: map[string]string{"X-User-Roles": "orders-admin"},
			forwarded: map[string]string{
				"X-User-Id":     "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
				"X-User-Name":   "alice",
				"X-User-Roles":  "default-roles-acme,offline_access,uma_authorization",
				"X-Client-Id":   "orders-web",
				"Authorization": tokentest.Bearer(reader),
			}},
		{name: "a realm role in realm_access.roles counts as a scope",
			path: "/admin/users", token: admin, status: http.StatusOK,
			forwarded: map[string]string{"X-User-Roles": "default-roles-acme,offline_access,uma_authorization,orders-admin"}},
		{name: "a client role in resource_access.orders-api.roles counts as a scope",
			path: "/admin/users", token: manager, status: http.StatusOK},
		{name: "a token without the role gets 403 insufficient_scope naming the roles",
			path: "/admin/users", token: reader, status: http.StatusForbidden,
			challenge: `error="insufficient_scope", error_description="the token lacks a required scope", scope="orders-admin order-manager"`},
		{name: "a token without the client scope gets 403",
			path: "/orders", token: admin, status: http.StatusForbidden, challenge: `scope="orders:read"`},
		{name: "an ID token (typ claim ID) is refused even with the scope",
			path: "/orders", token: idToken, status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "a typ claim of [\"Bearer\"] (an array) is not the value Bearer: 403",
			path: "/orders", token: sig.Sign(access("openid orders:read", defaultRoles, nil).With("typ", []string{"Bearer"})),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "a typ claim of [\"Bearer\",\"ID\"] spanning both kinds of token gets 403",
			path: "/orders", token: sig.Sign(access("openid orders:read", defaultRoles, nil).With("typ", []string{"Bearer", "ID"})),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "a token without the Audience mapper (aud account) is refused as bad audience",
			path: "/orders", token: noMapper, status: http.StatusUnauthorized,
			challenge: `error="invalid_token", error_description="the token's audience is not accepted"`},
		{name: "an expired token gets 401",
			path: "/orders", token: sig.Sign(access("orders:read", defaultRoles, nil).With("exp", times(expired)["exp"])),
			status: http.StatusUnauthorized, challenge: "the token has expired"},
		{name: "a token signed with the realm's encryption key is refused",
			path: "/orders", token: enc.Sign(access("orders:read", defaultRoles, nil)), status: http.StatusUnauthorized,
			challenge: "signed by an unknown key"},
		{name: "a token for another realm is refused",
			path: "/orders", token: sig.Sign(access("orders:read", defaultRoles, nil).With("iss", strings.Replace(iss, "/acme", "/other", 1))),
			status: http.StatusUnauthorized, challenge: "issuer is not accepted"},
		{name: "no token gets 401 without an error code",
			path: "/orders", status: http.StatusUnauthorized, challenge: `Bearer realm="portcullis"`},
	})

	if n := p.logs.FilterMessage("jwks key dropped").Len(); n != 1 {
		t.Errorf("%d keys dropped, want 1: the encryption key and only it (logs: %v)", n, p.logs.All())
	}
}
