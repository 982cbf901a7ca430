package token_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/token"
	"github.com/portcullis/portcullis/token/tokentest"
)

// The fuzz targets sign with keys derived from fixed seeds, so that the
// tokens in the checked-in corpus stay valid from run to run and in every
// fuzzing worker process: mutations of a valid token are where forgeries
// would be found. The verifier's clock is fixed for the same reason.
var (
	fuzzEd = tokentest.FromPrivate(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)), jwa.EdDSA, "fz-ed")
	fuzzEC = func() *tokentest.Key {
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{9}, 32))
		if err != nil {
			panic(err)
		}
		return tokentest.FromPrivate(priv, jwa.ES256, "fz-ec")
	}()
	fuzzNow  = time.Unix(1_900_000_000, 0)
	fuzzSkew = 30 * time.Second
)

const fuzzIss = "https://idp.example.com/"

// fuzzVerifier trusts fuzzEd and fuzzEC for fuzzIss, with audiences and
// required claims, at fuzzNow.
func fuzzVerifier(tb testing.TB) *token.Verifier {
	v, err := token.NewVerifier([]token.Issuer{{
		Name: "corp", Issuer: fuzzIss, Audiences: []string{"orders-api"},
		Algorithms: []string{"EdDSA", "ES256"}, ClockSkew: fuzzSkew,
		RequiredClaims: []string{"exp"}, Keys: keyList{fuzzEd, fuzzEC},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return v.WithClock(func() time.Time { return fuzzNow })
}

func fuzzClaims() tokentest.Claims {
	return tokentest.Claims{
		"iss": fuzzIss, "sub": "alice", "aud": "orders-api", "scope": "orders:read",
		"iat": fuzzNow.Add(-time.Minute).Unix(), "exp": fuzzNow.Add(time.Hour).Unix(),
	}
}

var reasons = map[outcome.Reason]bool{
	outcome.Malformed: true, outcome.BadSignature: true, outcome.UnknownKey: true, outcome.BadAlgorithm: true,
	outcome.Expired: true, outcome.NotYetValid: true, outcome.BadIssuer: true, outcome.BadAudience: true,
	outcome.BadType: true, outcome.MissingClaim: true,
}

// checkOutcome holds for every input: a token or an *Error, never both;
// a reason from the contract's list; and an error whose texts do not carry
// the token or its signature. (Detail may quote a claim value: jwx's error
// texts do; see the attack suite report.)
func checkOutcome(t *testing.T, raw string, tok *token.Token, err error) {
	t.Helper()
	if (tok == nil) == (err == nil) {
		t.Fatalf("Verify returned token %v and error %v", tok != nil, err)
	}
	if err == nil {
		return
	}
	var te *token.Error
	if !errors.As(err, &te) {
		t.Fatalf("error is %T, not *token.Error: %v", err, err)
	}
	if !reasons[te.Reason] {
		t.Fatalf("reason %q is not one of the contract's", te.Reason)
	}
	if len(raw) >= 16 && (strings.Contains(te.Description(), raw) || strings.Contains(te.Detail, raw)) {
		t.Fatal("the error echoes the token")
	}
	if _, _, sig := tokentest.Segments(raw); len(sig) >= 16 && strings.Contains(te.Error(), sig) {
		t.Fatal("the error holds the token's signature")
	}
}

// FuzzVerify feeds any string to Verify as a bearer token. Beyond the
// outcome's shape, it checks the property an attacker cares about: a token
// is accepted only if its signature verifies, by crypto/ed25519 or
// crypto/ecdsa directly, under one of the trusted keys, over exactly the
// header and payload it carries. A mutation that is accepted without that
// is a forgery.
func FuzzVerify(f *testing.F) {
	v := fuzzVerifier(f)
	c := fuzzClaims()
	f.Add(fuzzEd.Sign(c))
	f.Add(fuzzEC.Sign(c))
	f.Add(fuzzEd.Sign(c, map[string]any{"kid": ""}))
	f.Add(fuzzEd.Sign(c.With("aud", []string{"x", "orders-api"}, "nbf", fuzzNow.Unix())))
	f.Add(fuzzEd.Sign(c.With("exp", fuzzNow.Add(-time.Hour).Unix())))
	f.Add(fuzzEd.Sign(c, map[string]any{"crit": []string{"exp"}, "exp": 1}))
	f.Add(fuzzEC.SignPayload([]byte(`{"iss":"` + fuzzIss + `","exp":1900003600,"exp":1}`)))
	payload, _ := json.Marshal(c)
	for _, s := range []string{
		tokentest.Compact(`{"alg":"none","kid":"fz-ed"}`, string(payload), nil),
		tokentest.Compact(`{"alg":"none"}`, string(payload), []byte("x")),
		tokentest.Compact(`{"alg":"HS256","kid":"fz-ec"}`, string(payload), bytes.Repeat([]byte{1}, 32)),
		tokentest.Compact(`{"alg":"ES256","kid":"fz-ec"}`, string(payload), make([]byte, 64)),
		tokentest.Compact(`{"alg":"EdDSA","jku":"http://127.0.0.1:1/"}`, string(payload), make([]byte, 64)),
		"", ".", "..", "a.b", "a.b.c", "a.b.c.d", "e30.e30.", "e30.e30.e30",
		strings.Repeat("A", token.MaxLength+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := v.Verify(context.Background(), raw, nil)
		checkOutcome(t, raw, tok, err)
		if err != nil {
			return
		}
		if !trustedSignature(raw, tok.Algorithm) {
			t.Fatalf("accepted a token that no trusted key signed: %q", raw)
		}
		if tok.Issuer != "corp" || tok.Claims == nil {
			t.Fatalf("accepted token %+v", tok)
		}
	})
}

// trustedSignature verifies raw's signature with the standard library
// alone, as the reference the verifier must agree with.
func trustedSignature(raw, alg string) bool {
	i := strings.LastIndexByte(raw, '.')
	if i < 0 {
		return false
	}
	input := []byte(raw[:i])
	sig, err := base64.RawURLEncoding.DecodeString(raw[i+1:])
	if err != nil {
		return false
	}
	var pub any
	switch alg {
	case "EdDSA":
		_ = fuzzEd.Public.Raw(&pub)
		return ed25519.Verify(pub.(ed25519.PublicKey), input, sig)
	case "ES256":
		_ = fuzzEC.Public.Raw(&pub)
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(input)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub.(*ecdsa.PublicKey), h[:], r, s)
	}
	return false
}

// FuzzVerifyPayload signs any protected header and payload with a trusted
// key, so that every input gets past the signature and exercises what comes
// after it: the header rules (alg, crit, b64), claim decoding, and the time,
// issuer, audience and required-claim checks. An accepted token is checked
// against an independent reading of the same bytes with encoding/json:
//
//   - the header's alg is the one the key signs with, and it has no crit or b64;
//   - the claims handed to routes are exactly the payload as encoding/json
//     reads it (so jwx and the claims decoder agree on duplicates: RFC 7519 §4);
//   - iss is the issuer, aud holds the audience, sub is what jwx reported;
//   - exp is present and not past, nbf and iat not ahead, beyond the skew.
func FuzzVerifyPayload(f *testing.F) {
	v := fuzzVerifier(f)
	c := fuzzClaims()
	payload, _ := json.Marshal(c)
	for _, s := range []struct{ header, payload string }{
		{`{"alg":"EdDSA","kid":"fz-ed","typ":"JWT"}`, string(payload)},
		{`{"alg":"EdDSA"}`, string(payload)},
		{`{"alg":"EdDSA","alg":"none"}`, string(payload)},
		{`{"alg":"none","alg":"EdDSA","kid":"fz-ed"}`, string(payload)},
		{`{"alg":"EdDSA","crit":["b64"],"b64":false}`, string(payload)},
		{`{"alg":"EdDSA","crit":["exp"],"exp":1}`, string(payload)},
		{`{"alg":"EdDSA","kid":"fz-ed"}`, `{"iss":"` + fuzzIss + `","aud":"orders-api","exp":1900003600,"sub":"alice","sub":"mallory"}`},
		{`{"alg":"EdDSA","kid":"fz-ed"}`, `{"iss":"evil","iss":"` + fuzzIss + `","aud":["orders-api"],"exp":1900003600}`},
		{`{"alg":"EdDSA","kid":"fz-ed"}`, `{"iss":"` + fuzzIss + `","aud":"orders-api","exp":1900003600,"exp":1899999969}`},
		{`{"alg":"EdDSA","kid":"fz-ed"}`, `{"iss":"` + fuzzIss + `","aud":"orders-api","exp":1900003600,"nbf":1900000030.9}`},
		{`{"alg":"EdDSA","kid":"fz-ed"}`, `{"iss":"` + fuzzIss + `","aud":"orders-api","exp":"2030-01-01T00:00:00Z"}`},
		{`{"alg":"EdDSA","kid":"fz-ed"}`, `{"iss":"` + fuzzIss + `","aud":"orders-api","exp":1900003600,"n":1e400}`},
		{`{"alg":"EdDSA","kid":"fz-ed"}`, `["iss"]`},
	} {
		f.Add(s.header, []byte(s.payload))
	}
	var priv any
	if err := fuzzEd.Private.Raw(&priv); err != nil {
		f.Fatal(err)
	}
	key := priv.(ed25519.PrivateKey)
	enc := base64.RawURLEncoding
	f.Fuzz(func(t *testing.T, header string, payload []byte) {
		input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload)
		raw := input + "." + enc.EncodeToString(ed25519.Sign(key, []byte(input)))
		tok, err := v.Verify(context.Background(), raw, nil)
		checkOutcome(t, raw, tok, err)
		if err != nil {
			return
		}
		var hdr map[string]any
		if json.Unmarshal([]byte(header), &hdr) != nil {
			t.Fatalf("accepted a header that is not a JSON object: %q", header)
		}
		if hdr["alg"] != "EdDSA" || tok.Algorithm != "EdDSA" {
			t.Fatalf("accepted alg %v (verified as %s) for an Ed25519 signature", hdr["alg"], tok.Algorithm)
		}
		for _, name := range []string{"crit", "b64"} {
			if _, ok := hdr[name]; ok {
				t.Fatalf("accepted a header with %s: %q", name, header)
			}
		}
		d := json.NewDecoder(bytes.NewReader(payload))
		d.UseNumber()
		var claims map[string]any
		if d.Decode(&claims) != nil || claims == nil {
			t.Fatalf("accepted a payload that is not a JSON object: %q", payload)
		}
		if !reflect.DeepEqual(claims, tok.Claims) {
			t.Fatalf("claims %v, but encoding/json reads %v", tok.Claims, claims)
		}
		if claims["iss"] != fuzzIss {
			t.Fatalf("accepted iss %v", claims["iss"])
		}
		if sub, _ := claims["sub"].(string); sub != tok.Subject {
			t.Fatalf("sub is %q to jwx and %v in the claims", tok.Subject, claims["sub"])
		}
		if !hasAudience(claims["aud"], "orders-api") {
			t.Fatalf("accepted aud %v", claims["aud"])
		}
		checkTime(t, claims, "exp", func(s int64) bool { return fuzzNow.Unix() < s+int64(fuzzSkew/time.Second) })
		checkTime(t, claims, "nbf", func(s int64) bool { return s-int64(fuzzSkew/time.Second) <= fuzzNow.Unix() })
		checkTime(t, claims, "iat", func(s int64) bool { return s-int64(fuzzSkew/time.Second) <= fuzzNow.Unix() })
		if _, ok := claims["exp"]; !ok {
			t.Fatal("accepted a token without exp, a required claim")
		}
	})
}

// checkTime checks an accepted token's time claim, read as RFC 7519 §2
// defines a NumericDate (a JSON number of seconds), against ok.
func checkTime(t *testing.T, claims map[string]any, name string, ok func(int64) bool) {
	t.Helper()
	v, present := claims[name]
	if !present {
		return
	}
	n, isNumber := v.(json.Number)
	if !isNumber {
		t.Fatalf("accepted %s = %v, which is not a number", name, v)
	}
	whole, _, _ := strings.Cut(string(n), ".")
	s, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		t.Fatalf("accepted %s = %s, which is not a number of seconds", name, n)
	}
	if !ok(s) {
		t.Fatalf("accepted %s = %s at %d with a skew of %v", name, n, fuzzNow.Unix(), fuzzSkew)
	}
}

func hasAudience(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case []any:
		for _, e := range x {
			if e == want {
				return true
			}
		}
	}
	return false
}
