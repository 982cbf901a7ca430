// Package token verifies bearer tokens for the gateway: JWTs (RFC 7519,
// RFC 9068) by their signature and claims, and opaque tokens by asking the
// issuer (RFC 7662, through introspect). Of a JWT it decides which
// configured issuer it claims to come from, whether one of that issuer's
// keys signed it with an allowed algorithm, and whether its registered
// claims (exp, nbf, iat, aud, typ, required claims) hold; of either kind,
// whether the issuer's revocation list names it.
//
// It is its own top-level package because verification sits between proxy
// (which extracts the bearer token) and jwks (which only holds keys), and
// belongs to neither. JOSE parsing and signature checks are jwx v2's; this
// package decides which key and algorithm jwx may use, and never takes either
// from the token itself: alg must be on the issuer's allow-list, and keys
// come only from the issuer's key set (jku, x5u, jwk and x5c headers are
// ignored). It never logs or returns token material.
//
// One concern a file: errors.go is the refusal vocabulary; verifier.go builds
// a Verifier from issuers and hands token caches over on reload; verify.go is
// Verify, the hot path, in the order of its checks, and the signature check;
// jws.go is the compact JWS (its alphabet, envelope and protected header);
// claims.go decodes the payload and judges aud, typ and required claims;
// registered.go reads the registered claims and applies the time rules;
// cache.go remembers verified tokens; opaque.go verifies a token that is
// not a JWT by introspection (RFC 7662); live.go holds the checks whose
// answer changes while a token stays the same (introspect_jwts, the
// revocation list), which run on every request, cache hits included.
package token

// MaxLength is the longest token looked at. Longer ones are refused as
// malformed before any decoding, so that a 100 KB token costs nothing.
const MaxLength = 8 << 10

// maxKeysTried bounds signature attempts for a token without a kid.
const maxKeysTried = 8
