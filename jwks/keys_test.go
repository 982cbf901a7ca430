package jwks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/token/tokentest"
)

func TestUnusableKeysAreDropped(t *testing.T) {
	hmac, err := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	hmac = modified(t, hmac, "kid", "hmac", "alg", "HS256")
	ec384 := tokentest.EC("ec-384", jwa.ES384)

	var badExponent map[string]any
	raw, _ := json.Marshal(rsa().Public)
	_ = json.Unmarshal(raw, &badExponent)
	badExponent["kid"], badExponent["e"] = "bad-e", "AQ"

	var offCurve map[string]any
	raw, _ = json.Marshal(ecB().Public)
	_ = json.Unmarshal(raw, &offCurve)
	y, _ := base64.RawURLEncoding.DecodeString(offCurve["y"].(string))
	y[len(y)-1] ^= 1
	offCurve["kid"], offCurve["y"] = "off-curve", base64.RawURLEncoding.EncodeToString(y)

	tests := []struct {
		name       string
		algorithms []string
		good       jwk.Key
		bad        any // jwk.Key or raw JSON
		badKID     string
		wantReason string
	}{
		{
			name: "a key for encryption (use enc)", algorithms: []string{"ES256"},
			good: ecA().Public, bad: modified(t, ecB().Public, "use", "enc"), badKID: "ec-b",
			wantReason: `use "enc" is not sig`,
		},
		{
			name: "a key whose key_ops lack verify", algorithms: []string{"ES256"},
			good: ecA().Public, bad: modified(t, ecB().Public, "key_ops", []string{"encrypt"}), badKID: "ec-b",
			wantReason: "key_ops does not include verify",
		},
		{
			name: "a symmetric key (kty oct), even with its alg allowed", algorithms: []string{"ES256", "HS256"},
			good: ecA().Public, bad: hmac, badKID: "hmac",
			wantReason: "symmetric key",
		},
		{
			name: "a 1024-bit RSA key", algorithms: []string{"ES256", "RS256"},
			good: ecA().Public, bad: tokentest.RSA("weak", 1024).Public, badKID: "weak",
			wantReason: "RSA modulus of 1024 bits is under 2048",
		},
		{
			name: "an RSA key with public exponent 1", algorithms: []string{"ES256", "RS256"},
			good: ecA().Public, bad: badExponent, badKID: "bad-e",
			wantReason: "exponent",
		},
		{
			name: "an EC key whose point is not on its curve", algorithms: []string{"ES256"},
			good: ecA().Public, bad: offCurve, badKID: "off-curve",
			wantReason: "not on its curve",
		},
		{
			name: "a key whose alg is outside the allow-list", algorithms: []string{"ES256"},
			good: ecA().Public, bad: ec384.Public, badKID: "ec-384",
			wantReason: `alg "ES384" is not in the issuer's allow-list`,
		},
		{
			name: "a key whose alg does not fit its type (RSA claiming ES256)", algorithms: []string{"ES256"},
			good: ecA().Public, bad: modified(t, rsa().Public, "alg", "ES256"), badKID: "rsa",
			wantReason: `alg "ES256" does not fit a key of type RSA`,
		},
		{
			name: `a key claiming alg "none", even if the list has it`, algorithms: []string{"ES256", "none"},
			good: ecA().Public, bad: modified(t, ecB().Public, "alg", "none"), badKID: "ec-b",
			wantReason: `alg "none" does not fit`,
		},
		{
			name: "an EC key without alg when only RS256 is allowed", algorithms: []string{"RS256"},
			good: rsa().Public, bad: modified(t, ecB().Public, "alg", nil), badKID: "ec-b",
			wantReason: "no allowed algorithm can use a key of type EC P-256",
		},
		{
			name: "a P-384 key without alg when only ES256 is allowed", algorithms: []string{"ES256"},
			good: ecA().Public, bad: modified(t, ec384.Public, "alg", nil), badKID: "ec-384",
			wantReason: "no allowed algorithm can use a key of type EC P-384",
		},
		{
			name: "an Ed25519 key without alg when EdDSA is not allowed", algorithms: []string{"ES256"},
			good: ecA().Public, bad: modified(t, tokentest.Ed25519("ed").Public, "alg", nil), badKID: "ed",
			wantReason: "no allowed algorithm can use a key of type OKP Ed25519",
		},
		{
			name: "an Ed25519 key of 31 bytes", algorithms: []string{"ES256", "EdDSA"},
			good: ecA().Public, bad: json.RawMessage(`{"kty":"OKP","crv":"Ed25519","kid":"short","x":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 31)) + `"}`), badKID: "short",
			wantReason: "Ed25519 public key of 31 bytes, not 32",
		},
		{
			name: "an Ed25519 key of 33 bytes stating EdDSA", algorithms: []string{"ES256", "EdDSA"},
			good: ecA().Public, bad: json.RawMessage(`{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"long","x":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 33)) + `"}`), badKID: "long",
			wantReason: "Ed25519 public key of 33 bytes, not 32",
		},
		{
			name: "an entry jwx cannot parse", algorithms: []string{"ES256"},
			good: ecA().Public, bad: json.RawMessage(`{"kty":"XYZ","kid":"odd"}`), badKID: "odd",
			wantReason: "unparseable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is dropped", func(t *testing.T) {
			is := tokentest.NewIssuer()
			defer is.Close()
			h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL(), Algorithms: tt.algorithms}, nil)

			is.SetBody(document(t, tt.good, tt.bad))
			if err := h.set.Refresh(context.Background()); err != nil {
				t.Fatalf("Refresh with one good key: %v", err)
			}
			equalKids(t, h.kids(), tt.good.KeyID())
			reasons := h.dropped(tt.badKID)
			if len(reasons) != 1 || !strings.Contains(reasons[0], tt.wantReason) {
				t.Errorf("drop reasons for %s = %q, want one containing %q", tt.badKID, reasons, tt.wantReason)
			}
		})
		t.Run("a set of only "+tt.name+" is an error", func(t *testing.T) {
			is := tokentest.NewIssuer()
			defer is.Close()
			h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL(), Algorithms: tt.algorithms}, nil)

			is.SetBody(document(t, tt.bad))
			errContains(t, h.set.Refresh(context.Background()), "no usable signing key")
			if h.set.Ready() {
				t.Error("Ready() = true with no usable key")
			}
		})
	}
}

func TestUsableKeysAreKept(t *testing.T) {
	ec384 := tokentest.EC("ec-384", jwa.ES384)
	tests := []struct {
		name       string
		algorithms []string
		key        jwk.Key
	}{
		{"an RSA key without alg when PS256 is allowed", []string{"PS256"}, modified(t, rsa().Public, "alg", nil)},
		{"an RSA key with alg RS256 among several allowed", []string{"ES256", "RS256"}, rsa().Public},
		{"a P-384 key without alg when ES384 is allowed", []string{"ES384"}, modified(t, ec384.Public, "alg", nil)},
		{"an Ed25519 key with EdDSA allowed", []string{"EdDSA"}, tokentest.Ed25519("ed").Public},
		{"a key with use sig and key_ops verify", []string{"ES256"}, modified(t, ecA().Public, "key_ops", []string{"verify"})},
		{"a key without use or key_ops", []string{"ES256"}, modified(t, ecA().Public, "use", nil)},
		{"a key without kid", []string{"ES256"}, modified(t, ecA().Public, "kid", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := tokentest.NewIssuer()
			defer is.Close()
			is.SetBody(document(t, tt.key))
			h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL(), Algorithms: tt.algorithms}, nil)
			if err := h.set.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			keys := h.set.Keys()
			if len(keys) != 1 || !jwk.Equal(keys[0], tt.key) {
				t.Fatalf("kept %q, want the one key served", kidsOf(keys))
			}
			if h.logs.FilterMessage("jwks key dropped").Len() != 0 {
				t.Errorf("a usable key was reported dropped: %v", h.logs.All())
			}
		})
	}
}

func TestDuplicateKIDsKeepTheFirstUsableKey(t *testing.T) {
	is := tokentest.NewIssuer()
	defer is.Close()
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
	is.SetBody(document(t,
		modified(t, ecB().Public, "kid", "ec-a", "use", "enc"), // same kid, not for signatures
		ecA().Public,
		modified(t, ecB().Public, "kid", "ec-a"), // a second signing key with the same kid
	))
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	keys, err := h.set.Lookup(context.Background(), "ec-a")
	if err != nil || len(keys) != 1 || !jwk.Equal(keys[0], ecA().Public) {
		t.Fatalf("Lookup(ec-a) = %v, %v; want the first signing key", kidsOf(keys), err)
	}
	equalKids(t, h.kids(), "ec-a")
	reasons := h.dropped("ec-a")
	if len(reasons) != 2 || !strings.Contains(reasons[1], "duplicate kid") {
		t.Errorf("drop reasons = %q, want the encryption key and a duplicate", reasons)
	}
}

func TestOnlyTheFirstHundredKeysAreConsidered(t *testing.T) {
	var keys []any
	for i := range 150 {
		keys = append(keys, modified(t, ecA().Public, "kid", fmt.Sprintf("k%03d", i)))
	}
	is := tokentest.NewIssuer()
	defer is.Close()
	is.SetBody(document(t, keys...))
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(h.set.Keys()); got != 100 {
		t.Errorf("kept %d keys, want 100", got)
	}
	if h.logs.FilterMessage("jwks has too many keys; only the first ones are considered").Len() != 1 {
		t.Error("no warning about the keys ignored")
	}
}
