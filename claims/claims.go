// Package claims decodes the JSON object that carries a token's claims: a
// JWT's payload (token) or an introspection answer (introspect). Both feed
// the same route policy, claim headers and logs, so both are decoded one
// way, here: one JSON object, numbers kept as json.Number (forwarded and
// compared as written), each a finite float64, nesting at most 32 deep.
//
// It is a package of its own because token imports introspect (an opaque
// token is verified by asking), so neither can own the rule for the other;
// it is a leaf and imports nothing of portcullis. Its errors are fixed
// texts: a decoder's own would quote the claims, which are token material.
package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"time"
)

// MaxDepth is the deepest nesting of arrays and objects accepted.
const MaxDepth = 32

// Why a document is not claims.
var (
	ErrNotObject     = errors.New("not one JSON object")
	ErrTrailingData  = errors.New("trailing data after the JSON object")
	ErrNumberOrDepth = errors.New("a number beyond float64 range, or nesting deeper than 32")
)

// Decode decodes data as one JSON object, keeping numbers as json.Number.
func Decode(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, ErrNotObject
	}
	// Only white space may follow. (dec.More is no test of that: it
	// answers false before a '}' or a ']', so `{"sub":"a"}}` passed.)
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrTrailingData
	}
	if !finite(claims, 0) {
		return nil, ErrNumberOrDepth
	}
	return claims, nil
}

// finite reports whether every number in v is a finite float64 and v nests
// at most MaxDepth deep. RFC 8259 §6 leaves larger numbers to each
// implementation; refusing them means no two readers of the claims (policy,
// upstreams) can take one for different values, and no comparison has to
// reckon with 5e1000000.
func finite(v any, depth int) bool {
	if depth > MaxDepth {
		return false
	}
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return err == nil && !math.IsInf(f, 0)
	case map[string]any:
		for _, e := range x {
			if !finite(e, depth+1) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !finite(e, depth+1) {
				return false
			}
		}
	}
	return true
}

// maxNumericDate bounds NumericDates to what float64 holds exactly; beyond
// it a date is not a date.
const maxNumericDate = 1 << 53

// ErrNotNumericDate: a date claim that is not a JSON number of seconds.
var ErrNotNumericDate = errors.New("not a NumericDate")

// NumericDate reads a NumericDate (RFC 7519 §2, which RFC 7662 §2.2 uses
// too) from a decoded claim: absent or null is no date (ok false); present,
// it must be a JSON number of seconds, read truncated to whole seconds as
// jwx reads it. A string is not a date, whatever it spells.
func NumericDate(v any) (t time.Time, ok bool, err error) {
	if v == nil {
		return time.Time{}, false, nil
	}
	n, isNumber := v.(json.Number)
	if !isNumber {
		return time.Time{}, false, ErrNotNumericDate
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f > maxNumericDate || f < -maxNumericDate {
		return time.Time{}, false, ErrNotNumericDate
	}
	return time.Unix(int64(f), 0), true, nil
}
