package providers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/token/tokentest"
)

const (
	entraTenant = "3f9c2a7e-5b1d-4c8e-9a6f-2d4b8e1c7a05"
	entraAPI    = "b3f6d2c1-8a4e-4f7b-9c2d-1e5a6b7c8d90" // the API's application (client) id
	entraClient = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" // the calling application
	entraUser   = "6d1e3a5b-2c4f-4e8a-9b7d-1f0e2d3c4b5a" // the user's object id
	entraSP     = "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f" // the calling application's service principal
	msGraph     = "00000003-0000-0000-c000-000000000000"
)

// Entra ID publishes keys without alg, each with x5c, x5t and a kid equal
// to x5t (and, at the v2 endpoint, the tenant's issuer). v2 access tokens
// carry kid; v1 tokens carry kid and x5t. Delegated permissions are a
// space-separated scp string, application permissions a roles array.
func TestEntraID(t *testing.T) {
	reuseKeys()
	current, next := rsaKey(""), rsaKey("")
	cc, cn := selfSigned(t, current, "accounts.accesscontrol.windows.net"), selfSigned(t, next, "accounts.accesscontrol.windows.net")
	entry := func(k *tokentest.Key, c cert) map[string]any {
		return rsaJWK(k, map[string]any{"use": "sig", "kid": c.x5t(), "x5t": c.x5t(), "x5c": c.x5c(),
			"issuer": "https://login.microsoftonline.com/" + entraTenant + "/v2.0"})
	}
	p := startProvider(t, "entra-id.yaml", jwksDoc(entry(current, cc), entry(next, cn)))
	v2iss, v1iss := p.issuer("entra-v2"), p.issuer("entra-v1")
	if v2iss != "https://login.microsoftonline.com/"+entraTenant+"/v2.0" || v1iss != "https://sts.windows.net/"+entraTenant+"/" {
		t.Fatalf("the example's issuers changed: %q, %q", v2iss, v1iss)
	}

	v2Header := map[string]any{"kid": cc.x5t()}
	v1Header := map[string]any{"kid": cc.x5t(), "x5t": cc.x5t()}
	x5tOnly := map[string]any{"kid": "", "x5t": cc.x5t()}

	v2 := func(extra tokentest.Claims) tokentest.Claims {
		return merge(times(hour), tokentest.Claims{
			"aud": entraAPI, "iss": v2iss, "nbf": times(0)["iat"],
			"aio": "AWQAm/8ZAAAA7H6v2t0q", "azp": entraClient, "azpacr": "0",
			"rh": "0.AXkAfiqcP1tbjEyab-0rSOHKBQ.", "tid": entraTenant,
			"uti": "Z3v1n8QmVkq9u0x7Hb0aAA", "ver": "2.0",
		}, extra)
	}
	delegated := func(scp string) tokentest.Claims {
		return v2(tokentest.Claims{"name": "Alice Liddell", "oid": entraUser,
			"preferred_username": "alice@contoso.example", "scp": scp, "sub": "mP3xq1vZ8yK0h7Tn2Lw5bQ4rE6uC9oA1sD3fG5jH7kI"})
	}
	appOnly := func(roles ...string) tokentest.Claims {
		return v2(tokentest.Claims{"azpacr": "1", "oid": entraSP, "sub": entraSP, "roles": roles, "idtyp": "app"})
	}
	v1 := func(aud, scp string) tokentest.Claims {
		return merge(times(hour), tokentest.Claims{
			"aud": aud, "iss": v1iss, "nbf": times(0)["iat"], "acr": "1",
			"aio": "E2ZgYJjVmPL3", "amr": []string{"pwd", "mfa"}, "appid": entraClient, "appidacr": "0",
			"family_name": "Liddell", "given_name": "Alice", "ipaddr": "203.0.113.7", "name": "Alice Liddell",
			"oid": entraUser, "rh": "0.AXkAfiqcP1tbjEyab-0rSOHKBQ.", "scp": scp,
			"sub": "mP3xq1vZ8yK0h7Tn2Lw5bQ4rE6uC9oA1sD3fG5jH7kI", "tid": entraTenant,
			"unique_name": "alice@contoso.example", "upn": "alice@contoso.example",
			"uti": "Z3v1n8QmVkq9u0x7Hb0aAA", "ver": "1.0",
		})
	}
	otherTenant := strings.Replace(v2iss, entraTenant, "c0ffee00-1111-4222-8333-444455556666", 1)

	p.check(t, []request{
		{name: "a v2 token with the delegated scope in scp (a string) is forwarded",
			path: "/orders", token: current.Sign(delegated("Orders.Read User.Read"), v2Header), status: http.StatusOK,
			forwarded: map[string]string{"X-User-Object-Id": entraUser, "X-Tenant-Id": entraTenant,
				"X-Client-Id": entraClient, "X-Client-App-Id": "", "X-Roles": ""}},
		{name: "a v2 application token with the app role in roles (an array) is forwarded",
			path: "/orders", token: current.Sign(appOnly("Orders.Read.All"), v2Header), status: http.StatusOK,
			forwarded: map[string]string{"X-User-Object-Id": entraSP, "X-Roles": "Orders.Read.All"}},
		{name: "a v1 token (sts.windows.net issuer, kid and x5t) is forwarded",
			path: "/orders", token: current.Sign(v1("api://orders-api", "Orders.Read"), v1Header), status: http.StatusOK,
			forwarded: map[string]string{"X-Client-App-Id": entraClient, "X-Client-Id": "", "X-Tenant-Id": entraTenant}},
		{name: "a v1 token whose aud is the application id is accepted",
			path: "/orders", token: current.Sign(v1(entraAPI, "Orders.Read"), v1Header), status: http.StatusOK},
		{name: "a v1 token naming its key only by x5t (older v1 tokens, AD FS) is verified against the set",
			path: "/orders", token: current.Sign(v1("api://orders-api", "Orders.Read"), x5tOnly), status: http.StatusOK},
		{name: "a token signed with the next key of the set is accepted",
			path: "/orders", token: next.Sign(delegated("Orders.Read"), map[string]any{"kid": cn.x5t()}), status: http.StatusOK},
		{name: "a delegated token without the scope gets 403 naming either permission",
			path: "/orders", token: current.Sign(delegated("User.Read"), v2Header), status: http.StatusForbidden,
			challenge: `scope="Orders.Read Orders.Read.All"`},
		{name: "a read role does not allow writing",
			method: http.MethodPost, path: "/orders", token: current.Sign(appOnly("Orders.Read.All"), v2Header),
			status: http.StatusForbidden, challenge: `scope="Orders.Write Orders.ReadWrite.All"`},
		{name: "a write role allows writing",
			method: http.MethodPost, path: "/orders", token: current.Sign(appOnly("Orders.ReadWrite.All"), v2Header),
			status: http.StatusOK},
		{name: "a token of another tenant is refused, whatever its signature",
			path: "/orders", token: current.Sign(delegated("Orders.Read").With("iss", otherTenant, "tid", "c0ffee00-1111-4222-8333-444455556666"), v2Header),
			status: http.StatusUnauthorized, challenge: "issuer is not accepted"},
		{name: "a token for Microsoft Graph is refused as bad audience",
			path: "/orders", token: current.Sign(delegated("Orders.Read").With("aud", msGraph), v2Header),
			status: http.StatusUnauthorized, challenge: "audience is not accepted"},
		{name: "a v2 issuer written with a trailing slash is another issuer",
			path: "/orders", token: current.Sign(delegated("Orders.Read").With("iss", v2iss+"/"), v2Header),
			status: http.StatusUnauthorized, challenge: "issuer is not accepted"},
		{name: "an expired v1 token gets 401",
			path: "/orders", token: current.Sign(v1("api://orders-api", "Orders.Read").With("exp", times(expired)["exp"]), v1Header),
			status: http.StatusUnauthorized, challenge: "the token has expired"},
	})
}
