package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/claims"
	"github.com/portcullis/portcullis/outcome"
)

// registered are the registered claims (RFC 7519 §4.1) the verifier judges,
// read once from the decoded payload: decoding it a second time through
// jwx's token type cost as much CPU as the RSA check. The rules are jwx's
// (whole seconds, the skew on each side), with two differences that close
// holes: a NumericDate must be a JSON number (jwx also reads strings as
// dates), and an exp at the epoch is a date like any other (jwx reads it as
// no exp, so {"exp":0} would never expire).
type registered struct {
	iss, sub, jti          string
	exp, nbf, iat          time.Time // whole seconds
	hasExp, hasNbf, hasIat bool
	// dateErr is a NumericDate that is not one. It is reported only once
	// the signature has verified, like every other judgement of claims.
	dateErr error
}

func readRegistered(claims map[string]any) (registered, error) {
	var r registered
	var err error
	for _, c := range [...]struct {
		name string
		dst  *string
	}{{"iss", &r.iss}, {"sub", &r.sub}, {"jti", &r.jti}} {
		switch v := claims[c.name].(type) {
		case nil:
		case string:
			if c.dst != nil {
				*c.dst = v
			}
		default:
			return r, fmt.Errorf("%s is not a string", c.name)
		}
	}
	switch v := claims["aud"].(type) {
	case nil, string:
	case []any:
		for _, a := range v {
			if _, ok := a.(string); !ok {
				return r, errors.New("aud is not a string or an array of strings")
			}
		}
	default:
		return r, errors.New("aud is not a string or an array of strings")
	}
	if r.exp, r.hasExp, err = numericDate(claims, "exp"); err != nil {
		r.dateErr = err
	}
	if r.nbf, r.hasNbf, err = numericDate(claims, "nbf"); err != nil && r.dateErr == nil {
		r.dateErr = err
	}
	if r.iat, r.hasIat, err = numericDate(claims, "iat"); err != nil && r.dateErr == nil {
		r.dateErr = err
	}
	return r, nil
}

// numericDate reads the NumericDate claim name, naming it in its error.
func numericDate(c map[string]any, name string) (time.Time, bool, error) {
	t, ok, err := claims.NumericDate(c[name])
	if err != nil {
		return t, ok, fmt.Errorf("%s is %w", name, err)
	}
	return t, ok, nil
}

// inTime applies exp, nbf and iat at now with skew of leeway each way.
func (r registered) inTime(now time.Time, skew time.Duration) *Error {
	if r.dateErr != nil {
		return fail(CheckTime, outcome.Malformed, "", "%v", r.dateErr)
	}
	now = now.Truncate(time.Second)
	if r.hasExp && !now.Before(r.exp.Add(skew)) {
		return fail(CheckTime, outcome.Expired, "", "exp is in the past beyond the allowed skew")
	}
	if r.hasNbf && now.Add(skew).Before(r.nbf) {
		return fail(CheckTime, outcome.NotYetValid, "", "nbf is in the future beyond the allowed skew")
	}
	if r.hasIat && now.Add(skew).Before(r.iat) {
		return fail(CheckTime, outcome.NotYetValid, "", "iat is in the future beyond the allowed skew")
	}
	return nil
}
