package providers_test

import (
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/token/tokentest"
)

const googleCaller = "orders-caller@example-project.iam.gserviceaccount.com"

// Google publishes two keys with alg, use and a hex kid, and signs ID
// tokens (typ JWT) whose iss is https://accounts.google.com or, in some
// tokens, accounts.google.com. They carry no scopes: the caller is known by
// email.
func TestGoogle(t *testing.T) {
	reuseKeys()
	current, next := rsaKey("6f7254101f56e41cf35c9926de84a2d552b4c6f1"), rsaKey("a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4")
	p := startProvider(t, "google.yaml", jwksDoc(
		rsaJWK(current, map[string]any{"e": "AQAB", "alg": "RS256", "use": "sig", "kid": current.KID}),
		rsaJWK(next, map[string]any{"alg": "RS256", "use": "sig", "kid": next.KID}),
	))
	if p.issuer("google") != "https://accounts.google.com" || p.issuer("google-bare-iss") != "accounts.google.com" {
		t.Fatalf("the example's issuers changed: %q, %q", p.issuer("google"), p.issuer("google-bare-iss"))
	}
	idToken := merge(times(hour), tokentest.Claims{
		"aud": "https://orders.example.com", "azp": "107301923740123456789",
		"email": googleCaller, "email_verified": true,
		"iss": "https://accounts.google.com", "sub": "107301923740123456789",
	})

	p.check(t, []request{
		{name: "an ID token of the allowed service account is forwarded with its identity",
			path: "/orders", token: current.Sign(idToken), status: http.StatusOK,
			spoof:     map[string]string{"X-Caller-Email": "admin@example.com"},
			forwarded: map[string]string{"X-Caller-Email": googleCaller, "X-Caller-Id": "107301923740123456789"}},
		{name: "an ID token whose iss has no scheme is accepted",
			path: "/orders", token: next.Sign(idToken.With("iss", "accounts.google.com")), status: http.StatusOK},
		{name: "another service account gets 403",
			path: "/orders", token: current.Sign(idToken.With("email", "intruder@other-project.iam.gserviceaccount.com")),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "an email array holding the allowed account and another is not that account: 403",
			path: "/orders", token: current.Sign(idToken.With("email", []string{googleCaller, "intruder@other-project.iam.gserviceaccount.com"})),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "an unverified email gets 403",
			path: "/orders", token: current.Sign(idToken.With("email_verified", false)),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "email_verified as the string \"true\" is not the boolean true",
			path: "/orders", token: current.Sign(idToken.With("email_verified", "true")),
			status: http.StatusForbidden, challenge: "lacks a required claim value"},
		{name: "an ID token for another audience is refused",
			path: "/orders", token: current.Sign(idToken.With("aud", "https://payments.example.com")),
			status: http.StatusUnauthorized, challenge: "audience is not accepted"},
		{name: "an ID token without email (no email scope) is refused as missing a claim",
			path: "/orders", token: current.Sign(idToken.With("email", nil)),
			status: http.StatusUnauthorized, challenge: "lacks a required claim"},
		{name: "an http:// issuer is neither of Google's",
			path: "/orders", token: current.Sign(idToken.With("iss", "http://accounts.google.com")),
			status: http.StatusUnauthorized, challenge: "issuer is not accepted"},
		{name: "a token signed by a key Google does not publish is refused",
			path: "/orders", token: rsaKey("0000000000000000000000000000000000000000").Sign(idToken),
			status: http.StatusUnauthorized, challenge: "signed by an unknown key"},
		{name: "an expired ID token gets 401",
			path: "/orders", token: current.Sign(idToken.With("exp", times(expired)["exp"])),
			status: http.StatusUnauthorized, challenge: "the token has expired"},
	})
}
