package token

import (
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/outcome"
)

// audienceAccepted reports whether an audience claim holds one of want.
// The claim is read the way RFC 7519 §4.1.3 defines aud: one string, or an
// array of strings. Any other shape (a number, an object, an array holding
// a non-string) is not an audience at all, so it matches nothing rather
// than being coerced into one. It does not allocate: it runs on every
// verification.
func audienceAccepted(v any, want []string) bool {
	switch x := v.(type) {
	case string:
		return slices.Contains(want, x)
	case []any:
		found := false
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return false
			}
			found = found || slices.Contains(want, s)
		}
		return found
	}
	return false
}

// normalType folds a typ value for comparison (RFC 9068 §2.1, RFC 7515
// §4.1.9): case-insensitive, "application/" optional.
func normalType(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}

// checkClaims applies the issuer's claim rules to a payload whose signature
// has verified: the time claims with the clock skew, the audience, and the
// required claims.
func (is *issuer) checkClaims(claims map[string]any, reg registered, now time.Time) *Error {
	if err := reg.inTime(now, is.ClockSkew); err != nil {
		err.Issuer = is.Name
		return err
	}
	if len(is.Audiences) > 0 {
		// Read from the claims rather than jwx's Audience(), because the
		// claim is configurable: Cognito's access tokens carry no aud and
		// name their app client in client_id.
		name := is.AudienceClaim
		if name == "" {
			name = "aud"
		}
		if !audienceAccepted(claims[name], is.Audiences) {
			return fail(CheckAudience, outcome.BadAudience, is.Name, "%.64s contains none of the accepted audiences", name)
		}
	}
	for _, name := range is.RequiredClaims {
		if c, ok := claims[name]; !ok || c == nil {
			return fail(CheckRequiredClaims, outcome.MissingClaim, is.Name, "required claim %q is absent", name)
		}
	}
	return nil
}
