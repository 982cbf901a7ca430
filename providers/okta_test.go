package providers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/token/tokentest"
)

const (
	oktaClient = "0oa1b2c3d4EXAMPLE5d7"
	oktaUID    = "00u1a2b3c4EXAMPLE5d6"
)

// Okta's custom authorization servers publish keys with alg, use and kid
// (no x5c), and issue access tokens without typ in the header, with scopes
// as an array in scp, the client in cid, the user's id in uid and the
// user's login in sub.
func TestOkta(t *testing.T) {
	reuseKeys()
	key := rsaKey("Rz9d3QqYhP7uN2vW5xA8cE1fG4jK6mL0oB3tS5yU7iI")
	p := startProvider(t, "okta.yaml", jwksDoc(rsaJWK(key, map[string]any{"kid": key.KID, "alg": "RS256", "use": "sig"})))
	iss := p.issuer("okta")
	if !strings.HasSuffix(iss, "/oauth2/default") {
		t.Fatalf("the loopback issuer %q lost the authorization server's path", iss)
	}
	user := func(scp []string, groups []string) tokentest.Claims {
		return merge(times(hour), tokentest.Claims{
			"ver": 1, "jti": "AT.v4nJ8mX2q0pL6rT9sW3yB5cD7eF1gH4jK", "iss": iss, "aud": "api://default",
			"cid": oktaClient, "uid": oktaUID, "scp": scp, "auth_time": times(0)["iat"],
			"sub": "alice@example.com", "groups": groups,
		})
	}
	service := merge(times(hour), tokentest.Claims{
		"ver": 1, "jti": "AT.q1w2e3r4t5y6u7i8o9p0", "iss": iss, "aud": "api://default",
		"cid": oktaClient, "scp": []string{"orders:read"}, "sub": oktaClient,
	})

	p.check(t, []request{
		{name: "a user token with orders:read in scp (an array) is forwarded",
			path: "/orders", token: key.Sign(user([]string{"openid", "orders:read"}, []string{"Everyone"}), noTyp), status: http.StatusOK,
			forwarded: map[string]string{"X-User-Id": oktaUID, "X-User-Login": "alice@example.com",
				"X-Client-Id": oktaClient, "X-Groups": "Everyone"}},
		{name: "a client-credentials token (no uid, sub is the client) is forwarded without a user id",
			path: "/orders", token: key.Sign(service, noTyp), status: http.StatusOK,
			forwarded: map[string]string{"X-User-Id": "", "X-User-Login": oktaClient}},
		{name: "a scope claim is not read: Okta puts scopes in scp only",
			path: "/orders", token: key.Sign(user([]string{"openid"}, nil).With("scope", "orders:read"), noTyp),
			status: http.StatusForbidden, challenge: `scope="orders:read"`},
		{name: "writing needs orders:write and the order-admins group",
			method: http.MethodPut, path: "/orders/7", token: key.Sign(user([]string{"orders:write"}, []string{"Everyone", "order-admins"}), noTyp),
			status: http.StatusOK},
		{name: "orders:write outside the order-admins group gets 403",
			method: http.MethodPut, path: "/orders/7", token: key.Sign(user([]string{"orders:write"}, []string{"Everyone"}), noTyp),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "groups as the string order-admins (not an array) gets 403",
			method: http.MethodPut, path: "/orders/7", token: key.Sign(user([]string{"orders:write"}, nil).With("groups", "order-admins"), noTyp),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "a token of the org authorization server is refused",
			path: "/orders", token: key.Sign(user([]string{"orders:read"}, nil).With("iss", strings.TrimSuffix(iss, "/oauth2/default")), noTyp),
			status: http.StatusUnauthorized, challenge: "issuer is not accepted"},
		{name: "a token for another authorization server's audience is refused",
			path: "/orders", token: key.Sign(user([]string{"orders:read"}, nil).With("aud", "api://payments"), noTyp),
			status: http.StatusUnauthorized, challenge: "audience is not accepted"},
		{name: "an expired token gets 401",
			path: "/orders", token: key.Sign(user([]string{"orders:read"}, nil).With("exp", times(expired)["exp"]), noTyp),
			status: http.StatusUnauthorized, challenge: "the token has expired"},
	})
}
