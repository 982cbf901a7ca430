package token

import (
	"context"
	"fmt"
	"slices"
	"strings"

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
// what the answer says the token is (an access token, never a refresh
// token: readKind), the times, the audience and the required claims; then
// the revocation list. The answers are cached by the introspection client, never here.
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
	var kind tokenKind
	if rerr == nil {
		kind, rerr = readKind(claims)
	}
	if rerr != nil {
		// The authorization server's answer is not what RFC 7662 says
		// it is: that is no fault of the client's token.
		return nil, fail(CheckIntrospection, outcome.IntrospectionUnavailable, is.Name, "the introspection answer is malformed: %v", rerr)
	}
	if reg.iss != "" && reg.iss != is.Issuer.Issuer {
		return nil, fail(CheckIssuer, outcome.BadIssuer, is.Name, "the introspection answer names another issuer")
	}
	if kind.member != "" {
		// The reason and check of a JWT whose typ is not accepted, so that
		// the client, the metrics and the logs see the same refusal.
		return nil, fail(CheckType, outcome.BadType, is.Name, "the introspection answer's %s is %.64q: not an access token", kind.member, kind.value)
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

// tokenKind is the member of an introspection answer that says the token
// is not an access token, and what it says; member is "" when none does.
type tokenKind struct{ member, value string }

// readKind reads what an active answer says of the token's kind.
//
// RFC 7662 §2.1's token_type_hint is only a hint: a server answers active
// for any token it issued, whatever it was asked. A refresh token is bound
// to its client, so that a thief of a confidential client's refresh token
// needs the client's secret as well (RFC 6749 §6, §10.4); taken as a bearer
// token it would need nothing, and it outlives every access token. Three
// members say what was asked about:
//
//   - token_use (Ory Hydra, fosite): "access_token" or "refresh_token".
//     Any value but access_token is refused: fosite sends no other for an
//     access token.
//   - token_type: RFC 7662 §2.2 makes it the RFC 6749 §7.1 type of an
//     access token ("Bearer", "DPoP", "N_A"), and some servers name a
//     refresh token's kind there instead. Only a name of another kind of
//     token is refused: refusing an unknown type would refuse real access
//     tokens.
//   - typ (Keycloak): "Bearer" or "DPoP" for access tokens; "Refresh",
//     "Offline" (an offline session's refresh token) and "ID". Only those
//     three are refused, for the same reason.
//
// Values are compared without regard to case, as RFC 6749 §5.1 compares
// token types, and an RFC 8693 §3 token type URI as its last part
// (urn:ietf:params:oauth:token-type:refresh_token is refresh_token). For
// token_use, which has to say access_token, ignoring case only accepts
// other spellings of that one name.
//
// A value that is not a string is an answer whose meaning is unknown, so
// the token is not taken as an access token on it; it is refused as a
// malformed answer, the server's fault like a date that is not a number
// (readRegistered), not as the client's token of the wrong type. null is
// absent, as it is for the registered claims.
func readKind(claims map[string]any) (tokenKind, error) {
	for _, m := range [...]struct {
		name   string
		access bool // the value must say access token, not just not say another kind
	}{{"token_use", true}, {"token_type", false}, {"typ", false}} {
		var v string
		switch x := claims[m.name].(type) {
		case nil:
			continue
		case string:
			v = x
		default:
			return tokenKind{}, fmt.Errorf("%s is not a string", m.name)
		}
		name := strings.TrimPrefix(strings.ToLower(v), "urn:ietf:params:oauth:token-type:")
		if m.access && name != "access_token" || !m.access && notAccess[name] {
			return tokenKind{m.name, v}, nil
		}
	}
	return tokenKind{}, nil
}

// notAccess are the lower-cased token_type and typ values that name a
// token other than an access token.
var notAccess = map[string]bool{
	"refresh_token": true, "refresh": true, "offline": true, // refresh tokens
	"id_token": true, "id": true, // OpenID Connect ID tokens: for the client, never for a resource server
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
