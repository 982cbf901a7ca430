package token

import (
	"crypto/rand"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/x25519"

	"github.com/portcullis/portcullis/token/tokentest"
)

// keyFits decides from the JWK's own fields which algorithm a key may
// verify: every row is a key type, curve or size that must be told apart.
func TestKeyFits(t *testing.T) {
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

	for _, c := range []struct {
		name string
		key  jwk.Key
		fits []jwa.SignatureAlgorithm
	}{
		{"RSA 2048", rsa2048, []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512}},
		{"RSA 1024", rsa1024, nil},
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
	} {
		for _, alg := range []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384,
			jwa.PS512, jwa.ES256, jwa.ES384, jwa.ES512, jwa.EdDSA, jwa.HS256, jwa.NoSignature} {
			want := false
			for _, f := range c.fits {
				want = want || f == alg
			}
			if got := keyFits(c.key, alg); got != want {
				t.Errorf("%s with %s: keyFits = %v, want %v", c.name, alg, got, want)
			}
		}
	}
	if got := modulusBits([]byte{0, 0, 1, 0}); got != 9 {
		t.Errorf("modulusBits(0x000100) = %d, want 9", got)
	}
}
