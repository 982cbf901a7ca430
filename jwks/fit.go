package jwks

import (
	"crypto/ed25519"
	"math/bits"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// This file is the one home of two security rules: which JWS algorithms
// portcullis verifies at all, and which key may verify which of them.
// config validates the allow-lists with Supported, the key set drops keys
// that fit none of its issuer's algorithms, and token tries only keys that
// Fit a token's alg. A change here changes all three.

// Algorithms are the JWS algorithms an issuer may allow: the asymmetric ones
// of RFC 7518 and RFC 8037. Only these are verified with a public key, which
// the gateway fetches and which cannot mint tokens; "none" and the HMAC
// algorithms are not among them, so no configuration can allow them.
var Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Supported reports whether alg is one of Algorithms, spelled exactly.
func Supported(alg string) bool { return slices.Contains(Algorithms, alg) }

// MinRSABits is the smallest RSA modulus a key may have (NIST SP 800-131A).
const MinRSABits = 2048

// Fits reports whether key may verify a signature made with alg. alg must
// be Supported; the key's own alg, when it states one, must be alg; the key
// must be public (a private key published in a key set is a leak, not a
// verification key); and its type and curve must be the ones alg is defined
// for, an RSA key having at least MinRSABits and an Ed25519 key exactly 32
// bytes. This is what stops algorithm confusion (an RSA public key used as
// an HMAC secret) even if jwx were to accept it.
//
// It reads the JWK's own fields: converting the key to its crypto form here
// (as jwx does again to verify) cost 3% of an RS256 verification, and it
// runs for every key a token could be verified with.
func Fits(key jwk.Key, alg jwa.SignatureAlgorithm) bool {
	if ka := key.Algorithm().String(); ka != "" && ka != alg.String() {
		return false
	}
	switch pub := key.(type) {
	case jwk.RSAPrivateKey, jwk.ECDSAPrivateKey, jwk.OKPPrivateKey:
		// An OKP private key also has every method of a public one, so
		// this case must come first.
		return false
	case jwk.RSAPublicKey:
		switch alg {
		case jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512:
			return modulusBits(pub.N()) >= MinRSABits
		}
	case jwk.ECDSAPublicKey:
		switch alg {
		case jwa.ES256:
			return pub.Crv() == jwa.P256
		case jwa.ES384:
			return pub.Crv() == jwa.P384
		case jwa.ES512:
			return pub.Crv() == jwa.P521
		}
	case jwk.OKPPublicKey:
		// x must be exactly one Ed25519 public key: crypto/ed25519 panics
		// on any other length, and jwx checks none.
		return alg == jwa.EdDSA && pub.Crv() == jwa.Ed25519 && len(pub.X()) == ed25519.PublicKeySize
	}
	return false
}

// modulusBits is the bit length of a big-endian unsigned integer.
func modulusBits(n []byte) int {
	for len(n) > 0 && n[0] == 0 {
		n = n[1:]
	}
	if len(n) == 0 {
		return 0
	}
	return 8*(len(n)-1) + bits.Len8(n[0])
}
