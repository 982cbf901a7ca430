package providers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/token/tokentest"
)

const (
	cognitoClient = "5o3ramqqbkq1h2hb9ppbs1ot4e"
	cognitoUser   = "d4e8a2b6-1c3f-4a5e-9b7d-0f2e4c6a8b1d"
)

// Cognito publishes two keys with alg, use and a base64 kid, and issues
// access tokens without typ and without aud: the app client is client_id,
// and token_use tells access tokens from ID tokens, which share the issuer
// and the keys. audience_claim: client_id makes the audience check read
// client_id.
func TestCognito(t *testing.T) {
	reuseKeys()
	access, id := rsaKey("nO0bmVOcQ9oA/3Wz+7F2dXr4Yq8KxE1tJv5LhPpGs6k="), rsaKey("Yk3u8Tq2Lw+Rz5Vn7Xm0Cb9Hd4Jf1Ga6Se/Pc2Ni8Ko=")
	p := startProvider(t, "cognito.yaml", jwksDoc(
		rsaJWK(access, map[string]any{"alg": "RS256", "kid": access.KID, "use": "sig"}),
		rsaJWK(id, map[string]any{"alg": "RS256", "kid": id.KID, "use": "sig"}),
	))
	iss := p.issuer("cognito")
	if !strings.HasSuffix(iss, "/eu-west-1_Ex4mpLe12") {
		t.Fatalf("the loopback issuer %q lost the user pool's path", iss)
	}
	user := func(scope string, groups ...string) tokentest.Claims {
		return merge(times(hour), tokentest.Claims{
			"sub": cognitoUser, "cognito:groups": groups, "iss": iss, "version": 2,
			"client_id": cognitoClient, "origin_jti": "7f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f",
			"event_id": "0e1d2c3b-4a59-4867-9786-a5b4c3d2e1f0", "token_use": "access", "scope": scope,
			"auth_time": times(0)["iat"], "jti": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "username": "alice",
		})
	}
	m2m := merge(times(hour), tokentest.Claims{
		"sub": cognitoClient, "token_use": "access", "scope": "orders-api/read",
		"auth_time": times(0)["iat"], "iss": iss, "version": 2, "jti": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
		"client_id": cognitoClient,
	})
	idToken := merge(times(hour), tokentest.Claims{
		"sub": cognitoUser, "cognito:groups": []string{"order-admins"}, "email_verified": true, "iss": iss,
		"cognito:username": "alice", "origin_jti": "7f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f", "aud": cognitoClient,
		"event_id": "0e1d2c3b-4a59-4867-9786-a5b4c3d2e1f0", "token_use": "id", "auth_time": times(0)["iat"],
		"jti": "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", "email": "alice@example.com",
	})

	p.check(t, []request{
		{name: "a user's access token (no aud, client_id matches) is forwarded",
			path: "/orders", token: access.Sign(user("openid orders-api/read", "order-admins"), noTyp), status: http.StatusOK,
			spoof: map[string]string{"X-Groups": "order-admins"},
			forwarded: map[string]string{"X-User-Id": cognitoUser, "X-Username": "alice",
				"X-Groups": "order-admins", "X-Client-Id": cognitoClient}},
		{name: "a user without groups gets no groups header, and no spoofed one",
			path: "/orders", token: access.Sign(user("orders-api/read"), noTyp), status: http.StatusOK,
			spoof:     map[string]string{"X-Groups": "order-admins"},
			forwarded: map[string]string{"X-Groups": ""}},
		{name: "a client-credentials token (no username) is forwarded",
			path: "/orders", token: access.Sign(m2m, noTyp), status: http.StatusOK,
			forwarded: map[string]string{"X-User-Id": cognitoClient, "X-Username": ""}},
		{name: "an access token of another app client is refused as bad audience",
			path: "/orders", token: access.Sign(user("orders-api/read").With("client_id", "1h57kf5cpq17m0eml12example"), noTyp),
			status: http.StatusUnauthorized, challenge: "audience is not accepted"},
		{name: "an aud claim naming the app client does not replace client_id",
			path: "/orders", token: access.Sign(user("orders-api/read").With("client_id", "1h57kf5cpq17m0eml12example", "aud", cognitoClient), noTyp),
			status: http.StatusUnauthorized, challenge: "audience is not accepted"},
		{name: "an ID token of the same pool and app client is refused (no client_id)",
			path: "/orders", token: id.Sign(idToken, noTyp),
			status: http.StatusUnauthorized, challenge: "audience is not accepted"},
		{name: "a token_use other than access gets 403 even with client_id",
			path: "/orders", token: access.Sign(user("orders-api/read").With("token_use", "id"), noTyp),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "a token without token_use is refused as missing a claim",
			path: "/orders", token: access.Sign(user("orders-api/read").With("token_use", nil), noTyp),
			status: http.StatusUnauthorized, challenge: "lacks a required claim"},
		{name: "a token without the resource server scope gets 403",
			path: "/orders", token: access.Sign(user("openid profile"), noTyp),
			status: http.StatusForbidden, challenge: `scope="orders-api/read"`},
		{name: "writing needs orders-api/write and the order-admins group",
			method: http.MethodPost, path: "/orders", token: access.Sign(user("orders-api/write", "order-admins"), noTyp),
			status: http.StatusOK},
		{name: "orders-api/write outside the group gets 403",
			method: http.MethodPost, path: "/orders", token: access.Sign(user("orders-api/write", "readers"), noTyp),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "a group of one is an array holding it: {contains: order-admins} passes",
			method: http.MethodPost, path: "/orders", token: access.Sign(user("orders-api/write", "order-admins"), noTyp),
			status: http.StatusOK},
		{name: "cognito:groups as the string order-admins (not an array) gets 403",
			method: http.MethodPost, path: "/orders", token: access.Sign(user("orders-api/write").With("cognito:groups", "order-admins"), noTyp),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "token_use as the array [\"access\"] is not the value access: 403",
			path: "/orders", token: access.Sign(user("orders-api/read").With("token_use", []string{"access"}), noTyp),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "token_use spanning [\"access\",\"id\"] gets 403",
			path: "/orders", token: access.Sign(user("orders-api/read").With("token_use", []string{"access", "id"}), noTyp),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "an expired access token gets 401",
			path: "/orders", token: access.Sign(user("orders-api/read").With("exp", times(expired)["exp"]), noTyp),
			status: http.StatusUnauthorized, challenge: "the token has expired"},
	})
}
