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
//
// A value that an upstream could read as a bearer credential is judged as
// one: its first word is "Bearer" in any case (RFC 9110 §11.1), or a later
// member of it read as a comma-separated list starts with that word. It is
// well formed only as "Bearer", one or more spaces and one word (RFC 6750
// §2.1: "Bearer" 1*SP b64token; the verifier checks the word's alphabet);
// anything else ("Bearer<TAB>jwt", "Basic x, Bearer jwt", "Bearer jwt,
// Bearer jwt2") is malformed, so that it is refused on an optional route
// too, not forwarded unverified with an anonymous request to an upstream
// that splits on any white space or reads a credential list. Only a value
// with no bearer credential in it (Basic, Digest, DPoP...) is Missing.
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
	v = trimSeparators(v)
	scheme, rest := v, ""
	if i := indexSeparator(v); i >= 0 {
		scheme, rest = v[:i], v[i:]
	}
	if !strings.EqualFold(scheme, "Bearer") {
		if laterBearer(v) {
			return "", &token.Error{Reason: outcome.Malformed, Detail: "a Bearer credential after another in one Authorization header"}
		}
		// Another scheme (Basic, DPoP...) is not a bearer token: for
		// this gateway the request carries none.
		return "", &token.Error{Reason: outcome.Missing}
	}
	if rest != "" && rest[0] != ' ' {
		return "", &token.Error{Reason: outcome.Malformed, Detail: "Bearer followed by other than a space"}
	}
	raw := strings.TrimLeft(rest, " ")
	if raw == "" {
		return "", &token.Error{Reason: outcome.Malformed, Detail: "empty bearer token"}
	}
	if indexSeparator(raw) >= 0 {
		return "", &token.Error{Reason: outcome.Malformed, Detail: "more than one word after Bearer"}
	}
	return raw, nil
}

// separator reports whether c ends a word of an Authorization value for
// some upstream: a space, a tab or a comma (RFC 9110 §5.6), and 0x85 and
// 0xA0, which a server that decodes header bytes as Latin-1 (WSGI, Node)
// passes to code that splits on white space (Python's str.split,
// JavaScript's \s) as NEL and NBSP. net/http's server refuses the other
// control characters in a value.
func separator(c byte) bool {
	switch c {
	case ' ', '\t', ',', 0x85, 0xA0:
		return true
	}
	return false
}

// indexSeparator is the index of the first separator in s, or -1.
func indexSeparator(s string) int {
	for i := 0; i < len(s); i++ {
		if separator(s[i]) {
			return i
		}
	}
	return -1
}

// trimSeparators removes separators around s: optional white space around
// a field value is not part of it (RFC 9110 §5.5; net/http's server trims
// SP and HTAB, other callers may not), and what an upstream would skip
// before a first word the gateway must skip too.
func trimSeparators(s string) string {
	for len(s) > 0 && separator(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && separator(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// laterBearer reports whether a member of v after its first, v read as a
// comma-separated list (RFC 9110 §5.6.1), starts with the word "Bearer".
// Commas inside a quoted string (a Digest parameter) are not told apart:
// an upstream splitting on commas would not tell them apart either, so a
// Digest value with ", Bearer" in a parameter is refused, not forwarded.
// One pass: a value of commas costs what its length does.
func laterBearer(v string) bool {
	for i := 0; i < len(v); {
		if v[i] != ',' {
			i++
			continue
		}
		for i < len(v) && separator(v[i]) {
			i++
		}
		j := i
		for j < len(v) && !separator(v[j]) {
			j++
		}
		if strings.EqualFold(v[i:j], "Bearer") {
			return true
		}
		i = j
	}
	return false
}
