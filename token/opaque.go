package token

import (
	"context"
	"slices"

	"github.com/portcullis/portcullis/outcome"
)

// opaqueIssuer is the issuer that introspects an opaque token on a route
// accepting allowed (nil: any): the one issuer with introspection among
// them (config refuses routes with more than one), or nil.
func (v *Verifier) opaqueIssuer(allowed []string) *issuer {
	var found *issuer
	for _, is := range v.opaque {
		if allowed != nil && !slices.Contains(allowed, is.Name) {
			continue
		}
		if found != nil {
			return nil
		}
		found = is
	}
	return found
}

// verifyOpaque asks the issuer about a token that is not a JWT and judges
// the answer's members as a JWT's claims: iss (when the answer has one),
// the times, the audience and the required claims; then the revocation
// list. The answers are cached by the introspection client, never here.
func (v *Verifier) verifyOpaque(ctx context.Context, is *issuer, raw string) (*Token, error) {
	if !b64token(raw) {
		return nil, &Error{Reason: outcome.Malformed, Check: CheckFormat, Issuer: is.Name, Opaque: true,
			Detail: "not a bearer token (RFC 6750 §2.1 b64token)"}
	}
	tok, ferr := v.judgeOpaque(ctx, is, raw)
	if ferr != nil {
		ferr.Opaque = true
		return nil, ferr
	}
	return tok, nil
}

func (v *Verifier) judgeOpaque(ctx context.Context, is *issuer, raw string) (*Token, *Error) {
	resp, err := is.Introspection.Introspect(ctx, raw)
	if ferr := is.judgeAnswer(resp, err); ferr != nil {
		return nil, ferr
	}
	claims := resp.Claims
	reg, rerr := readRegistered(claims)
	if rerr == nil {
		rerr = reg.dateErr
	}
	if rerr != nil {
		// The authorization server's answer is not what RFC 7662 says
		// it is: that is no fault of the client's token.
		return nil, fail(CheckIntrospection, outcome.IntrospectionUnavailable, is.Name, "the introspection answer is malformed: %v", rerr)
	}
	if reg.iss != "" && reg.iss != is.Issuer.Issuer {
		return nil, fail(CheckIssuer, outcome.BadIssuer, is.Name, "the introspection answer names another issuer")
	}
	if ferr := is.checkClaims(claims, reg, v.now()); ferr != nil {
		return nil, ferr
	}
	tok := &Token{
		Issuer:  is.Name,
		Subject: reg.sub,
		Expiry:  reg.exp,
		Claims:  is.kept(claims),
		Opaque:  true,
		jti:     reg.jti,
		iat:     reg.iat,
		hasIat:  reg.hasIat,
	}
	if ferr := is.checkRevocation(tok); ferr != nil {
		return nil, ferr
	}
	return tok, nil
}

// b64token reports whether s is an RFC 6750 §2.1 b64token, the only shape
// a bearer token may have: a token of any other shape is never sent on.
func b64token(s string) bool {
	i := len(s)
	for i > 0 && s[i-1] == '=' {
		i--
	}
	if i == 0 {
		return false
	}
	for _, c := range []byte(s[:i]) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	return true
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
	claims, err := decodeClaims(msg.Payload())
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
	if ferr := is.checkHeader(hdr); ferr != nil {
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
		jti:        reg.jti,
		iat:        reg.iat,
		hasIat:     reg.hasIat,
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
