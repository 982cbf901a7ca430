package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/remote"
)

// maxKeys is how many entries of a key set are considered; the rest are
// ignored with a warning. Identity providers publish a handful.
const maxKeys = 100

// parse turns a JWK Set document into a snapshot of usable signature keys,
// logging every key it drops and why. A document without a single usable
// key is an error, so that it can never replace a good set.
//
// Each entry is parsed on its own (jwk.ParseKey) rather than the whole
// document at once (jwk.Parse), so that one entry jwx cannot read (a key
// type it does not know, an unusual key_ops value) costs that entry and not
// the whole set, and so that each dropped entry can be named in the log.
func (k *KeySet) parse(body []byte) (*snapshot, error) {
	return k.parseWith(body, func(kid, reason string) {
		k.log.Warn("jwks key dropped", zap.String("kid", kid), zap.String("reason", reason))
	}, "dropped keys are logged")
}

// Check reads a JWK Set document as the key set of an issuer that allows
// algorithms would, and returns why it could not serve it: no usable key,
// with each dropped key's kid and reason. It is for callers that read a set
// themselves (explain's -jwks file), to say what is wrong with it at once.
func Check(body []byte, algorithms []string) error {
	k := &KeySet{src: Source{Algorithms: algorithms}, log: zap.NewNop()}
	var dropped []string
	_, err := k.parseWith(body, func(kid, reason string) {
		if len(dropped) < 5 {
			dropped = append(dropped, fmt.Sprintf("kid %q: %s", kid, reason))
		}
	}, "")
	if err != nil && len(dropped) > 0 {
		return fmt.Errorf("%w: %s", err, strings.Join(dropped, "; "))
	}
	return err
}

// parseWith is parse, telling drop about each key it drops; note, when
// set, ends the error of a set without a usable key.
func (k *KeySet) parseWith(body []byte, drop func(kid, reason string), note string) (*snapshot, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`not a JWK Set: no "keys" array`)
	}
	if len(k.src.Algorithms) == 0 {
		return nil, errors.New("the issuer allows no algorithm, so no key is usable")
	}
	entries := doc.Keys
	if len(entries) > maxKeys {
		k.log.Warn("jwks has too many keys; only the first ones are considered",
			zap.Int("keys", len(entries)), zap.Int("considered", maxKeys))
		entries = entries[:maxKeys]
	}
	snap := &snapshot{byKID: make(map[string][]jwk.Key, len(entries))}
	for _, raw := range entries {
		key, reason := k.usable(raw)
		if reason == "" && key.KeyID() != "" {
			if _, dup := snap.byKID[key.KeyID()]; dup {
				reason = "duplicate kid; the first key with it is kept"
			}
		}
		if reason != "" {
			drop(remote.Clip(kidOf(raw, key)), reason)
			continue
		}
		snap.keys = append(snap.keys, key)
		if kid := key.KeyID(); kid != "" {
			snap.byKID[kid] = []jwk.Key{key}
		}
	}
	if len(snap.keys) == 0 {
		if note != "" {
			return nil, fmt.Errorf("no usable signing key among %d (%s)", len(doc.Keys), note)
		}
		return nil, fmt.Errorf("no usable signing key among %d", len(doc.Keys))
	}
	snap.keys = slices.Clip(snap.keys)
	fp := sha256.New()
	for _, key := range snap.keys {
		tp, err := key.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("key %q: thumbprint: %w", remote.Clip(key.KeyID()), err)
		}
		fmt.Fprintf(fp, "%d:%s/", len(key.KeyID()), key.KeyID())
		fp.Write(tp)
	}
	fp.Sum(snap.fingerprint[:0])
	return snap, nil
}

// usable parses one entry and returns the key to serve, or why it must not
// be served. The key returned is always public: a private key that an
// identity provider published by mistake is reduced to its public part, so
// that no private material is ever held or handed on.
func (k *KeySet) usable(raw json.RawMessage) (jwk.Key, string) {
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, "unparseable: " + remote.Clip(err.Error())
	}
	if key.KeyType() == jwa.OctetSeq {
		return nil, "symmetric key (kty oct): a shared secret is never a published verification key"
	}
	if use := key.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return nil, fmt.Sprintf("use %q is not sig", remote.Clip(use))
	}
	if ops := key.KeyOps(); len(ops) > 0 && !slices.Contains(ops, jwk.KeyOpVerify) {
		return nil, "key_ops does not include verify"
	}
	if private, err := jwk.IsPrivateKey(key); err != nil {
		return nil, "unsupported key: " + remote.Clip(err.Error())
	} else if private {
		pub, err := key.PublicKey()
		if err != nil {
			return nil, "private key published and its public part unusable: " + remote.Clip(err.Error())
		}
		k.log.Warn("jwks publishes private key material; only the public part is kept",
			zap.String("kid", remote.Clip(key.KeyID())))
		key = pub
	}
	if err := key.Validate(); err != nil {
		return nil, "invalid key: " + remote.Clip(err.Error())
	}
	if ecKey, ok := key.(jwk.ECDSAPublicKey); ok && !onCurve(ecKey) {
		return nil, "EC public point is not on its curve"
	}
	// jwx takes an OKP key's x at any length, and crypto/ed25519 panics on
	// a public key that is not 32 bytes: served, such a key would let any
	// client that names it (or sends EdDSA without kid) panic the request.
	if okp, ok := key.(jwk.OKPPublicKey); ok && okp.Crv() == jwa.Ed25519 && len(okp.X()) != ed25519.PublicKeySize {
		return nil, fmt.Sprintf("Ed25519 public key of %d bytes, not %d", len(okp.X()), ed25519.PublicKeySize)
	}
	if rsaKey, ok := key.(jwk.RSAPublicKey); ok {
		if bits := modulusBits(rsaKey.N()); bits < MinRSABits {
			return nil, fmt.Sprintf("RSA modulus of %d bits is under %d", bits, MinRSABits)
		}
		if !goodExponent(rsaKey.E()) {
			return nil, "RSA public exponent is not an odd number between 3 and 2^31-1"
		}
	}
	if alg := key.Algorithm().String(); alg != "" {
		if !slices.Contains(k.src.Algorithms, alg) {
			return nil, fmt.Sprintf("alg %q is not in the issuer's allow-list", remote.Clip(alg))
		}
		if !Fits(key, jwa.SignatureAlgorithm(alg)) {
			return nil, fmt.Sprintf("alg %q does not fit a key of type %s%s", alg, key.KeyType(), curveOf(key))
		}
		return key, ""
	}
	if !slices.ContainsFunc(k.src.Algorithms, func(alg string) bool { return Fits(key, jwa.SignatureAlgorithm(alg)) }) {
		return nil, fmt.Sprintf("no allowed algorithm can use a key of type %s%s", key.KeyType(), curveOf(key))
	}
	return key, ""
}

// curveOf describes a key's curve for a log line.
func curveOf(key jwk.Key) string {
	switch key := key.(type) {
	case jwk.ECDSAPublicKey:
		return " " + key.Crv().String()
	case jwk.OKPPublicKey:
		return " " + key.Crv().String()
	}
	return ""
}

// onCurve reports whether an EC key is a valid point of its curve. Go
// would refuse such a key at verification time; checking at load time drops
// it with a reason instead of failing every token signed for it.
func onCurve(key jwk.ECDSAPublicKey) bool {
	var raw any
	if err := key.Raw(&raw); err != nil {
		return false
	}
	pub, ok := raw.(*ecdsa.PublicKey)
	if !ok {
		return false
	}
	_, err := pub.ECDH()
	return err == nil
}

// goodExponent checks an RSA public exponent (big-endian bytes) the way
// crypto/rsa will at verification time, so that such a key is dropped at
// load time rather than failing every token.
func goodExponent(e []byte) bool {
	v := new(big.Int).SetBytes(e)
	return v.Bit(0) == 1 && v.Cmp(big.NewInt(3)) >= 0 && v.Cmp(big.NewInt(1<<31-1)) <= 0
}

// kidOf names a dropped entry in the log: its kid, read from the parsed key
// or, when it did not parse, from the raw JSON.
func kidOf(raw json.RawMessage, key jwk.Key) string {
	if key != nil {
		return key.KeyID()
	}
	var hint struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &hint)
	return hint.KID
}
