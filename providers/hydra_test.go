package providers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/token/tokentest"
)

// Ory Hydra publishes its access-token and ID-token keys together, with
// alg, use and a UUID kid, and issues JWT access tokens with typ JWT, aud
// always an array, scopes in scp as an array (or in scope as a string with
// strategies.jwt.scope_claim: string), and consent-time claims under ext.
// The end-to-end tests in e2e/ run a real Hydra; this is the same shape
// with test keys, against examples/hydra.yaml.
func TestHydraShapes(t *testing.T) {
	reuseKeys()
	accessKey, idKey := rsaKey("8d9acb43-d5de-4e5c-8512-c0ba674a5622"), rsaKey("a3f9f975-196e-4e48-93cd-aadba6700335")
	p := startProvider(t, "hydra.yaml", jwksDoc(
		rsaJWK(idKey, map[string]any{"use": "sig", "kid": idKey.KID, "alg": "RS256"}),
		rsaJWK(accessKey, map[string]any{"use": "sig", "kid": accessKey.KID, "alg": "RS256"}),
	))
	iss := p.issuer("hydra")
	token := func(scp ...string) tokentest.Claims {
		return merge(times(hour), tokentest.Claims{
			"aud": []string{"orders-api"}, "client_id": "orders-client", "ext": map[string]any{"tenant": "acme"},
			"iss": iss, "jti": "7abd1de0-12d0-4364-992f-6c2d369e5e62", "nbf": times(0)["iat"],
			"scp": scp, "sub": "orders-client",
		})
	}

	p.check(t, []request{
		{name: "a token with orders:read in scp is forwarded with ext.tenant",
			path: "/orders", token: accessKey.Sign(token("orders:read", "orders:write")), status: http.StatusOK,
			forwarded: map[string]string{"X-Client-Id": "orders-client", "X-User-Id": "orders-client",
				"X-Scopes": "orders:read,orders:write", "X-Tenant": "acme"}},
		{name: "scopes in a scope string (scope_claim: string) are read too",
			path: "/orders", token: accessKey.Sign(token().With("scp", nil, "scope", "orders:read")), status: http.StatusOK,
			forwarded: map[string]string{"X-Scopes": ""}},
		{name: "a token without ext gets no tenant header",
			path: "/orders", token: accessKey.Sign(token("orders:read").With("ext", map[string]any{})), status: http.StatusOK,
			forwarded: map[string]string{"X-Tenant": ""}},
		{name: "a token without orders:write gets 403 on a write",
			method: http.MethodDelete, path: "/orders/1", token: accessKey.Sign(token("orders:read")),
			status: http.StatusForbidden, challenge: `scope="orders:write"`},
		{name: "a token requested without the audience parameter (aud []) is refused",
			path: "/orders", token: accessKey.Sign(token("orders:read").With("aud", []string{})),
			status: http.StatusUnauthorized, challenge: "audience is not accepted"},
		{name: "an iss with a trailing slash Hydra was not configured with is refused",
			path: "/orders", token: accessKey.Sign(token("orders:read").With("iss", iss+"/")),
			status: http.StatusUnauthorized, challenge: "issuer is not accepted"},
		{name: "an expired token gets 401",
			path: "/orders", token: accessKey.Sign(token("orders:read").With("exp", times(expired)["exp"])),
			status: http.StatusUnauthorized, challenge: "the token has expired"},
	})
	if strings.HasSuffix(iss, "/") {
		t.Errorf("examples/hydra.yaml's issuer gained a trailing slash: %q", iss)
	}
}
