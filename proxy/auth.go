package proxy

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/token"
)

// authentication is what authenticate decided: no reason means go on, with
// the decision (allowed or anonymous); a reason is looked up in the outcome
// table for its status, challenge and decision.
type authentication struct {
	bearer   Bearer
	tok      *token.Token
	err      *token.Error // the bearer header's or the verifier's refusal
	authz    policy.Decision
	decision string
	reason   outcome.Reason
	issuer   string
	scope    string // required scopes, for insufficient_scope
}

// authenticate runs bearer extraction, verification and authorization for
// one matched route.
func (rt *Runtime) authenticate(r *http.Request, route *policy.Route) authentication {
	if route.Mode == policy.Public {
		return authentication{bearer: BearerNotRead, decision: outcome.Anonymous}
	}
	raw, err := bearer(r.Header)
	switch {
	case err != nil && err.Reason == outcome.Missing && route.Mode == policy.Optional:
		return authentication{bearer: BearerNone, decision: outcome.Anonymous}
	case err != nil && err.Reason == outcome.Missing:
		return authentication{bearer: BearerNone, reason: outcome.Missing}
	case err != nil:
		return authentication{bearer: BearerMalformed, err: err, reason: err.Reason}
	}
	tok, verr := rt.verifier.Verify(r.Context(), raw, route.Issuers)
	if verr != nil {
		err := asTokenError(verr)
		return authentication{bearer: BearerPresent, err: err, reason: err.Reason, issuer: err.Issuer}
	}
	d := rt.table.Authorize(route, tok.Issuer, tok.Claims)
	a := authentication{bearer: BearerPresent, tok: tok, authz: d, decision: outcome.Allowed}
	if !d.Allowed {
		a.reason, a.issuer, a.scope = d.Reason, tok.Issuer, requiredScope(route)
	}
	return a
}

func asTokenError(err error) *token.Error {
	var te *token.Error
	if errors.As(err, &te) {
		return te
	}
	return &token.Error{Reason: outcome.Malformed, Detail: "verification failed"}
}

// requiredScope is the scope attribute of an insufficient_scope challenge
// (RFC 6750 §3): the all_of scopes, or the any_of ones when all_of is empty.
func requiredScope(r *policy.Route) string {
	if len(r.AllOf) > 0 {
		return strings.Join(r.AllOf, " ")
	}
	return strings.Join(r.AnyOf, " ")
}

// bearer extracts the token from the one Authorization header (RFC 6750
// §2.1). A token is never read from the query string or a form body (§2.2,
// §2.3): those end up in logs and caches.
func bearer(h http.Header) (string, *token.Error) {
	vals := h.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", &token.Error{Reason: outcome.Missing}
	case 1:
	default:
		return "", &token.Error{Reason: outcome.Malformed, Detail: "more than one Authorization header"}
	}
	v := vals[0]
	if len(v) > token.MaxLength+len("Bearer ") {
		return "", &token.Error{Reason: outcome.Malformed, Detail: "Authorization header too long"}
	}
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme (Basic, DPoP...) is not a bearer token: for
		// this gateway the request carries none.
		return "", &token.Error{Reason: outcome.Missing}
	}
	raw := strings.Trim(rest, " \t")
	if raw == "" {
		return "", &token.Error{Reason: outcome.Malformed, Detail: "empty bearer token"}
	}
	return raw, nil
}
