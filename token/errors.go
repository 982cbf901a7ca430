package token

import (
	"fmt"
	"strconv"

	"github.com/portcullis/portcullis/outcome"
)

// Error is a refused token.
type Error struct {
	Reason outcome.Reason
	// Check is the check that refused it; every check before it in
	// Checks passed, and none after it ran.
	Check  Check
	Issuer string // issuer name when known, else ""
	// Detail is for logs: safe text that never contains token material.
	Detail string
	// Opaque: the token was not a JWT and went to introspection; its
	// checks are OpaqueChecks, not Checks.
	Opaque bool
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Detail
}

// Description is the error_description sent to the client: the fixed text
// of the reason's row in the outcome table, so that nothing of the token or
// the key set is reflected.
func (e *Error) Description() string { return outcome.Of(e.Reason).Description }

func fail(c Check, r outcome.Reason, issuer, format string, args ...any) *Error {
	return &Error{Reason: r, Check: c, Issuer: issuer, Detail: fmt.Sprintf(format, args...)}
}

// Check is one of the verifier's checks. Verify runs them in the order of
// Checks and stops at the first that refuses, which it names in
// Error.Check: portcullis explain shows a token's checks from that alone,
// so the order is stated once, here, and TestChecksRunInTheirOrder holds
// verify to it.
type Check uint8

const (
	CheckFormat         Check = iota // a compact JWS, its payload one JSON object with well-typed registered claims
	CheckIssuer                      // iss names a configured issuer that the route accepts
	CheckHeader                      // no crit or b64 extension, no nested token
	CheckAlgorithm                   // alg is on the issuer's allow-list
	CheckType                        // typ is one of the issuer's token_types
	CheckKey                         // the issuer's key set holds a key that fits the token's kid and alg
	CheckSignature                   // that key verifies the signature
	CheckTime                        // exp, nbf and iat, with the clock skew
	CheckAudience                    // the audience claim holds an accepted audience
	CheckRequiredClaims              // every required claim is present
	CheckIntrospection               // the issuer's introspection endpoint says the token is active
	CheckRevocation                  // the issuer's revocation list does not name the token
	numChecks
)

// Checks lists every check of a JWT in the order Verify runs them. The last
// two run only for issuers that have introspect_jwts or a revocation list
// (Verifier.Runs).
func Checks() []Check {
	out := make([]Check, numChecks)
	for i := range out {
		out[i] = Check(i)
	}
	return out
}

// OpaqueChecks lists the checks of a token that is not a JWT, in the order
// Verify runs them: it is asked about first, and the answer's members are
// then judged as a JWT's claims are. Its type is what the answer says the
// token is (token_use, token_type, typ), which must not be a refresh token.
func OpaqueChecks() []Check {
	return []Check{CheckFormat, CheckIntrospection, CheckIssuer, CheckType, CheckTime, CheckAudience, CheckRequiredClaims, CheckRevocation}
}

var checkNames = [numChecks]string{"token format", "issuer", "header", "algorithm", "type", "key", "signature", "time", "audience", "required claims", "introspection", "revocation"}

func (c Check) String() string {
	if c < numChecks {
		return checkNames[c]
	}
	return "check " + strconv.Itoa(int(c))
}
