package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/outcome"
)

// Authorize applies the route's scope and claim rules to the claims of a token
// verified for issuer (an issuer name). It must be called only for a token
// that has been verified.
//
// Scopes are whole tokens compared byte for byte: "orders:readX" and
// "orders:read:all" do not grant "orders:read", since a substring test would
// let any scope that happens to contain the name pass. Claim checks compare
// type and value: the JSON string "42" is not the number 42, because an
// identity provider that emits one or the other means different things and a
// lenient comparison is a way around the check. For the same reason an
// array never equals a scalar: a plain value passes only a scalar claim, so
// a token whose tenant is ["acme", "other"] (or ["acme"]) does not pass
// `tenant: acme`; what an array claim must hold is said with contains,
// contains_any or contains_all, and one_of never passes an array. Nested
// arrays and objects equal nothing.
//
// Authorize does not check that the issuer is one the route accepts: the
// verifier does, before it trusts the token (token.Verifier.Verify's
// allowed issuers are Route.Issuers). It allocates only for a refusal.
func (t *Table) Authorize(r *Route, issuer string, claims map[string]any) Decision {
	if r == nil {
		return Decision{Reason: outcome.InsufficientScope} // fail closed
	}
	if len(r.need) > 0 {
		var stack [32]bool
		found := stack[:0]
		if len(r.need) <= len(stack) {
			found = stack[:len(r.need)]
		} else {
			found = make([]bool, len(r.need))
		}
		t.eachScope(issuer, claims, func(s string) {
			for i, n := range r.need {
				if n == s {
					found[i] = true
				}
			}
		})
		var missing []string
		for i := range r.nAll {
			if !found[i] {
				missing = append(missing, r.need[i])
			}
		}
		anyOK := len(r.anyIdx) == 0
		for _, i := range r.anyIdx {
			if found[i] {
				anyOK = true
				break
			}
		}
		if !anyOK {
			missing = append(missing, r.AnyOf...)
		}
		if len(missing) > 0 {
			return Decision{Reason: outcome.InsufficientScope, Missing: missing}
		}
	}
	for i := range r.Claims {
		c := &r.Claims[i]
		v, ok := c.Path.Lookup(claims)
		if !ok || !c.matches(v) {
			return Decision{Reason: outcome.ClaimMismatch, Claim: c.Path.String()}
		}
	}
	return Decision{Allowed: true}
}

// Scopes returns the scopes the token carries according to the issuer's
// scope_claims: a space-separated string or an array of strings at each path.
//
// The result is the union over the paths, in order of first appearance and
// without duplicates. Array elements that are not strings are ignored. An
// issuer that is not configured carries no scopes.
func (t *Table) Scopes(issuer string, claims map[string]any) []string {
	var out []string
	t.eachScope(issuer, claims, func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	})
	return out
}

// eachScope calls fn for every scope at the issuer's scope claims, in order,
// duplicates included. A string is split on spaces, and on nothing else:
// RFC 6749 §3.3 separates scope-tokens with %x20, and a scope-token is
// printable ASCII, so a tab, a newline, NBSP or another Unicode space is
// part of one (invalid) scope, never a separator. An identity provider that
// grants patterns of scopes (wildcards, parameterized scopes) would issue
// "orders:x<NBSP>admin" as one scope the client chose; split on any white
// space, it would grant "admin". Such a scope matches no configured one,
// which config.CheckScope keeps to printable ASCII.
func (t *Table) eachScope(issuer string, claims map[string]any, fn func(string)) {
	if t == nil {
		return
	}
	for _, p := range t.scopeClaims[issuer] {
		v, _ := p.Lookup(claims)
		switch x := v.(type) {
		case string:
			for s := range strings.SplitSeq(x, " ") {
				if s != "" {
					fn(s)
				}
			}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok && s != "" {
					fn(s)
				}
			}
		case []string: // not from encoding/json, but cheap to accept
			for _, s := range x {
				if s != "" {
					fn(s)
				}
			}
		}
	}
}

// matches reports whether a claim value meets the check. A value that is
// not the shape the operator names (a scalar for Equals and OneOf, an array
// for the others) never does.
func (c *ClaimCheck) matches(got any) bool {
	switch c.Op {
	case Equals:
		return valueEquals(got, c.Values[0])
	case OneOf:
		return slices.ContainsFunc(c.Values, func(w any) bool { return valueEquals(got, w) })
	case Contains, ContainsAny:
		return slices.ContainsFunc(c.Values, func(w any) bool { return arrayHas(got, w) })
	case ContainsAll:
		for _, w := range c.Values {
			if !arrayHas(got, w) {
				return false
			}
		}
		return true // Compile refuses an empty list
	}
	return false
}

// arrayHas reports whether got is an array one of whose elements equals
// want. Elements are compared as valueEquals does, one level deep: a nested
// array or an object is never equal to a value, and a scalar claim is no
// array.
func arrayHas(got, want any) bool {
	switch a := got.(type) {
	case []any:
		return slices.ContainsFunc(a, func(e any) bool { return valueEquals(e, want) })
	case []string: // not from encoding/json, but cheap to accept
		w, ok := want.(string)
		return ok && slices.Contains(a, w)
	}
	return false
}

// valueEquals compares one claim value with a configured one. Types must
// agree (string, bool or number); numbers compare by value, so the JSON
// number 42 equals the YAML numbers 42 and 42.0. An array or an object
// equals no configured value.
func valueEquals(got, want any) bool {
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	}
	wn, ok := toNumber(want)
	if !ok {
		return false
	}
	if n, ok := got.(json.Number); ok {
		return jsonNumberEquals(string(n), wn)
	}
	gn, ok := toNumber(got)
	return ok && gn.equals(wn)
}

// number is an exact numeric value: an int64, a uint64 above MaxInt64, or a
// float64.
type number struct {
	kind byte // 'i', 'u' or 'f'
	i    int64
	u    uint64
	f    float64
}

func toNumber(v any) (number, bool) {
	switch x := v.(type) {
	case int:
		return number{kind: 'i', i: int64(x)}, true
	case int8:
		return number{kind: 'i', i: int64(x)}, true
	case int16:
		return number{kind: 'i', i: int64(x)}, true
	case int32:
		return number{kind: 'i', i: int64(x)}, true
	case int64:
		return number{kind: 'i', i: x}, true
	case uint:
		return fromUint(uint64(x)), true
	case uint8:
		return fromUint(uint64(x)), true
	case uint16:
		return fromUint(uint64(x)), true
	case uint32:
		return fromUint(uint64(x)), true
	case uint64:
		return fromUint(x), true
	case float32:
		return number{kind: 'f', f: float64(x)}, !math.IsNaN(float64(x))
	case float64:
		return number{kind: 'f', f: x}, !math.IsNaN(x)
	}
	return number{}, false
}

func fromUint(u uint64) number {
	if u <= math.MaxInt64 {
		return number{kind: 'i', i: int64(u)}
	}
	return number{kind: 'u', u: u}
}

func (a number) equals(b number) bool {
	if a.kind == 'f' && b.kind == 'f' {
		return a.f == b.f
	}
	if a.kind == 'f' {
		a, b = b, a
	}
	if b.kind == 'f' {
		// An integer equals a float only when the float is that integer
		// exactly; 2^63 and above do not fit an int64.
		f := b.f
		if f != math.Trunc(f) {
			return false
		}
		if a.kind == 'i' {
			return f >= -(1<<63) && f < 1<<63 && int64(f) == a.i
		}
		return f >= 0 && f < 1<<64 && uint64(f) == a.u
	}
	return a.kind == b.kind && a.i == b.i && a.u == b.u
}

// jsonNumberEquals compares the text of a JSON number with w. Integers are
// compared exactly, a YAML float as float64; a JSON number written with a
// fraction or an exponent against a YAML integer is compared exactly as a
// decimal, so that 42.0 equals 42 but 42.000000000000000001 does not.
func jsonNumberEquals(n string, w number) bool {
	if i, err := strconv.ParseInt(n, 10, 64); err == nil {
		return number{kind: 'i', i: i}.equals(w)
	}
	if u, err := strconv.ParseUint(n, 10, 64); err == nil {
		return fromUint(u).equals(w)
	}
	if w.kind == 'f' {
		f, err := strconv.ParseFloat(n, 64)
		return err == nil && f == w.f
	}
	r, ok := parseDecimal(n)
	if !ok {
		return false
	}
	var wr big.Rat
	if w.kind == 'i' {
		wr.SetInt64(w.i)
	} else {
		wr.SetInt(new(big.Int).SetUint64(w.u))
	}
	return r.Cmp(&wr) == 0
}

// parseDecimal parses a JSON number exactly, refusing exponents that would
// make big.Rat build an enormous power of ten.
func parseDecimal(n string) (*big.Rat, bool) {
	if len(n) > 128 {
		return nil, false
	}
	if i := strings.IndexAny(n, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(n[i+1:], "+"))
		if err != nil || e > 400 || e < -400 {
			return nil, false
		}
	}
	return new(big.Rat).SetString(n)
}

// claimValue checks and normalizes a configured claim value as decoded from
// YAML: a string, a bool, or a finite number.
func claimValue(v any) (any, error) {
	switch x := v.(type) {
	case string, bool:
		return x, nil
	case nil:
		return nil, errors.New("a claim check needs a value (string, number or bool)")
	}
	switch f := v.(type) {
	case float64:
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("a claim check cannot compare with NaN or infinity")
		}
	case float32:
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, errors.New("a claim check cannot compare with NaN or infinity")
		}
	}
	if _, ok := toNumber(v); !ok {
		return nil, fmt.Errorf("a claim check compares a string, a number or a bool, not %T", v)
	}
	return v, nil
}
