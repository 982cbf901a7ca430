package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/token"
	"github.com/portcullis/portcullis/token/tokentest"
)

// keyList serves fixed public keys, as a loaded key set would.
type keyList []*tokentest.Key

func (l keyList) Lookup(_ context.Context, kid string) ([]jwk.Key, error) {
	var out []jwk.Key
	for _, k := range l {
		if kid == "" || k.KID == kid {
			out = append(out, k.Public)
		}
	}
	if len(out) == 0 {
		return nil, jwks.ErrUnknownKey
	}
	return out, nil
}

const iss = "https://idp.example.com/"

var (
	rsaKey = tokentest.RSA("rsa", 2048)
	ecKey  = tokentest.EC("ec", "ES256")
	edKey  = tokentest.Ed25519("ed")
	now    = time.Unix(1_900_000_000, 0)
)

func verifier(t *testing.T, mutate ...func(*token.Issuer)) *token.Verifier {
	t.Helper()
	is := token.Issuer{
		Name: "corp", Issuer: iss, Audiences: []string{"orders-api"},
		Algorithms: []string{"RS256", "ES256", "EdDSA"}, ClockSkew: 30 * time.Second,
		RequiredClaims: []string{"exp"}, Keys: keyList{rsaKey, ecKey, edKey},
	}
	for _, m := range mutate {
		m(&is)
	}
	v, err := token.NewVerifier([]token.Issuer{is})
	if err != nil {
		t.Fatal(err)
	}
	return v.WithClock(func() time.Time { return now })
}

func claims() tokentest.Claims {
	return tokentest.Claims{
		"iss": iss, "sub": "alice", "aud": "orders-api",
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

func reason(err error) token.Reason {
	var te *token.Error
	if errors.As(err, &te) {
		return te.Reason
	}
	return ""
}

func TestVerify(t *testing.T) {
	skew := 30 * time.Second
	cases := []struct {
		name   string
		tok    string
		mutate func(*token.Issuer)
		want   token.Reason // "" = accepted
	}{
		{name: "RS256 token is accepted", tok: rsaKey.Sign(claims())},
		{name: "ES256 token is accepted", tok: ecKey.Sign(claims())},
		{name: "EdDSA token is accepted", tok: edKey.Sign(claims())},
		{name: "aud as an array containing the audience is accepted", tok: rsaKey.Sign(claims().With("aud", []string{"x", "orders-api"}))},
		{name: "aud as an array without the audience is bad_audience", tok: rsaKey.Sign(claims().With("aud", []string{"x", "y"})), want: token.BadAudience},
		{name: "no audiences configured: aud is not checked", tok: rsaKey.Sign(claims().With("aud", "other")),
			mutate: func(i *token.Issuer) { i.Audiences = nil }},
		{name: "exp just inside the skew is accepted", tok: rsaKey.Sign(claims().With("exp", now.Add(-skew+time.Second).Unix()))},
		{name: "exp just beyond the skew is expired", tok: rsaKey.Sign(claims().With("exp", now.Add(-skew-time.Second).Unix())), want: token.Expired},
		{name: "nbf just inside the skew is accepted", tok: rsaKey.Sign(claims().With("nbf", now.Add(skew-time.Second).Unix()))},
		{name: "nbf just beyond the skew is not_yet_valid", tok: rsaKey.Sign(claims().With("nbf", now.Add(skew+time.Second).Unix())), want: token.NotYetValid},
		{name: "iat beyond the skew is not_yet_valid", tok: rsaKey.Sign(claims().With("iat", now.Add(skew+time.Second).Unix())), want: token.NotYetValid},
		{name: "missing exp is missing_claim", tok: rsaKey.Sign(claims().With("exp", nil)), want: token.MissingClaim},
		{name: "null required claim is missing_claim", tok: rsaKey.Sign(claims().With("sub", nil)),
			mutate: func(i *token.Issuer) { i.RequiredClaims = []string{"sub"} }, want: token.MissingClaim},
		{name: "typ at+jwt accepted when at+jwt is required", tok: rsaKey.Sign(claims(), map[string]any{"typ": "at+jwt"}),
			mutate: func(i *token.Issuer) { i.TokenTypes = []string{"at+jwt"} }},
		{name: "typ application/AT+JWT accepted when at+jwt is required", tok: rsaKey.Sign(claims(), map[string]any{"typ": "application/AT+JWT"}),
			mutate: func(i *token.Issuer) { i.TokenTypes = []string{"at+jwt"} }},
		{name: "typ JWT refused when at+jwt is required", tok: rsaKey.Sign(claims()),
			mutate: func(i *token.Issuer) { i.TokenTypes = []string{"at+jwt"} }, want: token.BadType},
		{name: "an algorithm off the allow-list is bad_algorithm", tok: rsaKey.Sign(claims()),
			mutate: func(i *token.Issuer) { i.Algorithms = []string{"ES256"} }, want: token.BadAlgorithm},
		{name: "a kid naming an EC key on an RS256 token is bad_algorithm",
			tok: rsaKey.Sign(claims(), map[string]any{"kid": "ec"}), want: token.BadAlgorithm},
		{name: "a key whose alg is RS384 cannot verify RS256",
			tok: tokentest.RSA("rsa384", 2048).Sign(claims()), want: token.BadAlgorithm,
			mutate: func(i *token.Issuer) {
				k := tokentest.RSA("rsa384", 2048)
				_ = k.Public.Set(jwk.AlgorithmKey, "RS384")
				i.Keys = keyList{k}
			}},
		{name: "a token without kid is verified against the set", tok: rsaKey.Sign(claims(), map[string]any{"kid": ""})},
		{name: "an unknown kid is unknown_key", tok: tokentest.RSA("ghost", 2048).Sign(claims()), want: token.UnknownKey},
		{name: "a crit header is refused", tok: rsaKey.Sign(claims(), map[string]any{"crit": []string{"exp"}, "exp": 1}), want: token.Malformed},
		{name: "a payload that is a JSON array is malformed", tok: rsaKey.SignPayload([]byte(`["iss"]`)), want: token.Malformed},
		{name: "a payload with trailing data is malformed", tok: rsaKey.SignPayload([]byte(`{"iss":"` + iss + `"} {}`)), want: token.Malformed},
		{name: "an unknown iss is bad_issuer", tok: rsaKey.Sign(claims().With("iss", "https://idp.example.com")), want: token.BadIssuer},
		{name: "a swapped signature is bad_signature", tok: swapSignature(rsaKey.Sign(claims()), rsaKey.Sign(claims().With("sub", "bob"))), want: token.BadSignature},
		{name: "a truncated signature is bad_signature", tok: truncate(rsaKey.Sign(claims())), want: token.BadSignature},
		{name: "padding characters are malformed", tok: rsaKey.Sign(claims()) + "=", want: token.Malformed},
		{name: "a token over 8 KiB is malformed before parsing", tok: strings.Repeat("a", 5000) + "." + strings.Repeat("b", 5000) + ".c", want: token.Malformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mut []func(*token.Issuer)
			if tc.mutate != nil {
				mut = append(mut, tc.mutate)
			}
			tok, err := verifier(t, mut...).Verify(context.Background(), tc.tok, nil)
			if got := reason(err); got != tc.want {
				t.Fatalf("reason = %q (%v), want %q", got, err, tc.want)
			}
			if tc.want == "" && (tok == nil || tok.Issuer != "corp" || tok.Subject != "alice") {
				t.Fatalf("token = %+v", tok)
			}
		})
	}
}

func TestVerifiedClaimsKeepNumbersAsWritten(t *testing.T) {
	tok, err := verifier(t).Verify(context.Background(), rsaKey.Sign(claims().With("n", 12345678901234567)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := tok.Claims["n"].(json.Number); !ok || n.String() != "12345678901234567" {
		t.Fatalf("n = %#v", tok.Claims["n"])
	}
}

func TestAllowedIssuers(t *testing.T) {
	v := verifier(t)
	if _, err := v.Verify(context.Background(), rsaKey.Sign(claims()), []string{"partner"}); reason(err) != token.BadIssuer {
		t.Fatalf("a token of an issuer the route does not accept: %v", err)
	}
	if _, err := v.Verify(context.Background(), rsaKey.Sign(claims()), []string{"partner", "corp"}); err != nil {
		t.Fatal(err)
	}
}

func TestNewVerifierRefusesUnsafeAlgorithms(t *testing.T) {
	for _, alg := range []string{"none", "HS256", "HS512", "", "RS1"} {
		_, err := token.NewVerifier([]token.Issuer{{Name: "x", Issuer: "x", Algorithms: []string{alg}, Keys: keyList{}}})
		if err == nil {
			t.Errorf("algorithm %q accepted", alg)
		}
	}
}

func TestErrorTextNeverHoldsTheToken(t *testing.T) {
	tok := tokentest.RSA("ghost", 2048).Sign(claims())
	_, err := verifier(t).Verify(context.Background(), tok, nil)
	var te *token.Error
	if !errors.As(err, &te) {
		t.Fatal(err)
	}
	_, payload, sig := tokentest.Segments(tok)
	for _, s := range []string{te.Error(), te.Description()} {
		if strings.Contains(s, sig) || strings.Contains(s, payload) {
			t.Errorf("error text holds token material: %s", s)
		}
	}
}

func swapSignature(a, b string) string {
	return a[:strings.LastIndexByte(a, '.')] + b[strings.LastIndexByte(b, '.'):]
}

func truncate(tok string) string { return tok[:len(tok)-8] }

func BenchmarkVerifyRS256(b *testing.B) { benchVerify(b, rsaKey) }
func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, ecKey) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, edKey) }

func benchVerify(b *testing.B, k *tokentest.Key) {
	is := token.Issuer{Name: "corp", Issuer: iss, Audiences: []string{"orders-api"},
		Algorithms: []string{"RS256", "ES256", "EdDSA"}, ClockSkew: 30 * time.Second, Keys: keyList{rsaKey, ecKey, edKey}}
	v, _ := token.NewVerifier([]token.Issuer{is})
	v = v.WithClock(func() time.Time { return now })
	tok := k.Sign(claims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok, nil); err != nil {
			b.Fatal(err)
		}
	}
}
