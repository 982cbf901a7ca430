package token_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/token"
)

// An introspection endpoint answers active for any token its server issued,
// whatever token_type_hint said: an answer that says the token is a refresh
// token (Hydra's token_use, Keycloak's typ, or token_type) is refused as a
// JWT of the wrong type is; an answer that says nothing of the kind, or
// names an access token's type, is accepted.
func TestOpaqueAnswerMustBeAnAccessToken(t *testing.T) {
	tests := []struct {
		name   string
		answer map[string]any
		want   outcome.Reason // "" when accepted
		check  token.Check
		detail string // in the refusal's Detail: which member said what
	}{
		// What real servers send for access tokens.
		{name: "Hydra's access token answer is accepted",
			answer: answerWith("token_use", "access_token", "token_type", "Bearer")},
		{name: "token_use is compared without case",
			answer: answerWith("token_use", "Access_Token")},
		{name: "token_use as an RFC 8693 token type URI for an access token is accepted",
			answer: answerWith("token_use", "urn:ietf:params:oauth:token-type:access_token")},
		{name: "token_type Bearer is accepted",
			answer: answerWith("token_type", "Bearer")},
		{name: "token_type bearer in lower case is accepted",
			answer: answerWith("token_type", "bearer")},
		{name: "token_type DPoP is accepted",
			answer: answerWith("token_type", "DPoP")},
		{name: "token_type N_A is accepted",
			answer: answerWith("token_type", "N_A")},
		{name: "a token_type that names no other kind of token is accepted",
			answer: answerWith("token_type", "mac")},
		{name: "an answer with none of the members is accepted",
			answer: answerWith("token_type", nil)},
		{name: "Keycloak's access token (typ Bearer) is accepted",
			answer: answerWith("typ", "Bearer", "token_type", "Bearer")},
		{name: "Keycloak's DPoP-bound access token (typ DPoP) is accepted",
			answer: answerWith("typ", "DPoP")},
		{name: "a null member is absent",
			answer: map[string]any{"active": true, "iss": iss, "sub": "svc-1", "aud": "orders-api", "exp": now.Add(time.Hour).Unix(), "typ": nil, "token_use": nil}},

		// What they send for other tokens.
		{name: "the reviewer's refresh token (token_use and token_type refresh_token) is refused",
			answer: answerWith("token_use", "refresh_token", "token_type", "refresh_token", "exp", now.Add(720*time.Hour).Unix()),
			want:   outcome.BadType, check: token.CheckType, detail: `token_use is "refresh_token"`},
		{name: "Hydra's refresh token answer (token_use refresh_token, token_type Bearer) is refused",
			answer: answerWith("token_use", "refresh_token", "token_type", "Bearer"),
			want:   outcome.BadType, check: token.CheckType, detail: `token_use is "refresh_token"`},
		{name: "a token_use other than access_token is refused",
			answer: answerWith("token_use", "id_token"),
			want:   outcome.BadType, check: token.CheckType, detail: `token_use is "id_token"`},
		{name: "an empty token_use is refused",
			answer: answerWith("token_use", ""),
			want:   outcome.BadType, check: token.CheckType, detail: `token_use is ""`},
		{name: "token_type refresh_token is refused",
			answer: answerWith("token_type", "refresh_token"),
			want:   outcome.BadType, check: token.CheckType, detail: `token_type is "refresh_token"`},
		{name: "token_type Refresh, in any case, is refused",
			answer: answerWith("token_type", "Refresh"),
			want:   outcome.BadType, check: token.CheckType, detail: `token_type is "Refresh"`},
		{name: "token_type as the RFC 8693 URI of a refresh token is refused",
			answer: answerWith("token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
			want:   outcome.BadType, check: token.CheckType, detail: `token_type is "urn:ietf:params:oauth:token-type:refresh_token"`},
		{name: "token_type id_token is refused",
			answer: answerWith("token_type", "id_token"),
			want:   outcome.BadType, check: token.CheckType, detail: `token_type is "id_token"`},
		{name: "Keycloak's refresh token (typ Refresh) is refused",
			answer: answerWith("typ", "Refresh"),
			want:   outcome.BadType, check: token.CheckType, detail: `typ is "Refresh"`},
		{name: "typ refresh in lower case is refused",
			answer: answerWith("typ", "refresh"),
			want:   outcome.BadType, check: token.CheckType, detail: `typ is "refresh"`},
		{name: "Keycloak's offline token (typ Offline) is refused",
			answer: answerWith("typ", "Offline"),
			want:   outcome.BadType, check: token.CheckType, detail: `typ is "Offline"`},
		{name: "Keycloak's ID token (typ ID) is refused",
			answer: answerWith("typ", "ID"),
			want:   outcome.BadType, check: token.CheckType, detail: `typ is "ID"`},
		{name: "one member saying refresh is enough, whatever the others say",
			answer: answerWith("token_use", "access_token", "token_type", "Bearer", "typ", "Refresh"),
			want:   outcome.BadType, check: token.CheckType, detail: `typ is "Refresh"`},

		// What no server we understand sends.
		{name: "a token_use that is not a string is a malformed answer",
			answer: answerWith("token_use", 1),
			want:   outcome.IntrospectionUnavailable, check: token.CheckIntrospection, detail: "token_use is not a string"},
		{name: "a token_type that is not a string is a malformed answer",
			answer: answerWith("token_type", true),
			want:   outcome.IntrospectionUnavailable, check: token.CheckIntrospection, detail: "token_type is not a string"},
		{name: "a typ that is not a string is a malformed answer",
			answer: answerWith("typ", map[string]any{"refresh": true}),
			want:   outcome.IntrospectionUnavailable, check: token.CheckIntrospection, detail: "typ is not a string"},

		// Where the check stands among the others (OpaqueChecks).
		{name: "another issuer's refresh token is refused for its issuer",
			answer: answerWith("iss", "https://evil.example/", "token_use", "refresh_token"),
			want:   outcome.BadIssuer, check: token.CheckIssuer},
		{name: "an expired refresh token is refused as the wrong type",
			answer: answerWith("exp", now.Add(-time.Hour).Unix(), "token_use", "refresh_token"),
			want:   outcome.BadType, check: token.CheckType, detail: "token_use"},
	}
	answers := map[string]map[string]any{}
	for i, tt := range tests {
		answers["ory_rt_case_"+strconv.Itoa(i)] = tt.answer
	}
	as := newAuthServer(t, answers)
	v := verifier(t, func(is *token.Issuer) { is.Introspection = as.client(t, time.Second) })
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "ory_rt_case_" + strconv.Itoa(i)
			tok, err := v.Verify(context.Background(), raw, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("an access token's answer was refused: %v", err)
				}
				if !tok.Opaque || tok.Subject != "svc-1" {
					t.Fatalf("token = %+v", tok)
				}
				return
			}
			var te *token.Error
			if !errors.As(err, &te) {
				t.Fatalf("Verify = %v, %+v; want %s at %s", err, tok, tt.want, tt.check)
			}
			if te.Reason != tt.want || te.Check != tt.check || !te.Opaque || te.Issuer != "corp" {
				t.Fatalf("refused with %s at %s (opaque %v, issuer %q): %v; want %s at %s", te.Reason, te.Check, te.Opaque, te.Issuer, te, tt.want, tt.check)
			}
			if !strings.Contains(te.Detail, tt.detail) {
				t.Errorf("Detail %q does not say %s", te.Detail, tt.detail)
			}
			if strings.Contains(te.Error(), raw) {
				t.Errorf("the error %q holds the token", te)
			}
			// portcullis explain shows an opaque token's checks from
			// OpaqueChecks: the check that refused must be among them.
			if !slices.Contains(token.OpaqueChecks(), te.Check) {
				t.Errorf("%s refused an opaque token but is not in OpaqueChecks %v", te.Check, token.OpaqueChecks())
			}
		})
	}
}

// A refresh token's answer is refused exactly as a JWT of a type the issuer
// does not accept: the same reason and check, so the same status,
// WWW-Authenticate, metric label and log.
func TestOpaqueRefreshTokenIsRefusedAsAJWTOfTheWrongType(t *testing.T) {
	as := newAuthServer(t, map[string]map[string]any{
		"ory_rt_refresh.sig": answerWith("token_use", "refresh_token", "token_type", "refresh_token",
			"exp", now.Add(720*time.Hour).Unix()),
	})
	v := verifier(t, func(is *token.Issuer) {
		is.Introspection = as.client(t, time.Second)
		is.TokenTypes = []string{"at+jwt"}
	})
	var jwtErr, opaqueErr *token.Error
	_, err := v.Verify(context.Background(), rsaKey.Sign(claims()), nil) // no typ header
	if !errors.As(err, &jwtErr) || jwtErr.Reason != outcome.BadType {
		t.Fatalf("a JWT without typ: %v, want bad_type", err)
	}
	_, err = v.Verify(context.Background(), "ory_rt_refresh.sig", nil)
	if !errors.As(err, &opaqueErr) {
		t.Fatalf("a refresh token was accepted as an access token: %v", err)
	}
	if opaqueErr.Reason != jwtErr.Reason || opaqueErr.Check != jwtErr.Check {
		t.Errorf("refresh token refused with %s at %s; a JWT of the wrong type with %s at %s", opaqueErr.Reason, opaqueErr.Check, jwtErr.Reason, jwtErr.Check)
	}
	if opaqueErr.Description() != jwtErr.Description() {
		t.Errorf("description %q, want the JWT's %q", opaqueErr.Description(), jwtErr.Description())
	}
	if row := outcome.Of(opaqueErr.Reason); row.Error != "invalid_token" || !row.AuthFailure {
		t.Errorf("row = %+v, want invalid_token, an auth failure", row)
	}
}

// The introspection client caches the answer, not the judgement:
// judgeOpaque runs on every request, so a refresh token stays refused when
// its answer comes from the cache.
func TestOpaqueRefreshTokenIsRefusedFromTheCache(t *testing.T) {
	as := newAuthServer(t, map[string]map[string]any{
		"ory_rt_refresh.sig": answerWith("token_use", "refresh_token"),
		"ory_at_access.sig":  answerWith("token_use", "access_token"),
	})
	v := verifier(t, func(is *token.Issuer) { is.Introspection = as.client(t, time.Second) })
	for i := range 3 {
		if _, err := v.Verify(context.Background(), "ory_rt_refresh.sig", nil); reason(err) != outcome.BadType {
			t.Fatalf("request %d with the refresh token: %v, want bad_type", i+1, err)
		}
		if _, err := v.Verify(context.Background(), "ory_at_access.sig", nil); err != nil {
			t.Fatalf("request %d with the access token: %v", i+1, err)
		}
	}
	if n := as.calls.Load(); n != 2 {
		t.Errorf("%d introspection calls, want 2: one per token, the rest from the cache", n)
	}
}

// The type check of an opaque token stands where it stands for a JWT: after
// the issuer and before the times.
func TestOpaqueChecksPutTheTypeWhereJWTsDo(t *testing.T) {
	at := func(list []token.Check, c token.Check) int { return slices.Index(list, c) }
	o := token.OpaqueChecks()
	if !(at(o, token.CheckIssuer) < at(o, token.CheckType) && at(o, token.CheckType) < at(o, token.CheckTime)) {
		t.Errorf("OpaqueChecks = %v: type is not between issuer and time", o)
	}
	j := token.Checks()
	if !(at(j, token.CheckIssuer) < at(j, token.CheckType) && at(j, token.CheckType) < at(j, token.CheckTime)) {
		t.Errorf("Checks = %v: type is not between issuer and time", j)
	}
}
