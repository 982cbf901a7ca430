package providers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/token/tokentest"
)

const (
	auth0Client = "kT3nQ8vW2xYz5aB7cD9eF1gH4jK6mN0p"
	auth0User   = "auth0|64b7f2c9e1a3d5f7b9c0e2a4"
	auth0API    = "https://orders.example.com"
	auth0Roles  = "https://example.com/roles"
)

// auth0Keys is an Auth0 tenant's key set: the current and the next
// signing key, each with alg, use, kid, x5t and an x5c certificate.
func auth0Keys(t *testing.T) (current *tokentest.Key, jwks []byte) {
	t.Helper()
	current, next := rsaKey("Bm9nqXx3aQ7Fz1Yc2Ld8e"), rsaKey("Vw4rTk6pHs1Jm8Qz0Lc5x")
	var entries []map[string]any
	for _, k := range []*tokentest.Key{current, next} {
		c := selfSigned(t, k, "example-tenant.us.auth0.com")
		entries = append(entries, rsaJWK(k, map[string]any{"use": "sig", "kid": k.KID, "alg": "RS256", "x5t": c.x5t(), "x5c": c.x5c()}))
	}
	return current, jwksDoc(entries...)
}

// auth0UserToken is a user's access token in the default profile: aud holds the
// API and /userinfo (openid was asked for), permissions (RBAC) and a
// namespaced roles claim added by an Action.
func auth0UserToken(iss string, scope string, permissions, roles []string) tokentest.Claims {
	c := merge(times(hour), tokentest.Claims{
		"iss": iss, "sub": auth0User,
		"aud":   []string{auth0API, strings.TrimSuffix(iss, "/") + "/userinfo"},
		"scope": scope, "azp": auth0Client, "permissions": permissions,
	})
	if roles != nil {
		c[auth0Roles] = roles
	}
	return c
}

// auth0RFC9068 is the same token in the RFC 9068 profile: client_id
// instead of azp, and a jti.
func auth0RFC9068(iss, scope string, permissions []string) tokentest.Claims {
	c := auth0UserToken(iss, scope, permissions, []string{"order-admin"}).With("azp", nil)
	c["client_id"] = auth0Client
	c["jti"] = "3b1c9a7e2d5f4e8a"
	return c
}

var atJWT = map[string]any{"typ": "at+jwt"}

func TestAuth0DefaultProfile(t *testing.T) {
	reuseKeys()
	key, jwks := auth0Keys(t)
	p := startProvider(t, "auth0.yaml", jwks)
	iss := p.issuer("auth0")
	if !strings.HasSuffix(iss, "/") {
		t.Fatalf("the loopback issuer %q lost Auth0's trailing slash", iss)
	}
	m2m := merge(times(hour), tokentest.Claims{
		"iss": iss, "sub": auth0Client + "@clients", "aud": auth0API,
		"scope": "read:orders", "gty": "client-credentials", "azp": auth0Client,
	})
	user := auth0UserToken(iss, "openid profile email", []string{"read:orders", "write:orders"}, []string{"order-admin", "support"})

	p.check(t, []request{
		{name: "a user token with the permission is forwarded with the namespaced roles claim",
			path: "/orders", token: key.Sign(user), status: http.StatusOK,
			spoof: map[string]string{"X-User-Roles": "order-admin", "X_User_Permissions": "everything"},
			forwarded: map[string]string{
				"X-User-Id":          auth0User,
				"X-User-Roles":       "order-admin,support",
				"X-User-Permissions": "read:orders,write:orders",
				"X-Client-Id":        auth0Client,
				"X_User_Permissions": "",
			}},
		{name: "a machine-to-machine token with the permission in scope only is forwarded",
			path: "/orders", token: key.Sign(m2m), status: http.StatusOK,
			forwarded: map[string]string{"X-User-Id": auth0Client + "@clients", "X-User-Roles": "", "X-User-Permissions": ""}},
		{name: "writing needs the write permission and the order-admin role",
			method: http.MethodPost, path: "/orders", token: key.Sign(user), status: http.StatusOK},
		{name: "the write permission without the role gets 403",
			method: http.MethodPost, path: "/orders",
			token:  key.Sign(auth0UserToken(iss, "openid", []string{"read:orders", "write:orders"}, []string{"support"})),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "the roles claim as the string order-admin (not an array) gets 403",
			method: http.MethodPost, path: "/orders",
			token:  key.Sign(auth0UserToken(iss, "openid", []string{"read:orders", "write:orders"}, nil).With(auth0Roles, "order-admin")),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "a roles array holding only order-admin passes {contains: order-admin}",
			method: http.MethodPost, path: "/orders",
			token:  key.Sign(auth0UserToken(iss, "openid", []string{"write:orders"}, []string{"order-admin"})),
			status: http.StatusOK},
		{name: "the role without the write permission gets 403 naming the permission",
			method: http.MethodPost, path: "/orders",
			token:  key.Sign(auth0UserToken(iss, "openid", []string{"read:orders"}, []string{"order-admin"})),
			status: http.StatusForbidden, challenge: `scope="write:orders"`},
		{name: "a token whose permissions lack read:orders gets 403",
			path: "/orders", token: key.Sign(auth0UserToken(iss, "openid profile", []string{"write:orders"}, nil)),
			status: http.StatusForbidden, challenge: `scope="read:orders"`},
		{name: "a token in the RFC 9068 profile is accepted too (no token_types set)",
			path: "/orders", token: key.Sign(auth0RFC9068(iss, "openid", []string{"read:orders"}), atJWT), status: http.StatusOK,
			forwarded: map[string]string{"X-Client-Id": ""}},
		{name: "an ID token (aud is the client) is refused as bad audience",
			path: "/orders", token: key.Sign(user.With("aud", auth0Client)),
			status: http.StatusUnauthorized, challenge: "audience is not accepted"},
		{name: "an iss without Auth0's trailing slash is another issuer",
			path: "/orders", token: key.Sign(user.With("iss", strings.TrimSuffix(iss, "/"))),
			status: http.StatusUnauthorized, challenge: "issuer is not accepted"},
		{name: "an expired token gets 401",
			path: "/orders", token: key.Sign(user.With("exp", times(expired)["exp"])),
			status: http.StatusUnauthorized, challenge: "the token has expired"},
	})
}

func TestAuth0RFC9068Profile(t *testing.T) {
	reuseKeys()
	key, jwks := auth0Keys(t)
	p := startProvider(t, "auth0-rfc9068.yaml", jwks)
	iss := p.issuer("auth0")
	at := auth0RFC9068(iss, "openid profile", []string{"read:orders"})

	p.check(t, []request{
		{name: "an at+jwt token is forwarded with client_id",
			path: "/orders", token: key.Sign(at, atJWT), status: http.StatusOK,
			forwarded: map[string]string{"X-Client-Id": auth0Client, "X-User-Id": auth0User, "X-User-Roles": "order-admin"}},
		{name: "typ application/at+jwt is the same type",
			path: "/orders", token: key.Sign(at, map[string]any{"typ": "application/at+jwt"}), status: http.StatusOK},
		{name: "a token of the default profile (typ JWT) is refused as bad type",
			path: "/orders", token: key.Sign(auth0UserToken(iss, "openid", []string{"read:orders"}, nil)),
			status: http.StatusUnauthorized, challenge: "the token's type is not accepted"},
		{name: "an ID token signed by the tenant (typ JWT) is refused even with a matching aud",
			path: "/orders", token: key.Sign(at.With("aud", auth0API)),
			status: http.StatusUnauthorized, challenge: "the token's type is not accepted"},
		{name: "an at+jwt token without client_id is refused as missing a claim",
			path: "/orders", token: key.Sign(at.With("client_id", nil), atJWT),
			status: http.StatusUnauthorized, challenge: "lacks a required claim"},
		{name: "an at+jwt token without the permission gets 403",
			path: "/orders", token: key.Sign(auth0RFC9068(iss, "openid", []string{"write:orders"}), atJWT),
			status: http.StatusForbidden, challenge: `scope="read:orders"`},
	})
}
