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
		Issuer:    is.Name,
		Subject:   reg.sub,
		Expiry:    reg.exp,
		Claims:    is.kept(claims),
		Opaque:    true,
		revocable: is.revocable(reg),
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
