package jwks_test

import (
	"crypto/rand"
	crsa "crypto/rsa"
	"encoding/base64"
	"math/big"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/x25519"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/token/tokentest"
)

// Fits decides from the JWK's own fields which algorithm a key may verify:
// every row is a key type, curve or size that must be told apart, and every
// algorithm outside Algorithms fits no key.
func TestFits(t *testing.T) {
	noAlg := func(k jwk.Key) jwk.Key {
		c, err := k.Clone()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Remove(jwk.AlgorithmKey); err != nil {
			t.Fatal(err)
		}
		return c
	}
	rsa2048 := noAlg(tokentest.RSA("r", 2048).Public)
	rsa1024 := noAlg(tokentest.RSA("w", 1024).Public)
	rsa2047 := noAlg(rsaOfBits(t, 2047))
	p256 := noAlg(tokentest.EC("p256", jwa.ES256).Public)
	p384 := noAlg(tokentest.EC("p384", jwa.ES384).Public)
	p521 := noAlg(tokentest.EC("p521", jwa.ES512).Public)
	ed := noAlg(tokentest.Ed25519("ed").Public)
	xpub, _, err := x25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	xkey, err := jwk.FromRaw(xpub)
	if err != nil {
		t.Fatal(err)
	}
	rsaPrivate := tokentest.RSA("p", 2048).Private
	ecPrivate := tokentest.EC("pe", jwa.ES256).Private
	edPrivate := tokentest.Ed25519("pd").Private
	hmac, err := jwk.FromRaw([]byte("a shared secret of thirty-two b."))
	if err != nil {
		t.Fatal(err)
	}
	rs256Only := tokentest.RSA("a", 2048).Public // states alg RS256
	edShort, err := jwk.ParseKey([]byte(`{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 31)) + `"}`))
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		key  jwk.Key
		fits []jwa.SignatureAlgorithm
	}{
		{"RSA 2048", rsa2048, []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512}},
		{"RSA 1024", rsa1024, nil},
		{"RSA 2047: one bit under MinRSABits", rsa2047, nil},
		{"P-256", p256, []jwa.SignatureAlgorithm{jwa.ES256}},
		{"P-384", p384, []jwa.SignatureAlgorithm{jwa.ES384}},
		{"P-521", p521, []jwa.SignatureAlgorithm{jwa.ES512}},
		{"Ed25519", ed, []jwa.SignatureAlgorithm{jwa.EdDSA}},
		{"X25519", xkey, nil},
		{"RSA private", rsaPrivate, nil},
		{"P-256 private", ecPrivate, nil},
		{"Ed25519 private", edPrivate, nil}, // has every method of a public OKP key
		{"HMAC secret", hmac, nil},
		{"RSA stating RS256", rs256Only, []jwa.SignatureAlgorithm{jwa.RS256}},
		{"Ed25519 of 31 bytes: crypto/ed25519 would panic", edShort, nil},
	} {
		for _, alg := range []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384,
			jwa.PS512, jwa.ES256, jwa.ES384, jwa.ES512, jwa.EdDSA, jwa.HS256, jwa.NoSignature} {
			want := false
			for _, f := range c.fits {
				want = want || f == alg
			}
			if got := jwks.Fits(c.key, alg); got != want {
				t.Errorf("%s with %s: Fits = %v, want %v", c.name, alg, got, want)
			}
			if want && !jwks.Supported(alg.String()) {
				t.Errorf("%s fits a key but is not Supported", alg)
			}
		}
	}
}

// TestSupported pins the allow-list's edges: exact spellings only, and
// nothing symmetric or unsigned.
func TestSupported(t *testing.T) {
	for _, alg := range jwks.Algorithms {
		if !jwks.Supported(alg) {
			t.Errorf("Supported(%q) = false", alg)
		}
	}
	for _, alg := range []string{"none", "None", "HS256", "HS384", "HS512", "rs256", "RS256 ", "ES256K", "RSA-OAEP", "Ed25519", ""} {
		if jwks.Supported(alg) {
			t.Errorf("Supported(%q) = true", alg)
		}
	}
}

// rsaOfBits makes an RSA public JWK whose modulus has exactly n bits. Its
// factors do not matter: Fits reads only the modulus length.
func rsaOfBits(t *testing.T, n int) jwk.Key {
	t.Helper()
	mod := make([]byte, (n+7)/8)
	mod[0] = 1 << ((n - 1) % 8)
	mod[len(mod)-1] |= 1
	k, err := jwk.FromRaw(&crsa.PublicKey{N: new(big.Int).SetBytes(mod), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	return k
}
