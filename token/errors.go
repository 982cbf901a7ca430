package token

import (
	"fmt"
	"strconv"
)

// Reason is why a token was refused; the values are the contract's metric
// label values, so they must never change.
type Reason string

const (
	Missing      Reason = "missing"
	Malformed    Reason = "malformed"
	BadSignature Reason = "bad_signature"
	UnknownKey   Reason = "unknown_key"
	BadAlgorithm Reason = "bad_algorithm"
	Expired      Reason = "expired"
	NotYetValid  Reason = "not_yet_valid"
	BadIssuer    Reason = "bad_issuer"
	BadAudience  Reason = "bad_audience"
	BadType      Reason = "bad_type"
	MissingClaim Reason = "missing_claim"
	// KeysUnavailable is not the client's fault: the issuer's key set has
	// never been loaded (the IdP has been unreachable since start). The
	// gateway answers 503 and does not count it as an auth failure.
	KeysUnavailable Reason = "keys_unavailable"
)

// Error is a refused token.
type Error struct {
	Reason Reason
	// Check is the check that refused it; every check before it in
	// Checks passed, and none after it ran.
	Check  Check
	Issuer string // issuer name when known, else ""
	// Detail is for logs: safe text that never contains token material.
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Detail
}

// Description is the error_description sent to the client: fixed text per
// reason, so that nothing of the token or the key set is reflected.
func (e *Error) Description() string {
	switch e.Reason {
	case Missing:
		return "a bearer token is required"
	case Malformed:
		return "the token is malformed"
	case BadSignature:
		return "the token signature is invalid"
	case UnknownKey:
		return "the token is signed by an unknown key"
	case BadAlgorithm:
		return "the token's signing algorithm is not accepted"
	case Expired:
		return "the token has expired"
	case NotYetValid:
		return "the token is not valid yet"
	case BadIssuer:
		return "the token's issuer is not accepted"
	case BadAudience:
		return "the token's audience is not accepted"
	case BadType:
		return "the token's type is not accepted"
	case MissingClaim:
		return "the token lacks a required claim"
	case KeysUnavailable:
		return "the issuer's signing keys are not available yet"
	}
	return "the token is invalid"
}

func fail(c Check, r Reason, issuer, format string, args ...any) *Error {
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
	numChecks
)

// Checks lists every check in the order Verify runs them.
func Checks() []Check {
	out := make([]Check, numChecks)
	for i := range out {
		out[i] = Check(i)
	}
	return out
}

var checkNames = [numChecks]string{"token format", "issuer", "header", "algorithm", "type", "key", "signature", "time", "audience", "required claims"}

func (c Check) String() string {
	if c < numChecks {
		return checkNames[c]
	}
	return "check " + strconv.Itoa(int(c))
}
