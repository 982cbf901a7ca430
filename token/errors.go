package token

import (
	"fmt"
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

func fail(r Reason, issuer, format string, args ...any) *Error {
	return &Error{Reason: r, Issuer: issuer, Detail: fmt.Sprintf(format, args...)}
}
