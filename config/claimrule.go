package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Claim check operators (auth.claims). A plain value (`tenant: acme`) has
// no operator and is exact; an operator is written as a mapping with one
// key (`groups: {contains: admins}`).
const (
	// ClaimOneOf: the claim is a scalar equal to one of the values. An
	// array claim never passes, not even one holding a single listed value.
	ClaimOneOf = "one_of"
	// ClaimContains: the claim is an array holding the value. A scalar
	// claim never passes, not even one equal to the value.
	ClaimContains = "contains"
	// ClaimContainsAny: the claim is an array holding at least one of the
	// values.
	ClaimContainsAny = "contains_any"
	// ClaimContainsAll: the claim is an array holding every one of the
	// values.
	ClaimContainsAll = "contains_all"
)

// ClaimOperators are the operators a claim check may use, in the order
// messages list them.
var ClaimOperators = []string{ClaimOneOf, ClaimContains, ClaimContainsAny, ClaimContainsAll}

const operatorList = "one_of, contains, contains_any or contains_all"

// ClaimRule is one claim check of auth.claims: what a claim must be for the
// route to accept a token.
//
// Every comparison is of JSON type and value: the string "5" is not the
// number 5, and an array never equals a scalar. That is why a plain value
// is exact: `tenant: acme` once passed a token whose tenant was
// ["acme", "other"], so a token spanning two tenants passed a
// single-tenant route. What an array claim should hold is said with an
// operator.
type ClaimRule struct {
	// Op is "" for a plain value, or one of ClaimOperators.
	Op string
	// Values are the expected values, each a string, a bool or a finite
	// number as YAML decoded it (string, bool, int, uint64 or float64; a
	// quoted "3" stays a string). A plain value and contains have exactly
	// one; the list operators at least one.
	Values []any
}

// ClaimEquals is the plain rule `path: v`.
func ClaimEquals(v any) ClaimRule { return ClaimRule{Values: []any{v}} }

// ClaimRuleOf is the rule `path: {op: vs}` (one value for contains).
func ClaimRuleOf(op string, vs ...any) ClaimRule { return ClaimRule{Op: op, Values: vs} }

// claimOpTakesList reports whether op takes a list of values.
func claimOpTakesList(op string) bool {
	return op == ClaimOneOf || op == ClaimContainsAny || op == ClaimContainsAll
}

// claimRule decodes one auth.claims entry: a scalar, or a mapping with one
// operator. Everything about its shape is checked here, where the nodes
// and their lines are; that a list is not empty is checked by validation.
func (d *decoder) claimRule(n *yaml.Node, r *ClaimRule, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if x, ok := d.claimScalar(n, path); ok {
			*r = ClaimEquals(x)
		}
		return
	case yaml.SequenceNode:
		// The old meaning of an array claim against a plain value was
		// "contains", and a list here would read as "any of" or "all of":
		// say which operators exist rather than guess.
		d.failKey(n, path, CodeWrongType, "a list is not a value, and an array claim never equals one: write {one_of: %s} for a claim that is one of these values, or {contains_any: %[1]s} / {contains_all: %[1]s} for an array claim that holds them", flowList(n))
		return
	}
	if n.Kind != yaml.MappingNode {
		d.failKey(n, path, CodeWrongType, "the expected value must be a string, a number or a boolean, or one operator (%s), not %s", operatorList, describe(n))
		return
	}

	before := len(d.problems)
	entries := d.entries(n, path)
	if len(entries) != 1 {
		// A duplicate or unreadable key has been reported by entries
		// already; a second message about the same mapping would only
		// confuse.
		if !d.aborted && len(d.problems) == before {
			keys := make([]string, len(entries))
			for i, e := range entries {
				keys[i] = e.key
			}
			found := "an empty mapping"
			if len(keys) > 0 {
				found = fmt.Sprintf("%d keys (%s)", len(keys), strings.Join(keys, ", "))
			}
			d.failKey(n, path, CodeWrongType, "an operator mapping has exactly one key (%s), not %s: write one check per claim", operatorList, found)
		}
		d.failed[path] = true
		return
	}
	e := entries[0]
	op := e.key
	fp := joinPath(path, op)
	if !slices.Contains(ClaimOperators, op) {
		d.fail(e.k, fp, CodeUnknownKey, "unknown claim operator %q%s; a claim check compares with a string, a number or a boolean, never with an object", op, suggest(op, ClaimOperators))
		d.failed[path] = true
		return
	}
	d.setLine(fp, e.k.Line)
	v := d.resolve(e.v)
	if v == nil {
		return
	}

	if !claimOpTakesList(op) {
		if v.Kind == yaml.SequenceNode {
			d.failKey(v, fp, CodeWrongType, "%s takes one value, not a list: use contains_any for an array claim holding at least one of them, or contains_all for one holding every one", op)
			return
		}
		if x, ok := d.claimScalar(v, fp); ok {
			*r = ClaimRuleOf(op, x)
		}
		return
	}

	if v.Kind != yaml.SequenceNode {
		hint := ""
		if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
			hint = fmt.Sprintf(" (write [%s] for a list of one)", v.Value)
		}
		d.failKey(v, fp, CodeWrongType, "%s takes a list of strings, numbers or booleans, not %s%s", op, describe(v), hint)
		return
	}
	vals := make([]any, 0, len(v.Content))
	ok := true
	for i, el := range v.Content {
		ep := fmt.Sprintf("%s[%d]", fp, i)
		d.setLine(ep, el.Line)
		if el = d.resolve(el); el == nil {
			return
		}
		x, good := d.claimScalar(el, ep)
		ok = ok && good
		vals = append(vals, x)
	}
	if ok {
		*r = ClaimRuleOf(op, vals...)
	}
}

// failKey is fail for a value that is wrong as a whole, reported at the
// line of its key: a block list or mapping starts on the line after it.
func (d *decoder) failKey(n *yaml.Node, path string, code Code, format string, args ...any) {
	if line, ok := d.lineOf(path); ok {
		n = &yaml.Node{Line: line}
	}
	d.fail(n, path, code, format, args...)
}

// claimScalar reads one expected value: a string, a boolean or a finite
// number. A list or a mapping would have to mean "contains" or "subset",
// which is what the operators are for; NaN never equals anything, and an
// infinity is not a JSON number.
func (d *decoder) claimScalar(n *yaml.Node, path string) (any, bool) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str", "!!timestamp":
			return n.Value, true
		case "!!int", "!!float", "!!bool":
			if n.ShortTag() == "!!int" && !decimalInt(n.Value) {
				d.fail(n, path, CodeInvalid, "%s is not a decimal integer: YAML reads it as %s, a claim is compared with numbers as JSON writes them, in decimal; write the number in decimal, or quote it (\"%[1]s\") for a string claim", n.Value, intReading(n))
				return nil, false
			}
			var x any
			if err := n.Decode(&x); err == nil {
				if f, isFloat := x.(float64); isFloat && (math.IsNaN(f) || math.IsInf(f, 0)) {
					d.fail(n, path, CodeInvalid, "the number %s is not finite: a claim holds JSON numbers, which are", n.Value)
					return nil, false
				}
				return x, true
			}
		}
	}
	d.failKey(n, path, CodeWrongType, "the expected value must be a string, a number or a boolean, not %s", describe(n))
	return nil, false
}

// decimalInt reports whether an integer scalar is written as JSON would
// write it, optionally signed: no leading zero, no 0x, 0o or 0b prefix, no
// '_'. yaml.v3 reads "010" as the octal 8 (YAML 1.2 would read 10), "0x10"
// as 16 and "1_000" as 1000; `org_id: 010`, copied from a padded id,
// would check for org 8, which is neither the number the operator saw nor
// the string "010".
func decimalInt(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if s == "" || s[0] == '0' && len(s) > 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// intReading is how YAML reads an integer scalar, for a message.
func intReading(n *yaml.Node) string {
	var x any
	if err := n.Decode(&x); err != nil {
		return "no number"
	}
	return fmt.Sprint(x)
}

// flowList renders a list node as it could be written in flow style, for
// a hint: [a, b], or [...] when it holds more than scalars.
func flowList(n *yaml.Node) string {
	if len(n.Content) == 0 {
		return "[...]"
	}
	parts := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		e = deref(e)
		if e.Kind != yaml.ScalarNode || len(e.Value) > 40 || len(parts) == 4 {
			return "[...]"
		}
		if plainKey.MatchString(e.Value) {
			parts = append(parts, e.Value)
		} else {
			parts = append(parts, strconv.Quote(e.Value))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
