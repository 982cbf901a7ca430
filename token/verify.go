package token

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/portcullis/portcullis/claims"
	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/outcome"
)

// Token is a verified token. It may be shared by every request that presents
// the same token (the cache hands out the same value): never modify it.
type Token struct {
	Issuer    string         // issuer name
	Subject   string         // sub, "" when absent
	KeyID     string         // kid of the verifying key
	Algorithm string         // alg it was verified with
	Expiry    time.Time      // zero when the token has no exp
	Claims    map[string]any // the payload (or the Issuer.Claims of it), JSON-decoded with json.Number for numbers
	// Unverified marks a token whose signature was not checked: only ever
	// from a verifier made by WithoutSignatures, for portcullis explain.
	Unverified bool
	// Opaque marks a token that was not a JWT: its Claims are what the
	// issuer's introspection endpoint answered (RFC 7662 §2.2).
	Opaque bool

	// revocable is what the revocation list is checked against on every
	// request; nil unless the issuer has a list, so that a cached token of
	// an issuer without one carries nothing more.
	revocable *revocable
}

type revocable struct {
	jti    string
	iat    time.Time
	hasIat bool
}

// Verify checks raw (the compact JWS from the Authorization header) and
// returns the verified token or an *Error. allowed restricts the issuers by
// name (nil: any configured issuer).
//
// The order of the checks is deliberate: nothing about the claims is
// reported until the signature has been verified, so a forged token is
// always refused as forged and never as, say, expired.
func (v *Verifier) Verify(ctx context.Context, raw string, allowed []string) (*Token, error) {
	// Bounded first, so that hashing and scanning cost at most MaxLength.
	if len(raw) > MaxLength {
		return nil, fail(CheckFormat, outcome.Malformed, "", "token longer than %d bytes", MaxLength)
	}
	// A compact JWS has exactly two dots; anything else is an opaque token,
	// which only an issuer with introspection can judge. Without one, the
	// token is not scanned here: a cache hit needs no scan at all, and a
	// miss gets wellFormed's.
	if len(v.opaque) > 0 && strings.Count(raw, ".") != 2 {
		if is := v.opaqueIssuer(allowed); is != nil {
			ctx, span := startSpan(ctx, "verify opaque token")
			tok, err := v.verifyOpaque(ctx, is, raw)
			endSpan(span, tok, err)
			return tok, err
		}
	}
	// A token seen before skips the signature check, but never the checks
	// that depend on the request or the time: the route's issuers here,
	// expiry in the cache, scopes and claims in the route's policy. Only
	// verified tokens are cached, so a hit needs no format scan either.
	// (The string's bytes are hashed in place: Sum256 only reads them.)
	var h tokenHash
	if len(v.cached) > 0 {
		h = sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
		now := v.now()
		for _, is := range v.cached {
			if tok, ok := is.cache.get(h, is.versions.Version(), now); ok {
				if allowed != nil && !slices.Contains(allowed, is.Name) {
					return nil, fail(CheckIssuer, outcome.BadIssuer, is.Name, "issuer %s is not accepted on this route", is.Name)
				}
				return is.stillValid(ctx, raw, tok)
			}
		}
	}
	if err := wellFormed(raw); err != nil {
		return nil, err
	}
	// A miss is where the time goes (a signature check, maybe a key
	// fetch): a span of its own when the request's is recording.
	vctx, span := startSpan(ctx, "verify token")
	tok, entry, err := v.verify(vctx, raw, allowed)
	endSpan(span, tok, err)
	// A miss counts against the issuer the token turned out to have.
	name := ""
	if tok != nil {
		name = tok.Issuer
	} else if te, ok := err.(*Error); ok {
		name = te.Issuer
	}
	is := v.names[name]
	if is != nil && is.cache != nil {
		is.cache.misses.Inc()
		if err == nil {
			is.cache.put(h, entry)
		}
	}
	if err != nil {
		return nil, err
	}
	return is.stillValid(ctx, raw, tok)
}

// verify is the full verification, and what the cache remembers of it.
func (v *Verifier) verify(ctx context.Context, raw string, allowed []string) (*Token, *verified, error) {
	msg, sig, ferr := parseCompact(raw)
	if ferr != nil {
		return nil, nil, ferr
	}
	hdr := sig.ProtectedHeaders()

	// The texts of these errors are fixed: the decoders' own quote the
	// payload, which is token material.
	claims, err := claims.Decode(msg.Payload())
	if err != nil {
		return nil, nil, fail(CheckFormat, outcome.Malformed, "", "the payload is not one JSON object")
	}
	reg, err := readRegistered(claims)
	if err != nil {
		return nil, nil, fail(CheckFormat, outcome.Malformed, "", "%v", err)
	}

	// Choose the issuer by the unverified iss, then trust nothing else of
	// the token until one of that issuer's keys has verified it.
	is, ok := v.byIss[reg.iss]
	if !ok {
		return nil, nil, fail(CheckIssuer, outcome.BadIssuer, "", "iss is not a configured issuer")
	}
	if allowed != nil && !slices.Contains(allowed, is.Name) {
		return nil, nil, fail(CheckIssuer, outcome.BadIssuer, is.Name, "issuer %s is not accepted on this route", is.Name)
	}
	if ferr := is.checkHeader(hdr, raw); ferr != nil {
		return nil, nil, ferr
	}
	alg := hdr.Algorithm()

	kid := hdr.KeyID()
	verifiedKID, version := kid, uint64(0)
	if !v.skipSignatures {
		key, ver, ferr := v.checkSignature(ctx, is, raw, sig.Signature(), kid, alg)
		if ferr != nil {
			return nil, nil, ferr
		}
		verifiedKID, version = key.KeyID(), ver
	}

	if ferr := is.checkClaims(claims, reg, v.now()); ferr != nil {
		return nil, nil, ferr
	}
	claims = is.kept(claims)
	t := &Token{
		Issuer:     is.Name,
		Subject:    reg.sub,
		KeyID:      verifiedKID,
		Algorithm:  string(alg),
		Expiry:     reg.exp,
		Claims:     claims,
		Unverified: v.skipSignatures,
		revocable:  is.revocable(reg),
	}
	e := &verified{tok: t, version: version}
	if reg.hasExp {
		e.expires = reg.exp.Add(is.ClockSkew)
	}
	if reg.hasNbf {
		e.nbf = reg.nbf.Add(-is.ClockSkew)
	}
	return t, e, nil
}

// kept is what a verified token keeps of its claims: the issuer's Claims
// (what the routes read), or all of them.
func (is *issuer) kept(claims map[string]any) map[string]any {
	if is.Claims == nil {
		return claims
	}
	kept := make(map[string]any, len(is.Claims))
	for _, name := range is.Claims {
		if v, ok := claims[name]; ok {
			kept[name] = v
		}
	}
	return kept
}

// checkSignature finds the issuer's keys that may verify a token with this
// kid and alg and checks the signature with them. It returns the key that
// verified it and the key set's version read before the keys.
func (v *Verifier) checkSignature(ctx context.Context, is *issuer, raw string, signature []byte, kid string, alg jwa.SignatureAlgorithm) (jwk.Key, uint64, *Error) {
	// The version is read before the keys: if the set changes during this
	// verification, the entry records the older version and is forgotten.
	var version uint64
	if is.versions != nil {
		version = is.versions.Version()
	}
	if is.Keys == nil {
		return nil, 0, fail(CheckKey, outcome.UnknownKey, is.Name, "the issuer has no key set: its tokens are introspected, and JWTs are refused")
	}
	keys, err := is.Keys.Lookup(ctx, kid)
	switch {
	case errors.Is(err, jwks.ErrNotLoaded):
		return nil, 0, fail(CheckKey, outcome.KeysUnavailable, is.Name, "key set not loaded")
	case err != nil:
		return nil, 0, fail(CheckKey, outcome.UnknownKey, is.Name, "kid not in the key set")
	}
	verifier, err := jws.NewVerifier(alg)
	if err != nil {
		return nil, 0, fail(CheckAlgorithm, outcome.BadAlgorithm, is.Name, "no verifier for %s", alg)
	}
	// The signing input is read in place, as the cache key's hash reads the
	// token: the verifiers only read it.
	input := raw[:strings.LastIndexByte(raw, '.')]
	signingInput := unsafe.Slice(unsafe.StringData(input), len(input))
	// Only keys that fit alg are tried, at most maxKeysTried of them (a
	// token without kid is tried against the set). The slice is the key
	// set's own, read in place.
	fitting := 0
	for _, k := range keys {
		if !jwks.Fits(k, alg) {
			continue
		}
		if fitting++; fitting > maxKeysTried {
			break
		}
		if verifier.Verify(signingInput, signature, k) == nil {
			return k, version, nil
		}
	}
	if fitting == 0 {
		if kid != "" {
			// The named key exists but cannot make this algorithm: an
			// algorithm-confusion attempt or a misissued token.
			return nil, 0, fail(CheckKey, outcome.BadAlgorithm, is.Name, "key %.64q cannot verify %s", kid, alg)
		}
		return nil, 0, fail(CheckKey, outcome.UnknownKey, is.Name, "no key in the set fits %s", alg)
	}
	return nil, 0, fail(CheckSignature, outcome.BadSignature, is.Name, "signature does not verify")
}
