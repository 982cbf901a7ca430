package policy

import (
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/outcome"
)

// Line is one rule's verdict, as portcullis explain shows it.
type Line struct {
	Stage  string `json:"stage"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Explain renders d, the decision Authorize made for r on a token of issuer
// with these claims: the scope rule, then each claim check in Authorize's
// order, up to the one that refused. The verdicts are d's; the claims are
// read only to show what the token holds. It lives beside Authorize so that
// the two read the route's rules alike, as Route.Mismatch does for Match.
func (t *Table) Explain(r *Route, issuer string, claims map[string]any, d Decision) []Line {
	var lines []Line
	if len(r.AllOf) > 0 || len(r.AnyOf) > 0 {
		ok := d.Allowed || d.Reason != outcome.InsufficientScope
		missing := ""
		if len(d.Missing) > 0 {
			missing = "; missing [" + strings.Join(d.Missing, " ") + "]"
		}
		lines = append(lines, Line{"scopes", ok, fmt.Sprintf("all_of [%s] any_of [%s]; token has [%s]%s",
			strings.Join(r.AllOf, " "), strings.Join(r.AnyOf, " "), strings.Join(t.Scopes(issuer, claims), " "), missing)})
		if !ok {
			return lines
		}
	}
	for _, c := range r.Claims {
		failed := !d.Allowed && d.Reason == outcome.ClaimMismatch && d.Claim == c.Path.String()
		v, found := c.Path.Lookup(claims)
		have, hint := "absent", ""
		if found {
			have = JSONText(v)
			if failed {
				hint = claimHint(c, v)
			}
		}
		lines = append(lines, Line{"claim " + c.Path.String(), !failed, fmt.Sprintf("want %s, token has %s%s", c.Want(), have, hint)})
		if failed {
			break
		}
	}
	return lines
}

// claimHint explains a claim check that failed because the claim has the
// other shape: a plain value or one_of against an array claim (what the
// plain form meant before it became exact), or an array operator against a
// scalar claim. validate cannot say this, since it never sees a token.
func claimHint(c ClaimCheck, v any) string {
	_, isArray := v.([]any)
	if _, ok := v.([]string); ok {
		isArray = true
	}
	switch {
	case isArray && c.Op == Equals:
		return fmt.Sprintf(" (an array never equals a value: {contains: %s} is probably what was meant)", JSONText(c.Values[0]))
	case isArray && c.Op == OneOf:
		return fmt.Sprintf(" (one_of passes only a claim that is a single value, never an array: {contains_any: %s} is probably what was meant)", JSONText(c.Values))
	case !isArray && c.Op.Array():
		if _, isObject := v.(map[string]any); isObject {
			return fmt.Sprintf(" (%s checks an array claim; this one is an object)", c.Op)
		}
		return fmt.Sprintf(" (%s checks an array claim; for a claim that is a single value, write the value plainly, or use one_of)", c.Op)
	}
	return ""
}
