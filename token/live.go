package token

import (
	"context"
	"errors"

	"github.com/portcullis/portcullis/introspect"
	"github.com/portcullis/portcullis/outcome"
)

// stillValid runs the checks of a verified JWT that no cache may skip,
// because their answers change while the token stays the same: its
// introspection (introspect_jwts) and the revocation list.
func (is *issuer) stillValid(ctx context.Context, raw string, tok *Token) (*Token, error) {
	if is.IntrospectJWTs {
		resp, err := is.Introspection.Introspect(ctx, raw)
		if ferr := is.judgeAnswer(resp, err); ferr != nil {
			return nil, ferr
		}
	}
	if ferr := is.checkRevocation(tok); ferr != nil {
		return nil, ferr
	}
	return tok, nil
}

// judgeAnswer turns an introspection's failure or inactive answer into a
// refusal.
func (is *issuer) judgeAnswer(resp introspect.Response, err error) *Error {
	switch {
	case errors.Is(err, introspect.ErrMalformed):
		return fail(CheckFormat, outcome.Malformed, is.Name, "not a token the issuer could have issued")
	case err != nil:
		// The endpoint's errors name a status and a sanitized snippet,
		// never the token or the client's secret.
		return fail(CheckIntrospection, outcome.IntrospectionUnavailable, is.Name, "%v", err)
	case !resp.Active:
		return fail(CheckIntrospection, outcome.Inactive, is.Name, "the introspection endpoint says the token is not active")
	}
	return nil
}

// checkRevocation refuses a token the issuer's revocation list names, and
// every token of the issuer while its list has never loaded.
func (is *issuer) checkRevocation(tok *Token) *Error {
	switch {
	case is.Revocation == nil:
		return nil
	case !is.Revocation.Ready():
		return fail(CheckRevocation, outcome.RevocationUnavailable, is.Name, "the revocation list has not loaded")
	}
	// A token without its revocation facts (none is made so by this
	// issuer, but a list must not be skipped on a guess) has no jti and
	// no iat: a sub entry then revokes it.
	var r revocable
	if tok.revocable != nil {
		r = *tok.revocable
	}
	if is.Revocation.Revoked(r.jti, tok.Subject, r.iat, r.hasIat) {
		return fail(CheckRevocation, outcome.Revoked, is.Name, "the revocation list names the token")
	}
	return nil
}

// revocable keeps what the revocation list needs of a token, when the
// issuer has a list.
func (is *issuer) revocable(reg registered) *revocable {
	if is.Revocation == nil {
		return nil
	}
	return &revocable{jti: reg.jti, iat: reg.iat, hasIat: reg.hasIat}
}
